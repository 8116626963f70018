"""Slurm clusters through the REST API of a real server, on the real Slurm of .ci/slurm.sh:
real sbatch/squeue/scancel, real dask workers as batch jobs."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.support.adaptive import check_adaptive_scales_up_then_holds
from tests.support.dask_client import cluster_client
from tests.test_idle_shutdown import check_idle_cluster_closes, start
from tests.test_slurm_client_live import slurm  # noqa: F401  (the fixture that skips without Slurm)

pytestmark = pytest.mark.usefixtures("slurm")

DEFAULTS = {
    "interface": "lo",
    "cores": 1,
    "memory": "1GB",
    "walltime": "00:10:00",
    "queue": "debug",
}


@pytest.fixture
def pangeo_config(tmp_path: Path) -> dict[str, Any]:
    defaults = {**DEFAULTS, "log_directory": str(tmp_path / "job-logs")}
    return {"profiles": {"slurm": {"backend": "slurm", "defaults": defaults}}}


def squeue(*args: str) -> list[list[str]]:
    out = subprocess.run(
        ["squeue", "-h", *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


def all_job_ids() -> set[str]:
    return {row[0] for row in squeue("-r", "-t", "all", "-o", "%i")}


def running_jobs(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in cluster["jobs"] if j["state"] == "running"]


def settled(workers: int, ended: int = 0):
    def check(cluster: dict[str, Any]) -> bool:
        finished = [j for j in cluster["jobs"] if j["state"] in ("finished", "failed")]
        return (
            cluster["workers"]["connected"] == workers
            and len(running_jobs(cluster)) == workers
            and len(finished) == ended
        )

    return check


async def test_slurm_lifecycle(api: Api) -> None:
    code, cluster = await api.call("POST", "clusters", body={"profile": "slurm", "workers": 2})
    assert code == 201, cluster
    cid = cluster["id"]
    cluster = await api.wait_for(cid, settled(2), "2 Slurm jobs running, 2 workers connected")
    assert cluster["status"] == "running"
    host = socket.gethostname().split(".")[0]
    for job in cluster["jobs"]:
        assert job["native_state"] == "RUNNING" and job["hosts"] == [host]
        assert 0 < job["walltime_left_s"] <= 10 * 60
        assert job["started"] and job["submitted"]

    # What Slurm itself says about the jobs: the resources the options asked for.
    ids = [j["job_id"] for j in cluster["jobs"]]
    for name, partition, limit, cpus, memory in squeue("-j", ",".join(ids), "-o", "%j|%P|%l|%C|%m"):
        assert (name, partition, limit, cpus) == (f"dask-{cid}", "debug", "10:00", "1")
        assert memory == "954M"  # 1GB in Slurm's MiB, rounded up by dask-jobqueue

    async with cluster_client(cluster) as client:
        assert await client.submit(sum, [1, 2, 39]) == 42
        # interface lo: the workers listen on loopback only.
        addresses = await client.run(lambda dask_worker: dask_worker.address)
        assert len(addresses) == 2
        # TLS by default, between the scheduler and its workers too.
        assert all(a.startswith("tls://127.0.0.1:") for a in addresses.values()), addresses

    # A job's log is its own files only, named by sbatch's -o/-e: <job name>-<job id>.out/.err.
    code, log = await api.call("GET", "clusters", cid, "jobs", ids[0], "log")
    assert code == 200, log
    names = {Path(f["path"]).name for f in log["files"]}
    assert names == {f"dask-{cid}-{ids[0]}.out", f"dask-{cid}-{ids[0]}.err"}, names

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200 and cluster["workers"]["requested"] == 3
    await api.wait_for(cid, settled(3), "3 jobs running and 3 workers after scaling up")

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    cluster = await api.wait_for(
        cid, settled(1, ended=2), "scale-down to 1: 2 jobs cancelled, 1 worker left"
    )
    cancelled = [j for j in cluster["jobs"] if j["state"] == "finished"]
    assert {j["native_state"] for j in cancelled} == {"CANCELLED"}
    ids = [j["job_id"] for j in cluster["jobs"]]

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    # DELETE answers once Slurm confirmed every job ended: squeue lists none of them any more.
    assert squeue("-j", ",".join(ids), "-o", "%i|%T") == []


async def test_workers_as_one_array_scaled_down_element_by_element(api: Api) -> None:
    code, cluster = await api.call("POST", "clusters", body={"profile": "slurm", "workers": 0})
    assert code == 201, cluster
    cid = cluster["id"]
    # A PATCH while the cluster starts waits for the start (which may outlast a request here).
    await api.wait_for(cid, lambda c: c["status"] == "running", "the cluster running")
    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200
    cluster = await api.wait_for(cid, settled(3), "3 array elements running, 3 workers")
    parents = {j["array"]["parent"] for j in cluster["jobs"]}
    assert len(parents) == 1, cluster["jobs"]
    parent = parents.pop()
    ids = sorted(j["job_id"] for j in cluster["jobs"])
    assert ids == [f"{parent}_{i}" for i in (1, 2, 3)]
    # Slurm's own view: one array job (%F) of three elements, that is one sbatch.
    assert {row[0] for row in squeue("-r", "-j", ",".join(ids), "-o", "%F")} == {parent}

    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    cluster = await api.wait_for(
        cid, settled(1, ended=2), "scale-down to 1: 2 elements cancelled, 1 running"
    )
    alive = squeue("-r", "-j", ",".join(ids), "-o", "%i|%T")
    assert [state for _, state in alive] == ["RUNNING"], alive
    assert [j["job_id"] for j in running_jobs(cluster)] == [alive[0][0]]

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    assert squeue("-r", "-j", ",".join(ids), "-o", "%i|%T") == []


async def test_unknown_partition_is_refused_before_submitting(api: Api) -> None:
    before = all_job_ids()
    code, body = await api.call(
        "POST",
        "clusters",
        body={"profile": "slurm", "workers": 1, "options": {"queue": "no-such-partition"}},
    )
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["queue"]
    assert all_job_ids() <= before


async def test_walltime_above_the_partitions_maxtime_is_refused(api: Api) -> None:
    before = all_job_ids()
    options = {"queue": "short", "walltime": "00:10:00"}
    code, body = await api.call(
        "POST", "clusters", body={"profile": "slurm", "workers": 1, "options": options}
    )
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["walltime"]
    assert "MaxTime" in body["errors"][0]["message"]
    assert all_job_ids() <= before

    # Within the limit the same partition is fine: the profile's options are offered as they are.
    code, body = await api.call("GET", "profiles")
    assert code == 200
    (profile,) = body["profiles"]
    assert profile["schema"]["properties"]["queue"]["enum"] == ["debug", "short"]


async def test_sbatch_refusal_reaches_the_cluster_in_slurms_words(api: Api) -> None:
    # Nothing we can check beforehand: the site's generic resources are Slurm's to know.
    options = {"job_extra_directives": ["--gres=gpu:1"]}
    code, cluster = await api.call(
        "POST", "clusters", body={"profile": "slurm", "workers": 1, "options": options}
    )
    assert code == 201, cluster
    cluster = await api.wait_for(
        cluster["id"], lambda c: c["status"] == "failed", "the cluster failing on sbatch's refusal"
    )
    assert (
        cluster["error"] == "sbatch: sbatch: error: Invalid generic resource (gres) specification"
    )
    assert cluster["jobs"] == []
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204


async def test_slurm_adaptive_scales_up_under_load_then_holds(api: Api) -> None:
    await check_adaptive_scales_up_then_holds(api, "slurm")


async def test_an_idle_slurm_cluster_closes_and_its_job_is_cancelled(
    api: Api, jp_ws_fetch: Any
) -> None:
    ws = await jp_ws_fetch("api", "events", "subscribe")
    cluster = await start(api, "slurm", {})
    await check_idle_cluster_closes(
        api, ws, cluster, lambda: {row[0] for row in squeue("-t", "PD,R,CG", "-o", "%i")}
    )
    ws.close()
