"""A real server process: a clean stop kills every job it submitted, and after a crash the next
server start kills the orphans (nothing leaks)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server_process import ServerProcess, Servers, wait_until
from tests.test_lsf_cluster import LSF_OPTIONS, unfinished_records

WAIT_S = 90.0
# The child server imports the extension from this checkout, installed or not.
REPO_ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def servers(tmp_path: Path, lsf_env) -> Iterator[Callable[[], ServerProcess]]:
    servers = Servers(
        tmp_path / "server",
        env={**lsf_env.env, "PYTHONPATH": REPO_ROOT},
        pangeo_config={"state_dir": str(tmp_path / "state"), "job_poll_interval": 0.25},
    )
    yield servers.start
    servers.stop_all()


def start_cluster_with_two_workers(server: ServerProcess) -> str:
    code, cluster = server.api(
        "POST", "clusters", {"profile": "lsf", "workers": 2, "options": LSF_OPTIONS}
    )
    assert code == 201, cluster
    cid = cluster["id"]
    wait_until(
        lambda: server.api("GET", f"clusters/{cid}")[1]["workers"]["connected"] == 2,
        "2 workers connecting",
    )
    return cid


def test_clean_stop_kills_every_job(servers, lsf_env) -> None:
    server = servers()
    start_cluster_with_two_workers(server)
    assert len(unfinished_records(lsf_env)) == 2
    server.signal(signal.SIGTERM)
    server.wait(timeout=WAIT_S)
    records = lsf_env.records()
    assert [r for r in records if r["STAT"] not in ("DONE", "EXIT")] == [], server.log_tail()
    assert {r["EXIT_REASON"] for r in records} == {"TERM_OWNER: job killed by owner"}


class TestCrash:
    @pytest.fixture
    def lsf_knobs(self) -> dict[str, Any]:
        return {"slots": 2}

    def test_jobs_orphaned_by_a_crash_are_killed_at_next_start(self, servers, lsf_env) -> None:
        crashed = servers()
        cid = start_cluster_with_two_workers(crashed)
        code, _ = crashed.api("PATCH", f"clusters/{cid}", {"workers": 4})
        assert code == 200
        wait_until(
            lambda: (
                sorted(r["STAT"] for r in unfinished_records(lsf_env))
                == ["PEND", "PEND", "RUN", "RUN"]
            ),
            "2 jobs pending behind the 2 slots",
        )
        crashed.signal(signal.SIGKILL)
        crashed.wait(timeout=WAIT_S)
        # Workers of a dead scheduler leave by themselves; pending jobs would start later and
        # hold slots for nothing. Nobody killed them: they are still queued.
        pending = [r["JOBID"] for r in unfinished_records(lsf_env) if r["STAT"] == "PEND"]
        assert len(pending) == 2

        servers()
        wait_until(
            lambda: not unfinished_records(lsf_env), "the new server killing the orphaned jobs"
        )
        reasons = {r["JOBID"]: r["EXIT_REASON"] for r in lsf_env.records()}
        assert {reasons[j] for j in pending} == {"TERM_OWNER: job killed by owner"}, reasons
