"""What `pangeo-hpc lab/status/stop/doctor` does the same on every real scheduler, one row per
scheduler: a batch lab job runs, answers, shows in `status` and ends with `stop`, holding what
its directives asked for; `doctor` without the scheduler's commands names them. A new scheduler
adds a row here (its own quirks stay in test_lab_<name>.py). Each row skips without its
scheduler, unless PANGEO_HPC_REQUIRE_<NAME>=1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.lab_cli import (
    Lab,
    SchedulerLab,
    doctor_table,
    start_batch_lab,
    status_of,
    stop_lab,
)

# The rows' fixtures (each skips without its scheduler) are those of the schedulers' own modules.
from tests.test_lab_pbs import GOOD_PBS, PBSLabCLI, pbs_lab  # noqa: F401
from tests.test_lab_sge import GOOD_SGE, GridEngineLab, sge  # noqa: F401
from tests.test_lab_slurm import GOOD_SLURM, JOB_NAME, SlurmLab, slurm  # noqa: F401


def slurm_holds(cli: SchedulerLab, lab: Lab, status: dict) -> None:
    assert isinstance(cli, SlurmLab)
    listed = cli.squeue(lab.job_id)
    assert (listed["state"], listed["nodes"]) == ("RUNNING", lab.node)
    assert listed["partition"] == status["queue"] == "debug"  # the default partition
    # Slurm itself holds what the #SBATCH lines asked for: 1 CPU, 1 GB as 954 MiB, 30 minutes.
    job = cli.scontrol(lab.job_id)
    assert (job["NumCPUs"], job["MinMemoryNode"], job["TimeLimit"]) == ("1", "954M", "00:30:00")
    assert job["JobName"] == JOB_NAME


def slurm_ended(cli: SchedulerLab, lab: Lab) -> None:
    assert isinstance(cli, SlurmLab)
    assert cli.squeue(lab.job_id) == {}  # gone from squeue's pending and running jobs
    assert cli.squeue(lab.job_id, "all")["state"] == "CANCELLED"


def sge_holds(cli: SchedulerLab, lab: Lab, status: dict) -> None:
    assert isinstance(cli, GridEngineLab)
    listed = cli.qstat()[lab.job_id]
    assert (listed["state"], listed["queue"].partition("@")[2]) == ("r", lab.node)
    # Grid Engine holds what the #$ lines asked for: 1 GB as 954 MiB per slot, 30 minutes.
    requests = cli.requests(lab.job_id).split(",")
    assert "h_vmem=954M" in requests and "h_rt=1800" in requests


def sge_ended(cli: SchedulerLab, lab: Lab) -> None:
    assert isinstance(cli, GridEngineLab)
    assert lab.job_id not in cli.qstat()  # gone from qstat


def pbs_holds(cli: SchedulerLab, lab: Lab, status: dict) -> None:
    assert isinstance(cli, PBSLabCLI)
    held = cli.jobs(lab.job_id)[lab.job_id]
    assert held["job_state"] == "R" and held["exec_host"].partition("/")[0] == lab.node
    # PBS holds what the #PBS lines asked for: 1 core, 1 GB as 954 MiB, 30 minutes.
    assert held["Resource_List"]["select"] == "1:ncpus=1:mem=954mb"
    assert held["Resource_List"]["walltime"] == "00:30:00"


def pbs_ended(cli: SchedulerLab, lab: Lab) -> None:
    assert isinstance(cli, PBSLabCLI)
    # PBS keeps finished jobs (job_history_enable) with state F.
    assert cli.jobs(lab.job_id)[lab.job_id]["job_state"] == "F"


@dataclass(frozen=True)
class Row:
    name: str  # --scheduler
    title: str  # as doctor names it
    fixture: str  # the SchedulerLab fixture of test_lab_<name>.py (skips without the scheduler)
    running: str  # the scheduler's word for a running job, as `status` shows it
    holds: Callable[[SchedulerLab, Lab, dict], None]  # what the scheduler holds for the job
    ended: Callable[[SchedulerLab, Lab], None]  # what it says once `stop` killed it
    jobqueue_yaml: str  # a complete dask config for doctor
    doctor_commands: str  # what doctor names as missing without the scheduler
    load_hint: str  # a part of the fix doctor gives


ROWS = [
    Row(
        "slurm",
        "Slurm",
        "slurm",
        "RUNNING",
        slurm_holds,
        slurm_ended,
        GOOD_SLURM,
        "sbatch squeue scancel sinfo srun",
        "module load slurm",
    ),
    Row(
        "sge",
        "Grid Engine",
        "sge",
        "r",
        sge_holds,
        sge_ended,
        GOOD_SGE,
        "qsub qstat qdel qconf qrsh qacct",
        "settings.sh",
    ),
    Row(
        "pbs",
        "PBS",
        "pbs_lab",
        "R",
        pbs_holds,
        pbs_ended,
        GOOD_PBS,
        "qsub qstat qdel pbsnodes",
        "module load pbs",
    ),
]


@pytest.fixture(params=ROWS, ids=lambda row: row.name)
def row(request: pytest.FixtureRequest) -> Row:
    return request.param


def test_batch_lab_runs_answers_and_stops(row: Row, request: pytest.FixtureRequest) -> None:
    cli: SchedulerLab = request.getfixturevalue(row.fixture)
    lab = start_batch_lab(cli, row.name)
    status = status_of(cli, lab, row.name, row.running)
    assert status["interactive"] is False
    row.holds(cli, lab, status)
    stop_lab(cli, status)
    row.ended(cli, lab)


def test_doctor_without_the_commands_says_what_is_missing(row: Row, tmp_path: Path) -> None:
    code, table, out = doctor_table(
        tmp_path, row.jobqueue_yaml, row.name, path=str(Path(sys.executable).parent)
    )
    assert code == 1 and table[f"{row.title} commands on PATH"] == "FAIL"
    assert f"missing: {row.doctor_commands}" in out and row.load_hint in out
    assert not any(name.endswith(("queues", "partitions")) for name in table), table
