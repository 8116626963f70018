"""The Grid Engine lab adapter without daemons: #$ directives, the qrsh argv and what it prints,
memory values and complexes, the queue walltime check, refusal hints and walltime ends."""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path

import pytest

from pangeo_hpc_ext.cli.lab.adapters import detect
from pangeo_hpc_ext.cli.lab.adapters.sge import (
    SGELab,
    memory_value_bytes,
    parse_complexes,
    resource_items,
)
from pangeo_hpc_ext.cli.lab.script import job_script
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.schedulers.sge_output import parse_qacct, parse_queue_configs
from tests.unit.test_lab_script import executables, options

RECORDED = Path(__file__).parent / "recorded" / "sge"

# What SGE 8.1.9's `stdbuf -oL qrsh -now no -verbose ...` printed here, in this order.
QRSH_WAITING = """Your job 29 ("pangeo-hpc-lab") has been submitted
waiting for interactive job to be scheduled ...
"""
QRSH_RUNNING = QRSH_WAITING + (
    "Your interactive job 29 has been successfully scheduled.\n"
    "Establishing builtin session to host vm ...\n"
)
QRSH_REFUSED = 'Unable to run job: Job was rejected because job requests unknown queue "x.q"\n'

# `qconf -sc` of SGE 8.1.9 (a few of its lines).
QCONF_SC = """#name               shortcut   type      relop requestable consumable default  urgency
#--------------------------------------------------------------------------------------
arch                a          STRING    ==    YES         NO         NONE     0
h_rt                h_rt       TIME      <=    YES         NO         0:0:0    0
h_vmem              h_vmem     MEMORY    <=    YES         NO         0        0
mem_free            mf         MEMORY    <=    YES         NO         0        0
slots               s          INT       <=    YES         YES        1        1000
# >#< starts a comment but comments are not saved across edits --------
"""


def test_job_script_directives_per_slot_in_grid_engines_units(tmp_path: Path) -> None:
    session = tmp_path / "session-1"
    script = job_script(SGELab(), options(queue="all.q"), session, session / "job.log")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert lines[1:11] == [
        "#$ -N pangeo-hpc-lab",
        "#$ -V",  # the submitting shell's environment, as LSF and Slurm jobs get it
        "#$ -q all.q",
        "#$ -pe smp 2",
        "#$ -l h_vmem=9537M",  # 20 GB over 2 slots: 10e9 bytes per slot, MiB rounded up
        "#$ -l h_rt=01:30:00",
        "#$ -S /bin/bash",  # not the queue's shell
        "#$ -j y",
        f"#$ -o {session}/job.log",
        "",
    ]
    exec_line = shlex.split(lines[-1])
    assert exec_line[-2:] == ["--host-variable", "HOSTNAME"]


def test_one_core_asks_no_parallel_environment_and_memory_only_when_asked(
    tmp_path: Path,
) -> None:
    script = job_script(SGELab(), options(cores=1, memory_bytes=10**9), tmp_path, tmp_path)
    assert "-pe" not in script and "#$ -l h_vmem=954M" in script
    bare = job_script(SGELab(), options(queue=None, memory_bytes=None), tmp_path, tmp_path)
    assert "#$ -q" not in bare and "h_vmem" not in bare


def test_interactive_job_is_qrsh_waiting_in_the_queue(tmp_path: Path) -> None:
    argv = SGELab().interactive_argv(options(), tmp_path / "job.sh")
    assert argv == [
        *("stdbuf", "-oL"),  # qrsh's job id line is printed at once, not when it exits
        *("qrsh", "-now", "no", "-verbose"),
        *("-N", "pangeo-hpc-lab", "-V", "-q", "interactive", "-pe", "smp", "2"),
        *("-l", "h_vmem=9537M", "-l", "h_rt=01:30:00"),
        *("/bin/bash", str(tmp_path / "job.sh")),
    ]
    assert "-o" not in argv and "-S" not in argv  # the output is qrsh's own


