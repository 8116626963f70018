"""Idle shutdown on the LSF emulator: a cluster nobody uses closes on time and its jobs are
killed; one with a Dask client connected stays."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tests.conftest import Api
from tests.support.dask_client import cluster_client
from tests.test_events_and_limits import next_cluster_event
from tests.test_lsf_cluster import LSF_OPTIONS, unfinished_records

IDLE_TIMEOUT_S = 6


def running_with(n: int):
    return lambda c: c["workers"]["connected"] == n and c["status"] == "running"


async def start(api: Api, idle_timeout: float) -> dict[str, Any]:
    # idle_timeout is a field of the request, not an option of the profile's backend.
    body = {"profile": "lsf", "workers": 1, "idle_timeout": idle_timeout, "options": LSF_OPTIONS}
    code, cluster = await api.call("POST", "clusters", body=body)
    assert code == 201, cluster
    assert cluster["idle"]["timeout_s"] == idle_timeout
    return cluster


async def test_idle_cluster_closes_and_one_with_a_client_stays(
    api: Api, lsf_env: Any, jp_ws_fetch: Any
) -> None:
    ws = await jp_ws_fetch("api", "events", "subscribe")
    # Same timeout for both: the one with a client must outlive the other.
    used = await start(api, IDLE_TIMEOUT_S)
    idle = await start(api, IDLE_TIMEOUT_S)
    used = await api.wait_for(used["id"], running_with(1), "the used cluster's worker")
    async with cluster_client(used) as client:
        idle = await api.wait_for(
            idle["id"],
            lambda c: running_with(1)(c) and c["idle"]["closes_at"] is not None,
            "the idle cluster's worker and its idle clock",
        )
        closes_at = datetime.fromisoformat(idle["idle"]["closes_at"]).timestamp()
        job_ids = [j["job_id"] for j in idle["jobs"]]
        # Gone: GET answers 404 with the reason, and the event said it first.
        deadline = time.monotonic() + IDLE_TIMEOUT_S + 60
        closing_at = None
        while time.monotonic() < deadline:
            code, body = await api.call("GET", "clusters", idle["id"])
            if code == 404:
                break
            assert code == 200 and body["status"] in ("running", "closing"), body
            if body["status"] == "closing" and closing_at is None:
                closing_at = time.time()
        gone_at = time.time()
        assert code == 404, f"the idle cluster was not closed within {IDLE_TIMEOUT_S + 60} s"
        assert "idle: no client and no task" in body["message"], body
        # Measured, not asserted (no wall-clock assertions): the goal is within 10 s.
        began = "unseen" if closing_at is None else f"{closing_at - closes_at:+.1f} s"
        print(
            f"idle cluster: closing began {began}, gone {gone_at - closes_at:+.1f} s "
            "after closes_at"
        )
        records = {r["JOBID"] for r in unfinished_records(lsf_env)}
        assert not records & set(job_ids), "the idle cluster's job still runs"
        while True:
            event = await next_cluster_event(ws)
            data = event.get("data", event)
            if data["cluster_id"] == idle["id"] and data["action"] == "deleted":
                assert data["reason"].startswith("idle: no client and no task"), data
                break
        # The cluster with a client outlived the other's timeout, and is not counting down.
        still = await api.cluster(used["id"])
        assert still["status"] == "running" and still["idle"]["closes_at"] is None, still
        # Its one job of 1 core runs: held now, and counted since it started.
        assert still["cores_held"] == 1 and still["core_hours"] > 0, still
        (job,) = still["jobs"]
        assert job["expected_start"] is None and job["waiting_s"] is not None, job
        assert client.status == "running"
    # The client left: its clock starts.
    await api.wait_for(
        used["id"], lambda c: c["idle"]["closes_at"] is not None, "the idle clock after the client"
    )
    ws.close()
