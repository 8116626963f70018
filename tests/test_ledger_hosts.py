"""$HOME is shared across the nodes of an HPC cluster, so a starting server sees the job ledgers
of the user's servers on other nodes. Only ledgers whose owner is known to be gone are
reconciled: a server on this host whose process died, or a server elsewhere whose batch job the
scheduler says ended. A live server elsewhere keeps its jobs and its ledger."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.lsfsim import LsfSim

KILLED = "TERM_OWNER: job killed by owner"
CLUSTER = "c0ffee0123456789"
# The name the LSF backend gives the cluster's jobs: a leftover job is killed only under it.
WORKER_NAME = f"dask-{CLUSTER}"


def running_job(lsf: LsfSim, name: str) -> str:
    job_id = lsf.submit("-J", name, stdin="sleep 600\n")
    lsf.wait_stat(job_id, "RUN")
    return str(job_id)


def dead_pid() -> int:
    """The pid of a process that existed here and is gone: what a pid from another node, or of a
    crashed server, looks like from this host."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_ledger(path: Path, owner: dict[str, Any], *job_ids: str) -> Path:
    """A ledger as a server leaves it: its owner, and the worker jobs of one cluster."""
    clusters = {CLUSTER: {"backend": "lsf", "job_ids": list(job_ids)}}
    path.write_text(json.dumps({"owner": owner, "clusters": clusters}))
    return path


class Ledgers:
    """One worker job per kind of ledger, all RUNNING before the server starts."""

    def __init__(self, lsf: LsfSim, state_dir: Path) -> None:
        state_dir.mkdir(parents=True)
        pid = dead_pid()
        here = socket.gethostname()
        other_server_job = running_job(lsf, "jupyter-elsewhere")
        ended_server_job = running_job(lsf, "jupyter-ended")
        lsf.run("bkill", ended_server_job)
        lsf.wait_stat(int(ended_server_job), "EXIT")
        self.files: dict[str, Path] = {}
        self.jobs: dict[str, str] = {}
        self.unrelated = ""
        owners = {
            # A server on a login node, not in a batch job: nothing here can tell it is gone.
            "other host, no job": {"host": "login2", "job": None},
            "other host, job running": {
                "host": "node17",
                "job": {"scheduler": "lsf", "id": other_server_job},
            },
            "other host, job ended": {
                "host": "node18",
                "job": {"scheduler": "lsf", "id": ended_server_job},
            },
            "this host, process dead": {"host": here, "job": None},
        }
        for kind, owner in owners.items():
            self.jobs[kind] = running_job(lsf, WORKER_NAME)
            name = f"jobs-{owner['host']}-{pid}.json"
            extra = []
            if kind == "this host, process dead":
                # A job id the ledger names that is someone else's by now (ids are reused, and
                # ledgers can be planted): the scheduler calls it otherwise, so it stays.
                self.unrelated = running_job(lsf, "sleep")
                extra = [self.unrelated]
            self.files[kind] = write_ledger(
                state_dir / name, {"pid": pid, "started": 1.0, **owner}, self.jobs[kind], *extra
            )
        # Written by a version that recorded no host: read as this host's.
        kind = "old format, process dead"
        self.jobs[kind] = running_job(lsf, WORKER_NAME)
        self.files[kind] = write_ledger(
            state_dir / f"jobs-{pid}.json", {"pid": pid, "started": 1.0}, self.jobs[kind]
        )


@pytest.fixture
def ledgers(tmp_path: Path, lsf_env: LsfSim) -> Ledgers:
    # The same state_dir as the server's (tests/conftest.py jp_server_config).
    return Ledgers(lsf_env, tmp_path / "pangeo-state")


@pytest.fixture
def pangeo_config(ledgers: Ledgers) -> dict[str, Any]:
    """Requesting the ledgers here writes them before the server starts."""
    return {}


async def test_only_ledgers_of_servers_known_gone_are_reconciled(
    api: Any, ledgers: Ledgers, lsf_env: LsfSim
) -> None:
    # The server's start awaited the reconciliation: kills were sent, nothing else will be.
    for kind in ("other host, no job", "other host, job running"):
        record = lsf_env.record(int(ledgers.jobs[kind]))
        assert record["STAT"] == "RUN", f"{kind}: a live server's job was touched: {record}"
        assert ledgers.files[kind].exists(), f"{kind}: a live server's ledger was deleted"
    for kind in ("other host, job ended", "this host, process dead", "old format, process dead"):
        record = lsf_env.wait_stat(int(ledgers.jobs[kind]), "EXIT")
        assert record["EXIT_REASON"] == KILLED, f"{kind}: {record}"
        assert not ledgers.files[kind].exists(), f"{kind}: the reconciled ledger is still there"
    record = lsf_env.record(int(ledgers.unrelated))
    assert record["STAT"] == "RUN", f"a job not named as the cluster's was killed: {record}"