@pytest.mark.parametrize(
    ("output", "job_id"),
    [(QRSH_WAITING, "29"), (QRSH_RUNNING, "29"), (QRSH_REFUSED, None), ("", None)],
)
def test_the_job_id_is_read_from_what_qrsh_prints(output: str, job_id: str | None) -> None:
    found = SGELab().interactive_submission(output)
    assert (found.job_id if found else None) == job_id


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4G", 4 * 2**30),
        ("4g", 4 * 10**9),
        ("1.5G", int(1.5 * 2**30)),
        ("954M", 954 * 2**20),
        ("2048", 2048),
        ("1T", 2**40),
        ("4GB", None),  # qsub: 'attribute "h_vmem" is not a memory value'
        ("1500MB", None),
        ("", None),
    ],
)
def test_memory_values_as_qsub_reads_them(text: str, size: int | None) -> None:
    assert memory_value_bytes(text) == size


def test_complexes_by_name_and_shortcut() -> None:
    complexes = parse_complexes(QCONF_SC)
    assert complexes["h_vmem"].type == "MEMORY" and complexes["h_vmem"].requestable
    assert complexes["mf"] is complexes["mem_free"]
    assert complexes["slots"].consumable and not complexes["h_vmem"].consumable
    assert "#name" not in complexes and ">#<" not in complexes


def test_resource_lists_split_into_name_value_pairs() -> None:
    assert resource_items("h_vmem=4G, h_rt=1:00:00,gpu") == [
        ("h_vmem", "4G"),
        ("h_rt", "1:00:00"),
        ("gpu", ""),
    ]


def test_walltime_above_a_queue_limit_is_caught_before_qsub() -> None:
    queues = parse_queue_configs((RECORDED / "qconf_sq_short.txt").read_text())
    lab = SGELab()
    problem = lab.queue_limit_problem(queues, options(queue="short.q", walltime_minutes=60))
    assert problem is not None
    assert "--walltime 01:00 is above the 00:05 limit of queue short.q" in problem
    assert "`qconf -sq short.q`" in problem
    assert lab.queue_limit_problem(queues, options(queue="short.q", walltime_minutes=5)) is None
    # No -q: Grid Engine picks a queue the job fits in; none is the default.
    assert lab.queue_limit_problem(queues, options(queue=None, walltime_minutes=600)) is None


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ((RECORDED / "qsub_unknown_queue.stderr").read_text(), "`qconf -sql` lists the queues"),
        (
            'Unable to run job: job rejected: the requested parallel environment "smp" does '
            "not exist",
            "`qconf -spl`",
        ),
        ('Unable to run job: attribute "h_vmem" is not a memory value', "`qconf -sc`"),
        ("something else", ""),
    ],
)
def test_qsub_refusals_come_with_a_hint(error: str, hint: str) -> None:
    said = SGELab().refusal_hint(error)
    assert hint in said and bool(said) == bool(hint)


def test_walltime_end_needs_both_the_h_rt_failure_and_the_time_run() -> None:
    # Accounting's failed 37 names h_rt, h_cpu and h_vmem alike.
    ended = parse_qacct((RECORDED / "qacct_h_rt.txt").read_text())["4"]
    assert ended.started is not None
    started = datetime.fromisoformat(ended.started).timestamp()
    lab = SGELab()
    assert lab.reached_walltime(ended, "", 5, now=started + 5 * 60 + 2)
    assert not lab.reached_walltime(ended, "", 30, now=started + 60)  # a memory kill
    assert lab.reached_walltime(ended, "")  # without the walltime: the accounting's word
    assert not lab.reached_walltime(JobInfo("4", JobState.FAILED, "z", reason="exit 1"), "", 5)


def test_grid_engine_is_told_from_pbs_by_qconf(tmp_path: Path) -> None:
    assert detect(executables(tmp_path / "sge", "qsub", "qconf")) == "sge"
    # PBS/Torque (or Slurm's qsub wrapper) has qsub but no qconf.
    assert detect(executables(tmp_path / "pbs", "qsub", "qstat")) is None
    assert detect(executables(tmp_path / "both", "sbatch", "qconf")) == "slurm"
