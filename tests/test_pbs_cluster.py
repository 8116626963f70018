"""PBS clusters through the REST API on real OpenPBS (.ci/openpbs.sh): real qsub/qstat/qdel, real
Dask workers as batch jobs. Skipped without PBS unless PANGEO_HPC_REQUIRE_PBS=1."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.schedulers.arrays import PBS_ARRAYS
from pangeo_hpc_ext.schedulers.pbs import PBSClient
from tests.conftest import Api
from tests.support.adaptive import check_adaptive_scales_up_then_holds
from tests.support.arrays import scale_down_to_one, three_workers_as_one_array
from tests.support.dask_client import cluster_client
from tests.support.kernel import Kernel
from tests.support.pbs import command
from tests.test_notebook_clusters import notebook_cluster

PBS_DEFAULTS = {
    "interface": "lo",
    "cores": 1,
    "memory": "1GB",
    "walltime": "00:10:00",
    "queue": "workq",
}


@pytest.fixture
def pangeo_config(tmp_path: Path) -> dict[str, Any]:
    defaults = {**PBS_DEFAULTS, "log_directory": str(tmp_path / "job-logs")}
    return {
        "job_poll_interval": 0.5,
        "profiles": {"pbs": {"backend": "pbs", "defaults": defaults}},
    }


def pbs_jobs(*job_ids: str, subjobs: bool = False) -> dict[str, dict[str, Any]]:
    """qstat -f -x -F json for these jobs (all unfinished ones without ids); `subjobs`: -t, an
    array's id listed with its elements."""
    argv = ["qstat", "-f", "-F", "json", *(["-t"] if subjobs else [])]
    argv += ["-x", *job_ids] if job_ids else []
    result = command(*argv)
    return json.loads(result.stdout or "{}").get("Jobs") or {}


def unfinished(job_ids: set[str]) -> set[str]:
    """Those of these jobs PBS lists as not finished."""
    return {j for j, a in pbs_jobs(*sorted(job_ids)).items() if a["job_state"] not in "FX"}


def running_jobs(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in cluster["jobs"] if (j["state"], j["native_state"]) == ("running", "R")]


def workers_on_running_jobs(n: int):
    return lambda c: c["workers"]["connected"] == n and len(running_jobs(c)) == n


async def post(api: Api, workers: int, **options: Any) -> tuple[int, Any]:
    body = {"profile": "pbs", "workers": workers, "options": options}
    return await api.call("POST", "clusters", body=body)


async def test_pbs_lifecycle_compute_scale_delete(pbs: str, api: Api) -> None:
    code, cluster = await post(api, 2)
    assert code == 201, cluster
    cid = cluster["id"]
    cluster = await api.wait_for(
        cid, workers_on_running_jobs(2), "2 PBS jobs running (R) with 2 workers"
    )
    assert cluster["status"] == "running"
    ours = {j["job_id"] for j in cluster["jobs"]}
    assert unfinished(ours) == ours
    for job in cluster["jobs"]:
        assert job["hosts"] == [socket.gethostname().split(".")[0]]
        assert 0 < job["walltime_left_s"] <= 600
        assert job["submitted"] and job["started"]
    # What PBS itself holds: our name, queue, walltime and the select dask-jobqueue derived.
    held = pbs_jobs(sorted(ours)[0])[sorted(ours)[0]]
    assert held["Job_Name"] == f"dask-{cid}" and held["queue"] == "workq"
    assert held["Resource_List"]["walltime"] == "00:10:00"
    assert held["Resource_List"]["select"] == "1:ncpus=1:mem=954MB"

    async with cluster_client(cluster) as client:
        assert await client.submit(sum, range(101)) == 5050
        assert len(await client.run(socket.gethostname)) == 2

    # The job-log route reads what a running job's worker wrote: PBS writes it directly to
    # the log directory (-k oed) rather than at the end of the job.
    job_id = sorted(ours)[0]
    code, log = await api.call("GET", "clusters", cid, "jobs", job_id, "log")
    assert code == 200, log
    assert any(f"{job_id}.ER" in f["path"] for f in log["files"]), log
    assert any("distributed.worker" in line for f in log["files"] for line in f["lines"]), log

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200 and cluster["workers"]["requested"] == 3
    await api.wait_for(cid, workers_on_running_jobs(3), "scale-up to 3 running jobs")

    cluster = await scale_down_to_one(
        api,
        cid,
        workers_on_running_jobs,
        "scale-down to 1: 2 jobs deleted (finished, not failed), 1 worker left",
    )
    ours = {j["job_id"] for j in cluster["jobs"]}
    assert len(unfinished(ours)) == 1

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    # DELETE answers after PBS confirmed every job finished.
    assert not unfinished(ours)


