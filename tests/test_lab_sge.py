"""`pangeo-hpc lab/status/stop/doctor` against the real Grid Engine of .ci/gridengine.sh, with real
JupyterLab processes bound to 127.0.0.1. Skipped when Grid Engine is not here, unless
PANGEO_HPC_REQUIRE_SGE=1."""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.lab_cli import (
    SchedulerLab,
    doctor_table,
    fails_only,
    interactive_ends_with_stop,
    lab_env,
    only_commands,
    refused_before_submitting,
    require_daemon,
    sge_problem,
    start_interactive_lab,
    status_of,
    tidy,
    with_setting,
)
from tests.test_doctor import ENABLED, doctor, user_setup

# qstat's name column is 10 characters wide: "pangeo-hpc-lab" shows as this.
LISTED_NAME = "pangeo-hpc"


class GridEngineLab(SchedulerLab):
    cancel_command = "qdel"

    def qstat(self) -> dict[str, dict[str, str]]:
        """This user's jobs as plain qstat lists them: id -> name, state, queue instance."""
        out = self.command("qstat", "-u", getpass.getuser()).stdout
        jobs = {}
        for line in out.splitlines()[2:]:
            words = line.split()
            queue = words[7] if len(words) > 8 else ""  # waiting jobs have no queue instance
            jobs[words[0]] = {"name": words[2], "state": words[4], "queue": queue}
        return jobs

    def our_jobs(self) -> set[str]:
        return {job for job, seen in self.qstat().items() if seen["name"] == LISTED_NAME}

    def requests(self, job_id: str) -> str:
        """The hard resources the job asked for, as `qstat -j` shows them."""
        text = self.command("qstat", "-j", job_id).stdout
        found = re.search(r"^hard resource_list:\s+(\S+)", text, re.MULTILINE)
        return found.group(1) if found else ""


@pytest.fixture
def sge(tmp_path: Path) -> Iterator[GridEngineLab]:
    require_daemon(sge_problem(), "PANGEO_HPC_REQUIRE_SGE")
    yield from tidy(GridEngineLab(env=lab_env(tmp_path / "state"), state_dir=tmp_path / "state"))


def test_interactive_lab_on_grid_engine_is_held_by_qrsh_and_ends_with_stop(
    sge: GridEngineLab,
) -> None:
    reader, lab = start_interactive_lab(sge, "sge")
    # stdbuf runs qrsh in its own process: this command's child, holding the job.
    qrsh = [p for p in psutil.Process(reader.proc.pid).children() if p.name() == "qrsh"]
    assert len(qrsh) == 1, reader.text
    assert sge.qstat()[lab.job_id]["state"] == "r"
    status = status_of(sge, lab, "sge", "r")
    assert status["interactive"] is True

    interactive_ends_with_stop(sge, reader, status, qrsh[0])


def test_walltime_above_the_queue_limit_is_refused_before_submitting(
    sge: GridEngineLab,
) -> None:
    # .ci/gridengine.sh's short.q has h_rt 0:5:0. qsub would accept the job and leave it in qw
    # for ever ("cannot run in queue short.q because of cluster queue").
    said = refused_before_submitting(sge, "sge", "--queue", "short.q", "--walltime", "01:00")
    assert "--walltime 01:00 is above the 00:05 limit of queue short.q" in said
    assert "`qconf -sq short.q`" in said


def test_unknown_queue_is_refused_in_grid_engines_words(sge: GridEngineLab) -> None:
    said = refused_before_submitting(sge, "sge", "--queue", "nosuch.q", "-W", "00:10")
    assert "qsub refused the job:" in said
    assert 'job requests unknown queue "nosuch.q"' in said
    assert "`qconf -sql` lists the queues" in said


def test_grid_engine_is_detected_when_omitted(sge: GridEngineLab, tmp_path: Path) -> None:
    path = only_commands(tmp_path / "bin", "qsub", "qstat", "qdel", "qconf", "qrsh", "qacct")
    detected = GridEngineLab({**sge.env, "PATH": path}, sge.state_dir)
    result = detected.cli("lab", "--dry-run", "--cores", "2", "--memory", "2GB", "-W", "1:30")
    assert result.returncode == 0, result.stderr
    assert "# Would run: qsub < job.sh" in result.stdout
    for directive in ("-pe smp 2", "-l h_vmem=954M", "-l h_rt=01:30:00", "-S /bin/bash"):
        assert f"#$ {directive}\n" in result.stdout
    # Interactive needs stdbuf too, which this PATH lacks: named before anything is submitted.
    interactive = detected.cli("lab", "--interactive", "--ip", "127.0.0.1")
    assert interactive.returncode == 1
    assert "no Grid Engine commands on PATH (missing: stdbuf)" in interactive.stderr
    assert "Grid Engine commands on PATH" in doctor({**sge.env, "PATH": path}).stdout


GOOD_SGE = """
jobqueue:
  sge:
    cores: 2
    memory: 2GB
    queue: all.q
    walltime: '00:30:00'
    resource-spec: h_vmem=1G
    interface: lo
"""


def test_doctor_passes_on_a_complete_grid_engine_setup(sge: GridEngineLab, tmp_path: Path) -> None:
    code, table, out = doctor_table(tmp_path, GOOD_SGE, "sge")
    assert code == 0 and set(table.values()) == {"PASS"}, out
    assert {
        "Grid Engine commands on PATH",
        "Grid Engine cell",
        "Grid Engine memory units",
        "Grid Engine parallel environment",
        "Grid Engine queues",
        "network interface",
        "dask jobqueue config",
    } <= set(table)
    assert "qsub qstat qdel qconf qrsh qacct in " in out
    assert "all.q, short.q" in out
    assert "'h_vmem=1G' grants 2.00 GiB over 2 slot(s) for memory '2GB'" in out
    assert "smp (jobs with several cores ask -pe smp N)" in out
    assert "lo (jobqueue.sge.interface) present" in out


@pytest.mark.parametrize(
    ("setting", "check", "says", "fix"),
    [
        ("queue: nosuch.q", "Grid Engine queues", "'nosuch.q' is not one of them", "qconf -sql"),
        ("resource-spec: h_vmem=1GB", "Grid Engine memory units", "not a memory value", "=4G"),
        ("resource-spec: gpus=1", "Grid Engine memory units", "'gpus' is not a resource", "-sc"),
        ("memory: 8GB", "Grid Engine memory units", "less than dask lets the workers", "raise"),
        ("interface: ib0", "network interface", "'ib0' (jobqueue.sge.interface) not", "name"),
    ],
)
def test_doctor_fails_on_a_broken_grid_engine_setup_with_the_fix(
    sge: GridEngineLab, tmp_path: Path, setting: str, check: str, says: str, fix: str
) -> None:
    env = user_setup(tmp_path, with_setting(GOOD_SGE, setting), ENABLED)
    fails_only(doctor(env, "--scheduler", "sge", "--json"), check, says, fix)
