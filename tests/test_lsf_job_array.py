"""Workers as one LSF job array (the `job_array` option, on by default), through the REST API on
the LSF emulator in each LSF it speaks: one bsub per scale-up, one element killed per worker
scaled down while the others run on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.test_lsf_cluster import connected, job_states, start_lsf, unfinished_records


def submissions(lsf_env) -> int:
    """How many bsub calls the emulated LSF accepted: each takes the next job id."""
    state = json.loads((lsf_env.home / "state.json").read_text())
    return int(state["next_id"]) - 1


@pytest.fixture(params=["lsf10", "lsf9", "openlava"])
def lsf_knobs(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"dialect": request.param}


async def test_scale_up_is_one_array_and_scale_down_kills_elements(api: Api, lsf_env) -> None:
    cid = (await start_lsf(api, 0))["id"]
    # A PATCH while the cluster starts waits for the start (which may outlast a request here).
    await api.wait_for(cid, lambda c: c["status"] == "running", "the cluster running")
    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200
    cluster = await api.wait_for(
        cid,
        lambda c: connected(3)(c) and job_states(c) == ["RUN"] * 3,
        "3 array elements running with 3 workers connected",
    )
    assert submissions(lsf_env) == 1, "a scale-up by 3 is one bsub"
    parent = cluster["jobs"][0]["array"]["parent"]
    assert sorted(j["job_id"] for j in cluster["jobs"]) == [f"{parent}[{i}]" for i in (1, 2, 3)]
    assert sorted(j["array"]["index"] for j in cluster["jobs"]) == [1, 2, 3]
    assert {j["array"]["parent"] for j in cluster["jobs"]} == {parent}
    # LSF's own view: one job id, elements named after the array.
    records = unfinished_records(lsf_env)
    assert {r["JOBID"] for r in records} == {parent}
    assert sorted(r["JOB_NAME"] for r in records) == [f"dask-{cid}[{i}]" for i in (1, 2, 3)]

    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    cluster = await api.wait_for(
        cid,
        lambda c: connected(1)(c) and job_states(c) == ["EXIT", "EXIT", "RUN"],
        "scale-down to 1: 2 elements killed (EXIT), 1 still running",
    )
    running = [j for j in cluster["jobs"] if j["native_state"] == "RUN"]
    assert [r["JOB_NAME"] for r in unfinished_records(lsf_env)] == [
        f"dask-{cid}[{running[0]['array']['index']}]"
    ]
    assert submissions(lsf_env) == 1

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    assert unfinished_records(lsf_env) == []


async def test_off_submits_one_job_per_worker(api: Api, lsf_env) -> None:
    cid = (await start_lsf(api, 3, job_array=False))["id"]
    cluster = await api.wait_for(cid, connected(3), "3 workers connected")
    assert submissions(lsf_env) == 3
    assert all(job["array"] is None for job in cluster["jobs"])
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
