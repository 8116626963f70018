"""Grid Engine clusters through the REST API on real Grid Engine: real qsub/qstat/qdel, real Dask
workers as batch jobs (skipped without Grid Engine unless PANGEO_HPC_REQUIRE_SGE=1)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.support.adaptive import check_adaptive_scales_up_then_holds
from tests.support.arrays import scale_down_to_one, three_workers_as_one_array
from tests.support.dask_client import cluster_client
from tests.test_idle_shutdown import check_idle_cluster_closes, start
from tests.test_sge_jobs import qstat_job_ids, require_sge

SGE_DEFAULTS = {
    "interface": "lo",
    "cores": 1,
    "memory": "1GB",
    "walltime": "00:10:00",
    "queue": "all.q",
}


@pytest.fixture
def pangeo_config() -> dict[str, Any]:
    return {"profiles": {"sge": {"backend": "sge", "defaults": SGE_DEFAULTS}}}


@pytest.fixture
def sge() -> None:
    require_sge()


def running_jobs(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in cluster["jobs"] if (j["state"], j["native_state"]) == ("running", "r")]


def workers_on_running_jobs(n: int):
    return lambda c: c["workers"]["connected"] == n and len(running_jobs(c)) == n


async def post(api: Api, workers: int, **options: Any) -> tuple[int, Any]:
    body = {"profile": "sge", "workers": workers, "options": options}
    return await api.call("POST", "clusters", body=body)


def qstat_j(job_id: str) -> str:
    return subprocess.run(
        ["qstat", "-j", job_id], capture_output=True, text=True, check=True
    ).stdout


async def test_sge_lifecycle_compute_scale_delete(api: Api, sge: None) -> None:
    before = qstat_job_ids()
    code, cluster = await post(api, 2)
    assert code == 201, cluster
    cid = cluster["id"]
    cluster = await api.wait_for(
        cid, workers_on_running_jobs(2), "2 Grid Engine jobs running (r) with 2 workers"
    )
    assert cluster["status"] == "running"
    ours = {j["job_id"] for j in cluster["jobs"]}
    assert ours <= qstat_job_ids() - before
    for job in cluster["jobs"]:
        assert job["hosts"] == [socket.gethostname()]
        assert 0 < job["walltime_left_s"] <= 600
    # What Grid Engine itself holds: our name, queue and h_rt.
    detail = qstat_j(sorted(ours)[0])
    assert f"job_name:                   dask-{cid}" in detail
    assert "h_rt=600" in detail and "hard_queue_list:            all.q" in detail

    async with cluster_client(cluster) as client:
        total = await client.submit(sum, range(101))
        assert total == 5050
        assert len(await client.run(socket.gethostname)) == 2

    # A job's log is its own file only: `-o DIR/ -j y` gives <job name>.o<job id>.
    job_id = sorted(ours)[0]
    code, log = await api.call("GET", "clusters", cid, "jobs", job_id, "log")
    assert code == 200, log
    assert [Path(f["path"]).name for f in log["files"]] == [f"dask-{cid}.o{job_id}"], log

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200 and cluster["workers"]["requested"] == 3
    await api.wait_for(cid, workers_on_running_jobs(3), "scale-up to 3 running jobs")

    cluster = await scale_down_to_one(
        api,
        cid,
        workers_on_running_jobs,
        "scale-down to 1: 2 jobs deleted (finished), 1 worker left",
    )
    ours = {j["job_id"] for j in cluster["jobs"]}
    assert len(ours & qstat_job_ids()) == 1

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    # DELETE answers after Grid Engine confirmed every job gone.
    assert not ours & qstat_job_ids()


async def test_workers_as_one_array_scaled_down_element_by_element(api: Api, sge: None) -> None:
    cluster, parent, ids = await three_workers_as_one_array(
        api, "sge", workers_on_running_jobs(3), "3 array elements running (r), 3 workers"
    )
    cid = cluster["id"]
    assert ids == [f"{parent}.{i}" for i in (1, 2, 3)]
    # Grid Engine's own view: one job whose three tasks run, that is one qsub.
    assert set(ids) <= qstat_job_ids()
    assert "job-array tasks:            1-3:1" in qstat_j(parent)

    cluster = await scale_down_to_one(
        api,
        cid,
        workers_on_running_jobs,
        "scale-down to 1: 2 elements deleted (finished), 1 running",
    )
    (alive,) = set(ids) & qstat_job_ids()
    assert [j["job_id"] for j in running_jobs(cluster)] == [alive]

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    assert not set(ids) & qstat_job_ids()


async def test_unknown_queue_is_refused_before_anything_is_submitted(api: Api, sge: None) -> None:
    before = qstat_job_ids()
    code, body = await post(api, 1, queue="no-such.q")
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["queue"]
    assert "all.q" in body["message"] and "short.q" in body["message"]
    code, listing = await api.call("GET", "clusters")
    assert code == 200 and listing["clusters"] == []
    assert qstat_job_ids() == before


async def test_walltime_above_the_queue_limit_is_refused(api: Api, sge: None) -> None:
    code, body = await post(api, 1, queue="short.q", walltime="00:06:00")
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["walltime"]
    assert "00:05:00" in body["message"]
    # Within the limit the same queue is accepted.
    code, cluster = await post(api, 0, queue="short.q", walltime="00:05:00")
    assert code == 201, cluster
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204


async def test_profile_schema_lists_grid_engine_queues(api: Api, sge: None) -> None:
    code, body = await api.call("GET", "profiles")
    assert code == 200
    (profile,) = [p for p in body["profiles"] if p["name"] == "sge"]
    properties = profile["schema"]["properties"]
    assert properties["queue"]["enum"] == ["all.q", "short.q"]
    assert properties["pe"]["default"] == "smp"
    assert profile["defaults"]["walltime"] == "00:10:00"


async def test_sge_adaptive_scales_up_under_load_then_holds(api: Api, sge: None) -> None:
    await check_adaptive_scales_up_then_holds(api, "sge")


async def test_an_idle_sge_cluster_closes_and_its_job_is_deleted(
    api: Api, sge: None, jp_ws_fetch: Any
) -> None:
    ws = await jp_ws_fetch("api", "events", "subscribe")
    cluster = await start(api, "sge", {})
    await check_idle_cluster_closes(api, ws, cluster, qstat_job_ids)
    ws.close()
