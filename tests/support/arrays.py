"""What the real-scheduler cluster tests share: three workers asked of a running cluster come as
the elements of one job array, and a scale-down to one leaves one job running."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import Api

Check = Callable[[dict[str, Any]], bool]


async def three_workers_as_one_array(
    api: Api, profile: str, three_running: Check, what: str
) -> tuple[dict[str, Any], str, list[str]]:
    """Start a cluster of the profile with no worker and scale it to 3 once it runs; the
    cluster, its jobs' one array's id, and their ids."""
    code, cluster = await api.call("POST", "clusters", body={"profile": profile, "workers": 0})
    assert code == 201, cluster
    cid = cluster["id"]
    # A PATCH while the cluster starts waits for the start (which may outlast a request here).
    await api.wait_for(cid, lambda c: c["status"] == "running", "the cluster running")
    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200
    cluster = await api.wait_for(cid, three_running, what)
    parents = {j["array"]["parent"] for j in cluster["jobs"]}
    assert len(parents) == 1, cluster["jobs"]
    return cluster, parents.pop(), sorted(j["job_id"] for j in cluster["jobs"])


async def scale_down_to_one(
    api: Api, cid: str, running_workers: Callable[[int], Check], what: str
) -> dict[str, Any]:
    """Scale a cluster of 3 to 1: one worker on one running job, and the two others deleted
    (finished, not failed)."""

    def check(cluster: dict[str, Any]) -> bool:
        states = [j["state"] for j in cluster["jobs"]]
        return running_workers(1)(cluster) and states.count("finished") == 2

    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    return await api.wait_for(cid, check, what)
