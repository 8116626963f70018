"""A server killed outright together with its clusters' supervisor processes (SIGKILL of every
process group: what a login node's reboot or the OOM killer does) on real Slurm, real Grid
Engine and real OpenPBS: the next server started on the same state directory cancels the batch
jobs they left.
(A server killed alone loses nothing: the supervisors keep the clusters for the next one,
test_cluster_lifetimes.py.)
On volclava (LSF) and OpenPBS too. Skipped without the scheduler, unless
PANGEO_HPC_REQUIRE_SLURM=1 / _SGE=1 / _LSF=1 / _PBS=1."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab_cli import require_daemon, require_slurm
from tests.support.pbs import REQUIRE as REQUIRE_PBS
from tests.support.pbs import pbs_path, pbs_problem
from tests.support.server_process import ServerProcess, Servers, wait_until
from tests.support.volclava import LSF_DEFAULTS, lsf_environ, require_lsf
from tests.support.volclava import unfinished as lsf_unfinished
from tests.test_cluster_lifetimes import supervisor_pids
from tests.test_pbs_cluster import PBS_DEFAULTS, unfinished
from tests.test_sge_cluster import SGE_DEFAULTS
from tests.test_sge_jobs import qstat_job_ids, require_sge
from tests.test_slurm_cluster import DEFAULTS as SLURM_DEFAULTS

WAIT_S = 90.0
# The child servers import the extension from this checkout, installed or not.
REPO_ROOT = str(Path(__file__).resolve().parents[1])
# Slurm keeps an ended job in squeue for MinJobAge (300 s) with its end state.
SLURM_ENDED = {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """squeue's state word for each of these jobs ("" once Slurm forgot it); -r lists an
    array's pending elements one by one (123_4), as the product names them."""
    out = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    states = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
    # An array's ended elements are listed once more under the array's own id (533, not 533_1).
    return {j: states.get(j) or states.get(j.partition("_")[0], "") for j in job_ids}


def slurm_unfinished(job_ids: list[str]) -> dict[str, str]:
    """Our jobs squeue still lists as not ended, with their state word."""
    return {j: s for j, s in slurm_states(job_ids).items() if s and s not in SLURM_ENDED}


def sge_unfinished(job_ids: list[str]) -> dict[str, str]:
    """Our jobs qstat still lists (it forgets a job as soon as it ends)."""
    listed = qstat_job_ids()
    return {j: "listed by qstat" for j in job_ids if j in listed}


@dataclass(frozen=True)
class RealScheduler:
    name: str  # the profile and backend name
    require: Callable[[], None]
    defaults: dict[str, Any]
    unfinished: Callable[[list[str]], dict[str, str]]
    # Submits a job held by its user: it pends until released, which nobody will do.
    hold_directive: str
    # Our word for a held job: LSF's PSUSP is "suspended".
    held_state: str = "pending"
    # The environment a server needs to reach the scheduler (volclava's commands on PATH).
    environ: Callable[[], dict[str, str]] = dict


SCHEDULERS = [
    RealScheduler("slurm", require_slurm, SLURM_DEFAULTS, slurm_unfinished, "--hold"),
    RealScheduler("sge", require_sge, SGE_DEFAULTS, sge_unfinished, "-h"),
    RealScheduler("lsf", require_lsf, LSF_DEFAULTS, lsf_unfinished, "-H", "suspended", lsf_environ),
    RealScheduler(
        "pbs",
        lambda: require_daemon(pbs_problem(), REQUIRE_PBS),
        PBS_DEFAULTS,
        lambda job_ids: {j: "unfinished" for j in unfinished(set(job_ids))},
        "-h",
        # PBS's commands stay off the global PATH: first on the servers' PATH.
        environ=lambda: {"PATH": pbs_path() or ""},
    ),
]


@pytest.fixture(params=SCHEDULERS, ids=lambda s: s.name)
def scheduler(request: pytest.FixtureRequest) -> RealScheduler:
    request.param.require()
    return request.param


@pytest.fixture
def servers(tmp_path: Path, scheduler: RealScheduler) -> Iterator[Callable[[], ServerProcess]]:
    """Servers on one state directory with the scheduler's profile, each in its own process
    group; whatever a test leaves running is stopped (SIGTERM closes clusters) at the end."""
    defaults = {**scheduler.defaults, "log_directory": str(tmp_path / "job-logs")}
    config = {
        "state_dir": str(tmp_path / "state"),
        "job_poll_interval": 0.25,
        "profiles": {scheduler.name: {"backend": scheduler.name, "defaults": defaults}},
    }
    servers = Servers(
        tmp_path / "server",
        env={**scheduler.environ(), "PYTHONPATH": REPO_ROOT},
        pangeo_config=config,
        own_process_group=True,
    )
    yield servers.start
    servers.stop_all()


def job_ids_in_state(
    server: ServerProcess, cluster_id: str, state: str, count: int, connected: int
) -> list[str] | None:
    """The cluster's job ids once `count` of them are in `state` and `connected` workers are."""
    code, cluster = server.api("GET", f"clusters/{cluster_id}")
    assert code == 200, cluster
    ids = [j["job_id"] for j in cluster["jobs"] if j["state"] == state]
    if len(ids) == count and cluster["workers"]["connected"] == connected:
        return ids
    return None


def post(server: ServerProcess, scheduler: RealScheduler, **options: Any) -> str:
    body = {"profile": scheduler.name, "workers": 2, "options": options}
    code, cluster = server.api("POST", "clusters", body)
    assert code == 201, cluster
    return cluster["id"]


def test_jobs_of_a_killed_server_are_cancelled_by_the_next(
    servers: Callable[[], ServerProcess], scheduler: RealScheduler, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    crashed = servers()
    running_cluster = post(crashed, scheduler)
    # Jobs still queued when the server dies are the ones that would leak: a running worker
    # leaves (and its job ends) as soon as its scheduler is gone, a queued job starts later and
    # holds its allocation for nothing.
    held_cluster = post(crashed, scheduler, job_extra_directives=[scheduler.hold_directive])
    running = wait_until(
        lambda: job_ids_in_state(crashed, running_cluster, "running", 2, connected=2),
        f"2 {scheduler.name} jobs running with 2 workers connected",
        timeout=WAIT_S,
    )
    held = wait_until(
        lambda: job_ids_in_state(crashed, held_cluster, scheduler.held_state, 2, connected=0),
        f"2 held {scheduler.name} jobs pending",
        timeout=WAIT_S,
    )
    supervisors = supervisor_pids(state_dir)
    assert len(supervisors) == 2, supervisors
    crashed.kill_process_group()
    crashed.wait(timeout=WAIT_S)
    for pid in supervisors:
        os.killpg(pid, signal.SIGKILL)  # each supervisor leads its own session
    # Nothing cleaned up: the scheduler still holds the queued jobs.
    assert sorted(scheduler.unfinished(held)) == sorted(held)

    successor = servers()
    wait_until(
        lambda: not scheduler.unfinished(running + held),
        f"the next server cancelling the {scheduler.name} jobs {running + held} left behind",
        timeout=WAIT_S,
    )
    if scheduler.name == "slurm":
        # Slurm still lists them for a while, with the word that says who ended them.
        assert set(slurm_states(held).values()) == {"CANCELLED"}, successor.log_tail()
