"""The Slurm lab adapter without daemons: #SBATCH directives, the srun argv and what srun prints,
--mem units, the partition walltime check, refusal hints and walltime ends."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from pangeo_hpc_ext.cli.lab.adapters import adapter_for, detect
from pangeo_hpc_ext.cli.lab.adapters.slurm import SlurmLab, memory_mib, sbatch_mem_mib
from pangeo_hpc_ext.cli.lab.script import job_script
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.schedulers.slurm import parse_sinfo
from tests.unit.test_lab_script import executables, options

RECORDED = Path(__file__).parent / "recorded" / "slurm"

# What Slurm 22.05's `srun -v` printed here (stderr): a job that waited, and one that did not.
SRUN_QUEUED = """srun: defined options
srun: -------------------- --------------------
srun: mem                 : 100
srun: end of defined options
srun: job 135 queued and waiting for resources
"""
SRUN_AT_ONCE = """srun: end of defined options
srun: jobid 133: nodes(1):`vm', cpu counts: 1(x1)
srun: launching StepId=133.0 on host vm, 1 tasks: 0
"""
SRUN_REFUSED = "srun: error: Unable to allocate resources: Invalid partition name specified\n"


def test_job_script_directives_in_slurms_units(tmp_path: Path) -> None:
    session = tmp_path / "session-1"
    script = job_script(SlurmLab(), options(), session, session / "job.log")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert lines[1:9] == [
        "#SBATCH --job-name=pangeo-hpc-lab",
        "#SBATCH --partition=interactive",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=19074M",  # 20 GB = 20e9 bytes, in MiB rounded up
        "#SBATCH --time=01:30:00",
        f"#SBATCH --output={session}/job.log",
    ]
    exec_line = shlex.split(lines[-1])
    assert exec_line[-2:] == ["--host-variable", "SLURMD_NODENAME"]


def test_partition_and_memory_are_left_to_slurm_when_not_asked(tmp_path: Path) -> None:
    script = job_script(SlurmLab(), options(queue=None, memory_bytes=None), tmp_path, tmp_path)
    assert "--partition" not in script and "--mem" not in script
    assert "#SBATCH --time=01:30:00" in script


def test_interactive_job_is_srun_with_the_same_options_as_words(tmp_path: Path) -> None:
    argv = SlurmLab().interactive_argv(options(memory_bytes=None), tmp_path / "job.sh")
    assert argv == [
        "srun",
        "-v",  # without it srun names the job only when it has to wait
        "--job-name=pangeo-hpc-lab",
        "--partition=interactive",
        *("--nodes=1", "--ntasks=1", "--cpus-per-task=2", "--time=01:30:00"),
        *("/bin/bash", str(tmp_path / "job.sh")),
    ]
    assert not any(word.startswith("--output") for word in argv)  # the output is srun's


@pytest.mark.parametrize(
    ("output", "job_id"),
    [(SRUN_QUEUED, "135"), (SRUN_AT_ONCE, "133"), (SRUN_REFUSED, None), ("", None)],
)
def test_the_job_id_is_read_from_what_srun_prints(output: str, job_id: str | None) -> None:
    found = SlurmLab().interactive_submission(output)
    assert (found.job_id if found else None) == job_id
    if found:
        assert found.announcement() == f"Job <{job_id}> is submitted."


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("4G", 4096),
        ("4GB", 4096),  # sbatch takes a B after the letter and still means GiB
        ("4gb", 4096),
        ("4000", 4000),  # no letter: MiB
        ("512K", 1),
        ("1T", 1024**2),
        ("1.5G", None),  # refused by sbatch: "Invalid --mem specification"
        ("4GiB", None),
        ("4B", None),
    ],
)
def test_mem_values_as_sbatch_reads_them(text: str, mib: int | None) -> None:
    assert sbatch_mem_mib(text) == mib


def test_memory_rounds_up_to_whole_mib() -> None:
    assert memory_mib(10**9) == 954
    assert memory_mib(2**30) == 1024
    assert memory_mib(2**30 + 1) == 1025


def test_walltime_above_a_partition_limit_is_caught_before_sbatch() -> None:
    partitions = parse_sinfo((RECORDED / "sinfo_partitions.txt").read_text())
    lab = SlurmLab()
    # short has MaxTime 5:00; debug (the default) is unlimited.
    problem = lab.queue_limit_problem(partitions, options(queue="short", walltime_minutes=90))
    assert problem is not None
    assert "--walltime 01:30 is above the 00:05 limit of partition short" in problem
    assert "`sinfo -s`" in problem
    assert lab.queue_limit_problem(partitions, options(queue="short", walltime_minutes=5)) is None
    assert lab.queue_limit_problem(partitions, options(queue=None, walltime_minutes=900)) is None
    # An unknown partition is sbatch's to refuse, in its own words.
    assert lab.queue_limit_problem(partitions, options(queue="nosuch")) is None


def test_the_default_partition_limit_counts_when_no_queue_is_given() -> None:
    partitions = parse_sinfo("normal*|up|2:00:00|8|64000\nlong|up|7-00:00:00|8|64000\n")
    problem = SlurmLab().queue_limit_problem(partitions, options(queue=None, walltime_minutes=180))
    assert problem is not None and "limit of partition normal" in problem


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (
            (RECORDED / "sbatch_invalid_partition.stderr").read_text(),
            "`sinfo -s` lists the partitions",
        ),
        ("Batch job submission failed: Requested time limit is invalid", "shorter --walltime"),
        ("sbatch: error: Memory specification can not be satisfied", "less --memory"),
        ("Requested node configuration is not available", "less --memory"),
        ("something else", ""),
    ],
)
def test_sbatch_refusals_come_with_a_hint(error: str, hint: str) -> None:
    said = SlurmLab().refusal_hint(error)
    assert hint in said and bool(said) == bool(hint)


def test_walltime_end_is_read_from_timeout_or_slurmstepds_line() -> None:
    lab = SlurmLab()
    assert lab.reached_walltime(JobInfo("9", JobState.FAILED, "TIMEOUT", reason="TIMEOUT"), "")
    tail = (
        "slurmstepd: error: *** JOB 9 ON vm CANCELLED AT 2026-12-01T05:00:00 DUE TO TIME LIMIT ***"
    )
    assert lab.reached_walltime(None, tail)
    assert not lab.reached_walltime(JobInfo("9", JobState.FAILED, "FAILED"), "exit 1")


def test_slurm_is_detected_after_lsf(tmp_path: Path) -> None:
    assert detect(executables(tmp_path / "slurm", "sbatch", "squeue")) == "slurm"
    assert detect(executables(tmp_path / "both", "bsub", "sbatch")) == "lsf"
    lab = adapter_for("slurm")
    assert lab.missing(path=str(tmp_path / "slurm")) == ["scancel"]
    assert lab.missing(lab.lab_commands + lab.interactive_commands, str(tmp_path)) == [
        *("sbatch", "squeue", "scancel", "srun")
    ]
