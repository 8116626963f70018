"""A supervisor told to stop (SIGTERM, SIGINT, SIGHUP) ends even when its scheduler's commands
are gone, and leaves the jobs it could not kill in its ledger for the next server to clean up."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from pangeo_hpc_ext.core.handle import ClusterSpec
from pangeo_hpc_ext.core.ledger import ledger_path
from pangeo_hpc_ext.supervisor.process import Supervisor
from pangeo_hpc_ext.supervisor.protocol import LaunchSettings

# The bound of a kill nobody can confirm (one failed read ends a supervisor's wait), with room.
STOP_WAIT_S = 30.0


def supervisor(tmp_path: Path, job_ids: list[str]) -> Supervisor:
    spec = ClusterSpec("0123456789abcdef", "n", "lsf", "lsf", {}, len(job_ids), "2026-12-01")
    spec.job_ids = list(job_ids)
    settings = LaunchSettings(
        spec=spec.to_json(),
        state_dir=str(tmp_path / "state"),
        log=str(tmp_path / "supervisor.log"),
        socket=str(tmp_path / "s.sock"),
    )
    made = Supervisor(settings)
    made.ledger.record(spec.id, "lsf", list(job_ids))
    return made


def ledger_jobs(made: Supervisor) -> list[str]:
    path = ledger_path(made.state_dir, socket.gethostname(), made.ledger.pid)
    if not path.exists():
        return []
    clusters = json.loads(path.read_text())["clusters"]
    return [j for entry in clusters.values() for j in entry["job_ids"]]


def test_a_stop_ends_although_the_kill_command_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No bjobs, no bkill: what a node whose LSF client went away (a module unloaded) looks like.
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    made = supervisor(tmp_path, ["4242"])

    async def stop() -> None:
        await asyncio.wait_for(made._stop("signal"), STOP_WAIT_S)

    asyncio.run(stop())
    assert made.done.is_set(), "the supervisor would never leave"
    assert made.jobs_left
    made.leave()
    assert ledger_jobs(made) == ["4242"], "the job it could not kill was forgotten"


def test_a_clean_stop_leaves_no_ledger(tmp_path: Path) -> None:
    made = supervisor(tmp_path, [])
    asyncio.run(asyncio.wait_for(made._stop("signal"), STOP_WAIT_S))
    assert made.done.is_set() and not made.jobs_left
    made.leave()
    assert ledger_jobs(made) == []
