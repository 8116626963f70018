"""Idle shutdown: a cluster nobody uses closes on time and its jobs are killed; one with a Dask
client connected stays. On the LSF emulator here; real Slurm and Grid Engine reuse
`check_idle_cluster_closes`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api
from tests.support.dask_client import cluster_client
from tests.test_events_and_limits import next_cluster_event
from tests.test_lsf_cluster import LSF_OPTIONS, unfinished_records

IDLE_TIMEOUT_S = 6


def running_with(n: int):
    return lambda c: c["workers"]["connected"] == n and c["status"] == "running"


async def start(api: Api, profile: str, options: dict[str, Any]) -> dict[str, Any]:
    # idle_timeout is a field of the request, not an option of the profile's backend.
    body = {"profile": profile, "workers": 1, "idle_timeout": IDLE_TIMEOUT_S, "options": options}
    code, cluster = await api.call("POST", "clusters", body=body)
    assert code == 201, cluster
    assert cluster["idle"] == {"timeout_s": IDLE_TIMEOUT_S, "closes_at": None}, cluster
    return cluster


async def check_idle_cluster_closes(
    api: Api,
    ws: Any,
    cluster: dict[str, Any],
    unfinished: Callable[[], set[str]],
) -> None:
    """The cluster, started with IDLE_TIMEOUT_S and left alone, counts down once its worker
    is there, then is closed with its job killed, and says why (event and 404)."""
    cluster = await api.wait_for(
        cluster["id"],
        lambda c: running_with(1)(c) and c["idle"]["closes_at"] is not None,
        "the idle cluster's worker and its idle clock",
    )
    # Its one job of 1 core runs: held now, counted since it started.
    assert cluster["cores_held"] == 1 and cluster["core_hours"] >= 0, cluster
    closes_at = datetime.fromisoformat(cluster["idle"]["closes_at"]).timestamp()
    job_ids = {j["job_id"] for j in cluster["jobs"]}
    deadline = time.monotonic() + IDLE_TIMEOUT_S + 60
    closing_at = None
    while time.monotonic() < deadline:
        code, body = await api.call("GET", "clusters", cluster["id"])
        if code == 404:
            break
        assert code == 200 and body["status"] in ("running", "closing", "closed"), body
        if body["status"] == "closing" and closing_at is None:
            closing_at = time.time()
    gone_at = time.time()
    assert code == 404, f"the idle cluster was not closed within {IDLE_TIMEOUT_S + 60} s"
    assert "idle: no client and no task" in body["message"], body
    # Measured, not asserted (no wall-clock assertions): the issue's goal is within 10 s.
    began = "unseen" if closing_at is None else f"{closing_at - closes_at:+.1f} s"
    print(f"idle cluster: closing began {began}, gone {gone_at - closes_at:+.1f} s after closes_at")
    assert not unfinished() & job_ids, "the idle cluster's job still runs"
    while True:
        event = await next_cluster_event(ws)
        data = event.get("data", event)
        if data["cluster_id"] == cluster["id"] and data["action"] == "deleted":
            assert data["reason"].startswith("idle: no client and no task"), data
            return


async def test_idle_cluster_closes_and_one_with_a_client_stays(
    api: Api, lsf_env: Any, jp_ws_fetch: Any
) -> None:
    code, profiles = await api.call("GET", "profiles")
    assert code == 200 and profiles["max_idle_timeout"] is None, profiles
    # The default a request without idle_timeout gets: 30 min.
    assert {p["name"]: p["idle_timeout"] for p in profiles["profiles"]}["lsf"] == 1800
    ws = await jp_ws_fetch("api", "events", "subscribe")
    # Same timeout for both: the one with a client must outlive the other.
    used = await start(api, "lsf", LSF_OPTIONS)
    idle = await start(api, "lsf", LSF_OPTIONS)
    used = await api.wait_for(used["id"], running_with(1), "the used cluster's worker")
    async with cluster_client(used) as client:
        await check_idle_cluster_closes(
            api, ws, idle, lambda: {r["JOBID"] for r in unfinished_records(lsf_env)}
        )
        # The cluster with a client outlived the other's timeout, and is not counting down.
        still = await api.cluster(used["id"])
        assert still["status"] == "running" and still["idle"]["closes_at"] is None, still
        assert still["cores_held"] == 1 and still["core_hours"] > 0, still
        (job,) = still["jobs"]
        # LSF reports no expected start; the job waited from its submission to its start.
        assert job["expected_start"] is None and job["waiting_s"] is not None, job
        assert client.status == "running"
    # The client left: its clock starts.
    await api.wait_for(
        used["id"], lambda c: c["idle"]["closes_at"] is not None, "the idle clock after the client"
    )
    ws.close()


class TestAdminMaximum:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {
            "max_idle_timeout": 600.0,
            "profiles": {"lsf": {"backend": "lsf", "idle_timeout": 3600}},
        }

    async def test_requests_above_it_are_422_and_profiles_are_lowered(
        self, api: Api, lsf_env: Any
    ) -> None:
        code, profiles = await api.call("GET", "profiles")
        assert code == 200 and profiles["max_idle_timeout"] == 600
        assert profiles["profiles"][0]["idle_timeout"] == 600
        for never_or_more in (0, 601):
            body = {"profile": "lsf", "idle_timeout": never_or_more, "options": LSF_OPTIONS}
            code, answer = await api.call("POST", "clusters", body=body)
            assert code == 422 and answer["errors"][0]["field"] == "idle_timeout", answer
        assert lsf_env.records() == []
