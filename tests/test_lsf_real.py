"""LSF clusters through the REST API of a real server on a real LSF-family scheduler: volclava
(.ci/volclava.sh), with real bsub/bjobs/bkill and real dask workers as batch jobs. No emulator:
volclava's commands are first on PATH and no LSFSIM_* variable is set. Skipped without volclava,
unless PANGEO_HPC_REQUIRE_LSF=1."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.support.adaptive import check_adaptive_scales_up_then_holds
from tests.support.dask_client import cluster_client
from tests.support.volclava import (
    LSF_DEFAULTS,
    LSF_VARIABLES,
    SHORT_QUEUE,
    bjobs_long,
    bjobs_records,
    lsf_command,
    lsf_environ,
    require_lsf,
    unfinished,
)

HOST = socket.gethostname()


@pytest.fixture
def lsf_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaces the suite's emulator: volclava on PATH of this process (and so of the in-process
    server and its supervisors)."""
    require_lsf()
    env = lsf_environ()
    for key in [k for k in os.environ if k.startswith("LSFSIM_")]:
        monkeypatch.delenv(key)
    for key in ("PATH", *LSF_VARIABLES):
        monkeypatch.setenv(key, env[key])


@pytest.fixture
def pangeo_config(tmp_path: Path) -> dict[str, Any]:
    defaults = {**LSF_DEFAULTS, "log_directory": str(tmp_path / "job-logs")}
    return {"profiles": {"lsf": {"backend": "lsf", "defaults": defaults}}}


def running(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in cluster["jobs"] if j["state"] == "running"]


def settled(workers: int, ended: int = 0):
    """`workers` jobs RUN with as many workers connected, and `ended` jobs EXIT/DONE."""

    def check(cluster: dict[str, Any]) -> bool:
        finished = [j for j in cluster["jobs"] if j["state"] in ("finished", "failed")]
        return (
            cluster["workers"]["connected"] == workers
            and len(running(cluster)) == workers
            and all(j["native_state"] == "RUN" for j in running(cluster))
            and len(finished) == ended
        )

    return check


async def post(api: Api, workers: int, **options: Any) -> str:
    body = {"profile": "lsf", "workers": workers, "options": options}
    code, cluster = await api.call("POST", "clusters", body=body)
    assert code == 201, cluster
    return cluster["id"]


async def test_lsf_lifecycle_on_volclava(api: Api, lsf_env: None) -> None:
    cid = await post(api, 2)
    cluster = await api.wait_for(cid, settled(2), "2 volclava jobs RUN with 2 workers connected")
    assert cluster["status"] == "running"
    # The states are read, not guessed: no staleness warning, LSF's own words and hosts.
    assert cluster["warning"] is None, cluster["warning"]
    for job in cluster["jobs"]:
        assert job["hosts"] == [HOST], job
        assert job["submitted"] and job["started"], job
        assert 0 < job["walltime_left_s"] <= 10 * 60, job

    # What volclava itself holds: our queue, job name and run limit, each job RUN on this host.
    ids = [j["job_id"] for j in cluster["jobs"]]
    # One bsub: both jobs are elements of one array, each killed alone below.
    (parent,) = {j["array"]["parent"] for j in cluster["jobs"]}
    assert sorted(ids) == [f"{parent}[1]", f"{parent}[2]"]
    records = bjobs_records(ids)
    assert sorted(records) == sorted(ids)
    for record in records.values():
        assert (record["STAT"], record["QUEUE"], record["EXEC_HOST"]) == ("RUN", "normal", HOST)
        # The 2 workers are one array: each element's name carries its index.
        assert re.fullmatch(rf"dask-{cid}\[[12]\]", record["JOB_NAME"]), record
    long = bjobs_long(ids[0])
    assert re.search(r"RUNLIMIT\s+10\.0 min", long), long
    # -M in volclava's unit: MB when lsf.conf names none (IBM LSF: KB), so 1GB is about 1e9 bytes
    # here, not 1024 times that.
    memlimit = re.search(r"MEMLIMIT\s+(\d+) K", long)
    assert memlimit and 0.9e9 < int(memlimit.group(1)) * 1024 < 1.1e9, long

    async with cluster_client(cluster) as client:
        assert await client.submit(sum, [1, 2, 39]) == 42
        addresses = await client.run(lambda dask_worker: dask_worker.address)
        assert all(a.startswith("tls://127.0.0.1:") for a in addresses.values()), addresses

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200 and cluster["workers"]["requested"] == 3
    await api.wait_for(cid, settled(3), "3 jobs RUN and 3 workers after scaling up")

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    cluster = await api.wait_for(
        cid, settled(1, ended=2), "scale-down to 1: 2 jobs killed, 1 worker left"
    )
    # A worker retired by its scheduler may end its job (DONE) before bkill reaches it (EXIT).
    ended = [j for j in cluster["jobs"] if j["state"] in ("finished", "failed")]
    assert {j["native_state"] for j in ended} <= {"DONE", "EXIT"}, ended
    ids = [j["job_id"] for j in cluster["jobs"]]
    # volclava's own view: the one element left runs on, the others of its array ended.
    assert list(unfinished(ids).values()) == ["RUN"], unfinished(ids)
    assert list(unfinished(ids)) == [j["job_id"] for j in running(cluster)]

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    # 204 only once volclava lists none of the jobs as unfinished: at once, no waiting.
    assert unfinished(ids) == {}


