"""When LSF refuses or ends our jobs, the cluster says so with LSF's own words; never a 500."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psutil
import pytest

from tests.conftest import Api
from tests.support.dask_client import cluster_client
from tests.test_lsf_cluster import LSF_OPTIONS, start_lsf


def failed(c: dict[str, Any]) -> bool:
    return c["status"] == "failed"


class TestSubmitRefused:
    @pytest.fixture
    def lsf_knobs(self) -> dict[str, Any]:
        return {"submit_fail": True}

    async def test_refused_bsub_fails_the_cluster_with_lsf_text(self, api: Api, lsf_env) -> None:
        cid = (await start_lsf(api, 2))["id"]
        cluster = await api.wait_for(cid, failed, "the cluster failing on bsub's refusal")
        assert cluster["error"].startswith("bsub: ")
        assert "Job not submitted." in cluster["error"]
        assert cluster["jobs"] == []
        assert lsf_env.records() == []
        # Scaling a failed cluster is a conflict, not a crash; deleting it works.
        code, answer = await api.call("PATCH", "clusters", cid, body={"workers": 3})
        assert code == 409 and "failed" in answer["message"]
        code, _ = await api.call("DELETE", "clusters", cid)
        assert code == 204


class TestFailedClustersCount:
    """Issue 9 item 5: a failed cluster gives back its scheduler at once and still counts."""

    @pytest.fixture
    def lsf_knobs(self) -> dict[str, Any]:
        return {"submit_fail": True}

    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"max_clusters": 2}

    async def test_failed_clusters_release_their_scheduler_and_count(
        self, api: Api, lsf_env
    ) -> None:
        baseline = listening_ports()
        ids = [(await start_lsf(api, 1))["id"] for _ in range(2)]
        for cid in ids:
            await api.wait_for(
                cid,
                lambda c: failed(c) and c["scheduler_address"] is None,
                "the failed cluster releasing its scheduler",
            )
        await wait_until_async(
            lambda: listening_ports() <= baseline, "the failed clusters' ports closing"
        )
        code, answer = await api.call(
            "POST", "clusters", body={"profile": "lsf", "options": LSF_OPTIONS, "workers": 1}
        )
        assert code == 409, answer
        assert "failed ones included" in answer["message"]
        code, _ = await api.call("DELETE", "clusters", ids[0])
        assert code == 204
        code, _ = await api.call("POST", "clusters", body={"profile": "local"})
        assert code == 201


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.Process().net_connections("inet") if c.status == "LISTEN"}


async def wait_until_async(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"within {timeout:.0f} s: {what} did not happen"
        await asyncio.sleep(0.1)


class TestQueues:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        # An admin list that names a queue this LSF does not have.
        return {"profiles": {"lsf": {"backend": "lsf", "choices": {"queue": ["normal", "ghost"]}}}}

    async def test_queue_outside_admin_choices_is_422(self, api: Api, lsf_env) -> None:
        code, answer = await api.call(
            "POST",
            "clusters",
            body={"profile": "lsf", "options": {**LSF_OPTIONS, "queue": "bigmem"}},
        )
        assert code == 422
        assert [e["field"] for e in answer["errors"]] == ["queue"]
        assert "'normal', 'ghost'" in answer["message"]
        assert lsf_env.records() == []

    async def test_unknown_queue_shows_lsf_message(self, api: Api, lsf_env) -> None:
        cid = (await start_lsf(api, 1, queue="ghost"))["id"]
        cluster = await api.wait_for(cid, failed, "bsub refusing the unknown queue")
        assert cluster["error"] == "bsub: ghost: No such queue. Job not submitted."


class TestNoLSFCommands:
    @pytest.fixture
    def pangeo_config(self, lsf_env, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        # Before the server starts: its supervisors get the environment it started with.
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        return {"profiles": {"lsf": {"backend": "lsf"}}}

    async def test_no_lsf_commands_on_path(self, api: Api) -> None:
        code, _ = await api.call("GET", "profiles")
        assert code == 200  # without bqueues the queue is free text, not an error
        cid = (await start_lsf(api, 1))["id"]
        cluster = await api.wait_for(cid, failed, "the cluster failing without bsub")
        assert "bsub: command not found on PATH" in cluster["error"]


class TestWalltime:
    @pytest.fixture
    def lsf_knobs(self) -> dict[str, Any]:
        return {"minute_seconds": 7}  # -W 00:02 ends a job after 14 s

    async def test_a_job_that_reached_its_walltime_is_replaced(self, api: Api, lsf_env) -> None:
        cid = (await start_lsf(api, 1, walltime="00:02"))["id"]
        await api.wait_for(cid, lambda c: c["workers"]["connected"] >= 1, "a worker connecting")
        cluster = await api.wait_for(
            cid,
            lambda c: c["jobs"] and c["jobs"][0]["state"] == "failed",
            "the first job reaching its walltime",
        )
        assert cluster["jobs"][0]["native_state"] == "EXIT"
        assert cluster["jobs"][0]["reason"].startswith("TERM_RUNLIMIT")
        # Nobody asked: a new job takes its place and its worker connects.
        cluster = await api.wait_for(
            cid,
            lambda c: (
                c["workers"]["connected"] >= 1
                and any(j["state"] == "running" for j in c["jobs"][1:])
            ),
            "a new job replacing the one that reached its walltime",
        )
        assert cluster["status"] in ("running", "scaling") and cluster["error"] is None

        # What the ended job wrote, on demand: the worker's log, the end of its story.
        ended = cluster["jobs"][0]["job_id"]
        code, log = await api.call("GET", "clusters", cid, "jobs", ended, "log")
        assert code == 200, log
        text = "\n".join(line for f in log["files"] for line in f["lines"])
        assert "distributed" in text, log
        assert all(f["path"].startswith(cluster["options"]["log_directory"]) for f in log["files"])
        for job_id in ("999999", "..", "%2e%2e"):
            code, answer = await api.call("GET", "clusters", cid, "jobs", job_id, "log")
            assert code == 404, (job_id, answer)


async def test_a_computation_outlives_two_walltimes(api: Api, lsf_env) -> None:
    """Workers retire by themselves before the walltime (--lifetime) and a replacement is
    submitted ahead, so tasks keep running across job ends and none is lost."""

    cid = (await start_lsf(api, 1, walltime="1"))["id"]  # a real minute: lifetime 30 s
    cluster = await api.wait_for(cid, lambda c: c["workers"]["connected"] >= 1, "a worker")
    done: list[int] = []
    async with cluster_client(cluster) as client:
        deadline = time.monotonic() + 240
        batch = 0
        while sum(j["state"] in ("finished", "failed") for j in cluster["jobs"]) < 2:
            assert time.monotonic() < deadline, f"two jobs did not end: {cluster['jobs']}"
            futures = client.map(slow_square, range(batch * 4, batch * 4 + 4), pure=False)
            done += await client.gather(futures)
            batch += 1
            cluster = await api.cluster(cid)
    assert done == [n * n for n in range(batch * 4)]
    ended = [j for j in cluster["jobs"] if j["state"] in ("finished", "failed")]
    # A worker that retired by its lifetime ends its job before LSF has to kill it.
    assert any(j["native_state"] == "DONE" for j in ended), ended
    assert cluster["error"] is None


def slow_square(n: int) -> int:
    time.sleep(1.0)
    return n * n
