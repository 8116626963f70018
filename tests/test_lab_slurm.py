"""`pangeo-hpc lab/status/stop/doctor` against the real Slurm daemons of .ci/slurm.sh, with real
JupyterLab processes bound to 127.0.0.1. Skipped when Slurm is not here, unless
PANGEO_HPC_REQUIRE_SLURM=1."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pangeo_hpc_ext.paths import free_port
from tests.support.lab_cli import (
    SchedulerLab,
    announced,
    answers_only_with_its_token,
    doctor_table,
    ended,
    fails_only,
    interactive_ends_with_stop,
    lab_env,
    only_commands,
    refused_before_submitting,
    require_daemon,
    slurm_problem,
    start_interactive_lab,
    status_of,
    tidy,
    wait_for,
    with_setting,
)
from tests.test_doctor import ENABLED, doctor, user_setup

JOB_NAME = "pangeo-hpc-lab"


class SlurmLab(SchedulerLab):
    cancel_command = "scancel"

    def squeue(self, job_id: str, *states: str) -> dict[str, str]:
        """The job as squeue lists it (only pending and running jobs unless states say more)."""
        argv = ["squeue", "-h", "-j", job_id, "-o", "%i|%T|%N|%P"]
        if states:
            argv[1:1] = ["-t", ",".join(states)]
        out = self.command(*argv).stdout.strip()
        if not out:
            return {}
        job, state, nodes, partition = out.split("|")
        return {"job": job, "state": state, "nodes": nodes, "partition": partition}

    def our_jobs(self) -> set[str]:
        out = self.command("squeue", "-h", "-n", JOB_NAME, "-o", "%i").stdout
        return set(out.split())

    def scontrol(self, job_id: str) -> dict[str, str]:
        text = self.command("scontrol", "show", "job", job_id).stdout
        return dict(re.findall(r"(\w+)=(\S*)", text))


@pytest.fixture
def slurm(tmp_path: Path) -> Iterator[SlurmLab]:
    require_daemon(slurm_problem(), "PANGEO_HPC_REQUIRE_SLURM")
    yield from tidy(SlurmLab(env=lab_env(tmp_path / "state"), state_dir=tmp_path / "state"))


def test_interactive_lab_on_slurm_is_held_by_srun_and_ends_with_stop(slurm: SlurmLab) -> None:
    reader, lab = start_interactive_lab(slurm, "slurm")
    # The job is srun's own allocation: srun is this command's child, holding it.
    srun = [p for p in psutil.Process(reader.proc.pid).children() if p.name() == "srun"]
    assert len(srun) == 1, reader.text
    assert slurm.squeue(lab.job_id)["state"] == "RUNNING"
    status = status_of(slurm, lab, "slurm", "RUNNING")
    assert status["interactive"] is True

    interactive_ends_with_stop(slurm, reader, status, srun[0])


def test_interactive_lab_from_a_terminal_keeps_it_and_ends_with_ctrl_c(slurm: SlurmLab) -> None:
    # A user runs `lab --interactive` in a terminal. The terminal is the CLI's: it shows the
    # progress, URL and tunnel line, and its Ctrl-C ends the job. srun holds the allocation
    # without a pseudo-terminal (no --pty): JupyterLab's output goes to the session log that
    # `lab` reads for the URL, and a --pty srun would only say it disregards it.
    terminal = slurm.cli_in_terminal(
        *("lab", "--scheduler", "slurm", "--interactive", "--walltime", "00:30"),
        *("--ip", "127.0.0.1", "--port", str(free_port())),
    )
    before = terminal.settings()
    terminal.reader.expect("This terminal holds the interactive job")
    lab = announced(terminal.reader.text)
    answers_only_with_its_token(lab)
    (srun,) = [p for p in psutil.Process(terminal.reader.proc.pid).children() if p.name() == "srun"]
    assert "--pty" not in srun.cmdline()
    status = status_of(slurm, lab, "slurm", "RUNNING")
    log = Path(status["log"])
    assert {os.readlink(f"/proc/{srun.pid}/fd/{fd}") for fd in (0, 1, 2)} == {
        os.devnull,
        str(log),
    }
    assert "pseudo-terminal" not in log.read_text(errors="replace")
    assert terminal.settings() == before  # echo and line editing as the user left them

    terminal.type(b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground process group
    assert terminal.reader.finish() == 130, terminal.reader.text
    assert f"interrupted: killed job {lab.job_id} (it was RUNNING)" in terminal.reader.text
    assert slurm.squeue(lab.job_id, "all")["state"] == "CANCELLED"
    wait_for(lambda: ended(srun), f"the end of srun {srun.pid}")
    assert json.loads(slurm.cli("status", "--json").stdout)["server"] == "none"


def test_walltime_above_the_partition_limit_is_refused_before_submitting(
    slurm: SlurmLab,
) -> None:
    # .ci/slurm.sh's `short` partition has MaxTime=5 (minutes). Without EnforcePartLimits sbatch
    # would accept the job and leave it pending for ever.
    said = refused_before_submitting(slurm, "slurm", "--queue", "short", "--walltime", "01:00")
    assert "--walltime 01:00 is above the 00:05 limit of partition short" in said
    assert "`sinfo -s`" in said


def test_unknown_partition_is_refused_in_slurms_words(slurm: SlurmLab) -> None:
    said = refused_before_submitting(slurm, "slurm", "--queue", "nosuch", "-W", "00:10")
    assert "sbatch refused the job:" in said
    assert "Invalid partition name specified" in said
    assert "`sinfo -s` lists the partitions" in said


def test_slurm_is_detected_when_omitted(slurm: SlurmLab, tmp_path: Path) -> None:
    path = only_commands(tmp_path / "bin", "sbatch", "squeue", "scancel", "sinfo", "srun")
    detected = SlurmLab({**slurm.env, "PATH": path}, slurm.state_dir)
    result = detected.cli("lab", "--dry-run", "--cores", "2", "--memory", "2GB", "-W", "1:30")
    assert result.returncode == 0, result.stderr
    assert "# Would run: sbatch < job.sh" in result.stdout
    for directive in ("--cpus-per-task=2", "--mem=1908M", "--time=01:30:00"):
        assert f"#SBATCH {directive}\n" in result.stdout
    interactive = detected.cli("lab", "--dry-run", "--interactive", "-q", "debug")
    assert "# Would run: srun -v --job-name=pangeo-hpc-lab --partition=debug" in interactive.stdout
    assert "Slurm commands on PATH" in doctor({**slurm.env, "PATH": path}).stdout


GOOD_SLURM = """
jobqueue:
  slurm:
    cores: 1
    memory: 1GB
    queue: debug
    walltime: '00:30:00'
    interface: lo