async def test_workers_as_one_array_scaled_down_element_by_element(pbs: str, api: Api) -> None:
    cluster, parent, ids = await three_workers_as_one_array(
        api, "pbs", workers_on_running_jobs(3), "3 array elements running (R), 3 workers"
    )
    cid = cluster["id"]
    number, _, server = parent.partition("[]")
    assert ids == [f"{number}[{i}]{server}" for i in (1, 2, 3)]
    # PBS's own view: one array of three subjobs, that is one qsub.
    held = pbs_jobs(parent, subjobs=True)
    assert sorted(held) == sorted([parent, *ids]), held
    assert held[parent]["array_indices_submitted"] == "1-3"
    assert all(held[j]["array_id"] == parent and held[j]["job_state"] == "R" for j in ids)

    # An element's log: PBS names its files after the element ("123[2].server.ER").
    code, log = await api.call("GET", "clusters", cid, "jobs", ids[1], "log")
    assert code == 200, log
    assert {Path(f["path"]).name for f in log["files"]} == {f"{ids[1]}.OU", f"{ids[1]}.ER"}

    cluster = await scale_down_to_one(
        api,
        cid,
        workers_on_running_jobs,
        "scale-down to 1: 2 elements deleted (finished, not failed), 1 running",
    )
    alive = unfinished(set(ids))
    assert len(alive) == 1 and pbs_jobs(*alive)[min(alive)]["job_state"] == "R", alive
    assert [j["job_id"] for j in running_jobs(cluster)] == sorted(alive)

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    # DELETE answers after PBS confirmed every element finished.
    assert not unfinished(set(ids))


async def test_one_kill_ends_every_asked_element_of_a_waiting_array(
    pbs: str, tmp_path: Path
) -> None:
    # OpenPBS drops ids from a qdel of several elements that have not run yet (exit 0): the
    # client's kill must end each one asked for, and no other.
    client = PBSClient()
    script = "\n".join(
        [
            "#!/bin/sh",
            "#PBS -h",
            "#PBS -J 1-7",
            "#PBS -l walltime=00:01:00",
            f"#PBS -o {tmp_path}/",
            f"#PBS -e {tmp_path}/",
            "sleep 60",
        ]
    )
    parent = await client.submit(script)
    ids = [PBS_ARRAYS.element_id(parent, index) for index in range(1, 8)]
    try:
        # One qdel of these three ids ends 2 and 4 only (seen every time on 23.06.06).
        killed = [ids[1], ids[3], ids[5]]  # elements 2, 4 and 6
        await client.kill(killed)
        # An element that never ran ends before qdel answers: no wait, and not after the
        # `qdel -W force` that job_states sends for jobs still listed 10 s after their kill.
        states = await client.job_states(ids)
        assert {j for j, info in states.items() if info.state.ended} == set(killed), states
        assert {states[j].native_state for j in ids if j not in killed} == {"Q"}
    finally:
        command("qdel", parent)


async def test_a_qdeld_worker_job_is_replaced(pbs: str, api: Api) -> None:
    code, cluster = await post(api, 1)
    assert code == 201, cluster
    cid = cluster["id"]
    cluster = await api.wait_for(cid, workers_on_running_jobs(1), "1 PBS job running")
    (first,) = [j["job_id"] for j in cluster["jobs"]]
    assert command("qdel", first).returncode == 0
    cluster = await api.wait_for(
        cid,
        lambda c: (
            workers_on_running_jobs(1)(c) and first not in {j["job_id"] for j in running_jobs(c)}
        ),
        "the qdel'd job replaced by a new running one",
    )
    ended = next(j for j in cluster["jobs"] if j["job_id"] == first)
    assert ended["state"] in ("failed", "finished") and ended["native_state"] == "F", ended
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204


async def test_unknown_queue_is_refused_before_anything_is_submitted(pbs: str, api: Api) -> None:
    before = set(pbs_jobs())
    code, body = await post(api, 1, queue="nosuch")
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["queue"]
    assert "workq" in body["message"] and "short" in body["message"]
    assert set(pbs_jobs()) == before


