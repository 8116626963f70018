"""A real server process: a clean stop kills every job it submitted (what a crash does, and
keeping clusters across restarts, is in test_cluster_lifetimes.py)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess, wait_until
from tests.test_lsf_cluster import LSF_OPTIONS, unfinished_records

WAIT_S = 90.0
# The child server imports the extension from this checkout, installed or not.
REPO_ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def servers(tmp_path: Path, lsf_env) -> Iterator[Callable[[], ServerProcess]]:
    started: list[ServerProcess] = []

    def start() -> ServerProcess:
        server = ServerProcess(
            tmp_path / "server",
            env={**lsf_env.env, "PYTHONPATH": REPO_ROOT},
            pangeo_config={"state_dir": str(tmp_path / "state"), "job_poll_interval": 0.25},
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


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