"""


def test_doctor_passes_on_a_complete_slurm_setup(slurm: SlurmLab, tmp_path: Path) -> None:
    code, table, out = doctor_table(tmp_path, GOOD_SLURM, "slurm")
    assert code == 0 and set(table.values()) == {"PASS"}, out
    assert {
        "Slurm commands on PATH",
        "Slurm memory units",
        "Slurm partitions",
        "network interface",
        "dask jobqueue config",
    } <= set(table)
    assert "sbatch squeue scancel sinfo srun in " in out
    assert "debug (default), short" in out  # sinfo's partitions, default marked
    assert "memory '1GB' is requested as --mem=954M (954 MiB" in out
    assert "lo (jobqueue.slurm.interface) present" in out


@pytest.mark.parametrize(
    ("setting", "check", "says", "fix"),
    [
        ("queue: nosuch", "Slurm partitions", "'nosuch' is not one of them: debug", "one of"),
        ("job-mem: 1.5G", "Slurm memory units", "sbatch reads --mem as a whole", "e.g. 20G"),
        ("job-mem: '512'", "Slurm memory units", "(512 MiB) is below memory '1GB'", "raise"),
        ("memory: 900GB", "Slurm memory units", "more than the", "lower jobqueue.slurm.memory"),
        ("interface: ib0", "network interface", "'ib0' (jobqueue.slurm.interface) not", "name"),
    ],
)
def test_doctor_fails_on_a_broken_slurm_setup_with_the_fix(
    slurm: SlurmLab, tmp_path: Path, setting: str, check: str, says: str, fix: str
) -> None:
    env = user_setup(tmp_path, with_setting(GOOD_SLURM, setting), ENABLED)
    fails_only(doctor(env, "--scheduler", "slurm", "--json"), check, says, fix)
