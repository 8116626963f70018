"""Adaptive mode through the REST API against a real batch scheduler: the minimum is kept, a
backlog of tasks makes it submit more jobs, and leaving adaptive mode holds the size it reached."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import dask
from dask.utils import parse_timedelta

from tests.conftest import Api
from tests.support.dask_client import cluster_client

# Enough work that Dask's adaptive target (queued task time / target-duration) asks for more
# than the maximum of 3: 60 tasks of 0.5 s are 30 s of work for a single-threaded worker.
TASKS = 60
TASK_S = 0.5


def running_with_workers(count: int):
    """Exactly `count` jobs running and `count` workers connected."""

    def check(cluster: dict[str, Any]) -> bool:
        running = [j for j in cluster["jobs"] if j["state"] == "running"]
        return len(running) == count and cluster["workers"]["connected"] == count

    return check


def scaled_up(cluster: dict[str, Any]) -> bool:
    running = [j for j in cluster["jobs"] if j["state"] == "running"]
    return cluster["workers"]["requested"] == 3 and len(running) >= 2


async def check_adaptive_scales_up_then_holds(api: Api, profile: str) -> None:
    code, cluster = await api.call("POST", "clusters", body={"profile": profile, "workers": 0})
    assert code == 201, cluster
    cid = cluster["id"]
    await api.wait_for(cid, lambda c: c["status"] == "running", "the Dask scheduler starting")

    code, cluster = await api.call(
        "PATCH", "clusters", cid, body={"adapt": {"minimum": 1, "maximum": 3}}
    )
    assert code == 200 and cluster["adapt"] == {"minimum": 1, "maximum": 3}, cluster
    cluster = await api.wait_for(
        cid, running_with_workers(1), f"adaptive minimum: 1 {profile} job running, 1 worker"
    )

    async with cluster_client(cluster) as client:
        futures = client.map(time.sleep, [TASK_S] * TASKS, pure=False)
        cluster = await api.wait_for(
            cid, scaled_up, f"adaptive scale-up to 3 {profile} jobs under a backlog of tasks"
        )

        # Back to manual mode while the work is queued: the size adaptive mode reached holds.
        code, cluster = await api.call("PATCH", "clusters", cid, body={"adapt": None})
        assert code == 200 and cluster["adapt"] is None, cluster
        held = cluster["workers"]["requested"]
        assert held == 3, cluster
        await client.gather(futures)

    cluster = await api.wait_for(
        cid, running_with_workers(held), f"{held} workers connected once the work is done"
    )
    # Adaptive mode would now retire idle workers after wait-count idle intervals; watch for
    # longer than that and see that nothing is retired.
    interval = parse_timedelta(dask.config.get("distributed.adaptive.interval"))
    window = (dask.config.get("distributed.adaptive.wait-count") + 2) * interval
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        cluster = await api.cluster(cid)
        assert running_with_workers(held)(cluster), f"size {held} did not hold: {cluster}"
        await asyncio.sleep(0.5)

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