async def test_walltime_above_the_queue_limit_is_refused(pbs: str, api: Api) -> None:
    # .ci/openpbs.sh's queue short has resources_max.walltime 00:05:00.
    code, body = await post(api, 1, queue="short", walltime="00:06:00")
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["walltime"]
    assert "00:05:00" in body["message"]
    code, cluster = await post(api, 0, queue="short", walltime="00:05:00")
    assert code == 201, cluster
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204


@pytest.mark.parametrize(
    "directive", ["-l walltime=01:00:00", "-lselect=2:ncpus=4", "-q short", "-N other"]
)
async def test_directives_that_override_options_are_refused(
    pbs: str, api: Api, directive: str
) -> None:
    code, body = await post(api, 1, job_extra_directives=[directive])
    assert code == 422, body
    assert all(e["field"].startswith("job_extra_directives") for e in body["errors"]), body


async def test_jobs_that_may_not_be_rerun_are_no_array(pbs: str, api: Api) -> None:
    code, body = await post(api, 2, job_extra_directives=["-r n"])
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["job_array"]
    code, cluster = await post(api, 0, job_extra_directives=["-r n"], job_array=False)
    assert code == 201, cluster
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204


async def test_profile_schema_lists_pbs_queues(pbs: str, api: Api) -> None:
    code, body = await api.call("GET", "profiles")
    assert code == 200
    (profile,) = [p for p in body["profiles"] if p["name"] == "pbs"]
    properties = profile["schema"]["properties"]
    assert sorted(properties["queue"]["enum"]) == ["short", "workq"]
    assert profile["defaults"]["walltime"] == "00:10:00"
    assert properties["job_array"]["default"] is True


async def test_pbs_adaptive_scales_up_under_load_then_holds(pbs: str, api: Api) -> None:
    await check_adaptive_scales_up_then_holds(api, "pbs")


SEED_PBS = """
import json
from dask_jobqueue import PBSCluster
from distributed import Client
cluster = PBSCluster(cores=1, memory="1GB", queue="workq", walltime="00:30:00", interface="lo",
                     scheduler_options={"dashboard_address": "127.0.0.1:0"}, name="seed-pbs",
                     log_directory=LOG_DIRECTORY)
cluster.scale(2)
client = Client(cluster)
client.wait_for_workers(2, timeout=120)
print(json.dumps({"link": client.dashboard_link, "address": cluster.scheduler_address,
                  "jobs": sorted(str(job.job_id) for job in cluster.workers.values())}))
"""


async def test_a_pbs_cluster_started_in_a_kernel_is_listed_with_its_jobs(
    pbs: str, kernel: Kernel, api: Api, tmp_path: Path
) -> None:
    await kernel.start()
    # Without a log directory PBS copies the workers' output into the kernel's working folder.
    code = SEED_PBS.replace("LOG_DIRECTORY", repr(str(tmp_path / "logs")))
    seen = await kernel.run_json(code, timeout=180)
    assert len(seen["jobs"]) == 2

    def jobs_running(cluster: dict[str, Any]) -> bool:
        jobs = {j["job_id"]: j for j in cluster["jobs"]}
        # dask-jobqueue keeps the digits of "12.server" as the job id; the preload reads the
        # full id from each worker's PBS_JOBID.
        numbers = sorted(j.partition(".")[0] for j in jobs)
        return numbers == [j.partition(".")[0] for j in seen["jobs"]] and all(
            j["native_state"] == "R" and j["state"] == "running" and j["hosts"]
            for j in jobs.values()
        )

    cluster = await api.wait_for_listing(
        notebook_cluster(
            seen["address"],
            workers=lambda c: c["workers"] == {"requested": 2, "connected": 2},
            jobs=jobs_running,
        ),
        "the notebook's PBSCluster listed with its 2 jobs running (as qstat says)",
    )
    assert cluster["notebook"]["cluster_class"] == "PBSCluster"
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204
    wait_s = 60
    deadline = asyncio.get_running_loop().time() + wait_s
    ids = {j["job_id"] for j in cluster["jobs"]}
    while unfinished(ids):
        assert asyncio.get_running_loop().time() < deadline, f"PBS jobs {ids} unfinished"
        await asyncio.sleep(0.5)
