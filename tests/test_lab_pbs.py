"""`pangeo-hpc lab/status/stop/doctor` against the real OpenPBS of .ci/openpbs.sh, with real
JupyterLab processes bound to 127.0.0.1. Skipped when PBS is not here, unless
PANGEO_HPC_REQUIRE_PBS=1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab_cli import (
    SchedulerLab,
    doctor_table,
    fails_only,
    lab_env,
    only_commands,
    refused_before_submitting,
    tidy,
    with_setting,
)
from tests.test_doctor import ENABLED, doctor, user_setup


class PBSLabCLI(SchedulerLab):
    cancel_command = "qdel"

    def jobs(self, *job_ids: str) -> dict[str, dict]:
        argv = ["qstat", "-f", "-F", "json", *(["-x", *job_ids] if job_ids else [])]
        return json.loads(self.command(*argv).stdout or "{}").get("Jobs") or {}

    def our_jobs(self) -> set[str]:
        return {j for j, a in self.jobs().items() if a.get("Job_Name") == "pangeo-hpc-lab"}


@pytest.fixture
def pbs_lab(pbs: str, tmp_path: Path) -> Iterator[PBSLabCLI]:
    env = lab_env(tmp_path / "state", PATH=pbs)
    yield from tidy(PBSLabCLI(env=env, state_dir=tmp_path / "state"))


def test_walltime_above_the_queue_limit_is_refused_in_pbs_words(pbs_lab: PBSLabCLI) -> None:
    # .ci/openpbs.sh's queue short has resources_max.walltime 00:05:00: qsub refuses the job.
    said = refused_before_submitting(pbs_lab, "pbs", "--queue", "short", "--walltime", "01:00")
    assert "qsub refused the job:" in said, said
    assert "Job violates queue and/or server resource limits" in said, said
    assert "`qstat -Qf QUEUE` shows resources_max" in said


def test_unknown_queue_is_refused_in_pbs_words(pbs_lab: PBSLabCLI) -> None:
    said = refused_before_submitting(pbs_lab, "pbs", "--queue", "nosuch", "-W", "00:10")
    assert "qsub refused the job:" in said and "Unknown queue" in said, said
    assert "`qstat -Q` lists the queues" in said


def test_pbs_is_detected_when_omitted_and_told_from_grid_engine(
    pbs_lab: PBSLabCLI, tmp_path: Path
) -> None:
    # PBS's qsub/qstat/qdel and Grid Engine's qconf on PATH: PBS, by qstat's answer.
    path = only_commands(tmp_path / "bin", "qsub", "qstat", "qdel", "pbsnodes", "qconf")
    detected = PBSLabCLI({**pbs_lab.env, "PATH": path}, pbs_lab.state_dir)
    result = detected.cli("lab", "--dry-run", "--cores", "2", "--memory", "2GB", "-W", "1:30")
    assert result.returncode == 0, result.stderr
    assert "# Would run: qsub < job.sh" in result.stdout
    for directive in ("-l select=1:ncpus=2:mem=1908mb", "-l walltime=01:30:00", "-S /bin/bash"):
        assert f"#PBS {directive}\n" in result.stdout, result.stdout


GOOD_PBS = """
jobqueue:
  pbs:
    cores: 1
    memory: 1GB
    queue: workq
    walltime: '00:30:00'
    interface: lo
"""


def test_doctor_passes_on_a_complete_pbs_setup(pbs_lab: PBSLabCLI, tmp_path: Path) -> None:
    code, table, out = doctor_table(tmp_path, GOOD_PBS, "pbs", path=pbs_lab.env["PATH"])
    assert code == 0 and set(table.values()) == {"PASS"}, out
    assert {
        "PBS commands on PATH",
        "PBS server answers (qstat -B)",
        "PBS walltime limit",
        "PBS nodes (resources_available)",
        "PBS queues",
    } <= set(table), out
    assert "short" in out and "workq" in out


@pytest.mark.parametrize(
    ("setting", "check", "says", "fix"),
    [
        ("queue: nosuch", "PBS queues", "'nosuch' is not one of them", "qstat -Q"),
        ("walltime: '01:00:00'", "PBS walltime limit", "above queue short", "at most 00:05:00"),
        ("cores: 4096", "PBS nodes (resources_available)", "no node has 4096 cores", "lower"),
    ],
)
def test_doctor_fails_on_a_broken_pbs_setup_with_the_fix(
    pbs_lab: PBSLabCLI, tmp_path: Path, setting: str, check: str, says: str, fix: str
) -> None:
    yaml = with_setting(GOOD_PBS, setting)
    if "walltime" in setting:
        yaml = with_setting(yaml, "queue: short")
    env = {**user_setup(tmp_path, yaml, ENABLED), "PATH": pbs_lab.env["PATH"]}
    fails_only(doctor(env, "--scheduler", "pbs", "--json"), check, says, fix)


def test_interactive_is_refused_on_pbs_saying_why(tmp_path: Path) -> None:
    # qsub -I exits "standard input and output must be a terminal for interactive job
    # submission" when its stdio is a file, as `lab --interactive`'s holder's is: refused
    # before anything is submitted (or looked for on PATH).
    cli = PBSLabCLI(env=lab_env(tmp_path / "state"), state_dir=tmp_path / "state")
    result = cli.cli("lab", "--scheduler", "pbs", "--interactive", "--ip", "127.0.0.1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--interactive is not available on PBS" in result.stderr
    assert "must be a terminal" in result.stderr
    assert not list((tmp_path / "state").glob("session-*"))