async def test_a_bkilled_worker_is_replaced(api: Api, lsf_env: None) -> None:
    cid = await post(api, 1)
    cluster = await api.wait_for(cid, settled(1), "1 volclava job RUN with its worker")
    (victim,) = [j["job_id"] for j in cluster["jobs"]]
    killed = lsf_command("bkill", victim)
    assert killed.stdout.strip() == f"Job <{victim}> is being terminated", killed
    # Someone else's bkill: the job ends EXIT and a new one takes its place unasked.
    cluster = await api.wait_for(
        cid, settled(1, ended=1), "the bkilled job EXIT and a new job RUN with a worker"
    )
    # volclava's bkill sends SIGINT first: a dask worker takes it as a request to leave and
    # exits 0, so LSF says DONE; a worker still busy when SIGKILL follows makes it EXIT.
    ended = next(j for j in cluster["jobs"] if j["job_id"] == victim)
    assert ended["native_state"] in ("DONE", "EXIT"), ended
    assert cluster["error"] is None and cluster["workers"]["requested"] == 1
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204


async def test_a_computation_outlives_a_walltime(api: Api, lsf_env: None) -> None:
    """-W 1: the worker retires by its lifetime before volclava's run limit and a replacement
    is submitted ahead, so the cluster keeps a worker across the job's end."""
    cid = await post(api, 1, walltime="1")
    # With a 1-minute walltime the replacement is submitted at once, ahead of the first job's end.
    cluster = await api.wait_for(cid, lambda c: c["workers"]["connected"] >= 1, "a worker")
    first = cluster["jobs"][0]["job_id"]
    assert "1.0 min" in bjobs_long(first)
    cluster = await api.wait_for(
        cid,
        lambda c: (
            any(j["job_id"] == first and j["state"] in ("finished", "failed") for j in c["jobs"])
            and any(j["job_id"] != first for j in running(c))
            and c["workers"]["connected"] >= 1
        ),
        "the first job ending at its walltime and a replacement running with a worker",
        timeout=240,
    )
    assert cluster["error"] is None
    async with cluster_client(cluster) as client:
        assert await client.submit(sum, [2, 40]) == 42
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204


async def test_walltime_above_the_queues_runlimit_fails_in_lsfs_words(
    api: Api, lsf_env: None
) -> None:
    before = set(bjobs_records())
    cid = await post(api, 1, queue=SHORT_QUEUE, walltime="00:10")
    cluster = await api.wait_for(cid, lambda c: c["status"] == "failed", "bsub refusing -W 10")
    assert cluster["error"] == (
        "bsub: RUNLIMIT: Cannot exceed queue's hard limit(s). Job not submitted."
    ), cluster
    assert cluster["jobs"] == [] and set(bjobs_records()) == before
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204


async def test_unknown_queue_is_refused_before_submitting(api: Api, lsf_env: None) -> None:
    before = set(bjobs_records())
    code, body = await api.call(
        "POST", "clusters", body={"profile": "lsf", "workers": 1, "options": {"queue": "nosuch"}}
    )
    assert code == 422, body
    assert [e["field"] for e in body["errors"]] == ["queue"]
    assert set(bjobs_records()) == before
    # The queues offered are volclava's, from bqueues.
    code, body = await api.call("GET", "profiles")
    (profile,) = body["profiles"]
    assert profile["schema"]["properties"]["queue"]["enum"] == ["normal", SHORT_QUEUE]


async def test_lsf_adaptive_scales_up_under_load_then_holds(api: Api, lsf_env: None) -> None:
    await check_adaptive_scales_up_then_holds(api, "lsf")
