"""LSF clusters through the REST API on the LSF emulator: real bsub/bjobs/bkill, real workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api

LSF_OPTIONS = {
    "cores": 1,
    "memory": "1GB",
    "queue": "normal",
    "walltime": "00:30",
    "interface": "lo",
}


def connected(n: int):
    return lambda c: c["workers"]["connected"] == n


def job_states(cluster: dict[str, Any]) -> list[str]:
    """LSF's own words for the cluster's jobs; each also carries our state, checked to agree."""
    ours = {"PEND": "pending", "RUN": "running", "EXIT": "failed", "DONE": "finished"}
    for job in cluster["jobs"]:
        assert ours.get(job["native_state"], job["state"]) == job["state"], job
    return sorted(j["native_state"] for j in cluster["jobs"])


def unfinished_records(lsf_env) -> list[dict[str, str]]:
    return [r for r in lsf_env.records() if r["STAT"] not in ("DONE", "EXIT")]


async def start_lsf(api: Api, workers: int, **options: Any) -> dict[str, Any]:
    code, cluster = await api.call(
        "POST",
        "clusters",
        body={"profile": "lsf", "workers": workers, "options": {**LSF_OPTIONS, **options}},
    )
    assert code == 201, cluster
    return cluster


async def test_lsf_lifecycle_scale_up_down_delete(api: Api, lsf_env) -> None:
    # One job per worker; their arrays are test_lsf_job_array.py's.
    cluster = await start_lsf(api, 2, job_array=False)
    cid = cluster["id"]
    cluster = await api.wait_for(
        cid,
        lambda c: c["workers"]["connected"] == 2 and job_states(c) == ["RUN", "RUN"],
        "2 LSF jobs running with 2 workers connected",
    )
    assert cluster["status"] == "running"
    for job in cluster["jobs"]:
        assert job["hosts"] in (["node01"], ["node02"])
        assert 0 < job["walltime_left_s"] <= 30 * 60

    # What LSF itself says about the jobs: the #BSUB resources we asked for.
    records = unfinished_records(lsf_env)
    assert sorted(r["JOBID"] for r in records) == sorted(j["job_id"] for j in cluster["jobs"])
    for record in records:
        assert record["QUEUE"] == "normal"
        assert record["NREQ_SLOT"] == "1"
        assert record["RUNTIMELIMIT"] == "30.0"
        assert record["JOB_NAME"] == f"dask-{cid}"
    logs = lsf_env.records(int(records[0]["JOBID"]), fields="jobid output_file error_file")[0]
    # Job output goes to files (LSF would otherwise mail it), named by job id.
    assert logs["OUTPUT_FILE"].endswith(f"-{records[0]['JOBID']}.out"), logs
    assert logs["ERROR_FILE"].endswith(f"-{records[0]['JOBID']}.err"), logs
    memlimit = lsf_env.records(int(records[0]["JOBID"]), fields="jobid memlimit")[0]["MEMLIMIT"]
    assert memlimit.startswith("1000")  # 1GB = 1000 MB, lsf.conf says LSF_UNIT_FOR_LIMITS=MB

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 4})
    assert code == 200 and cluster["workers"]["requested"] == 4
    await api.wait_for(
        cid, lambda c: connected(4)(c) and job_states(c).count("RUN") == 4, "4 jobs and 4 workers"
    )
    assert len(unfinished_records(lsf_env)) == 4

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    cluster = await api.wait_for(
        cid,
        lambda c: connected(1)(c) and job_states(c).count("EXIT") == 3,
        "scale-down to 1: 3 jobs killed (EXIT), 1 worker left",
    )
    assert len(unfinished_records(lsf_env)) == 1

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    # DELETE answers only after every job was killed: nothing unfinished, at once.
    assert unfinished_records(lsf_env) == []


class TestOtherDialects:
    """The LSFs of the field besides IBM 10.1 (the whole suite's default): LSF 9.1 (-o without
    -json) and OpenLava/volclava (15 -o fields; reasons, run limit and hosts from bjobs -l)."""

    @pytest.fixture(params=["lsf9", "openlava"])
    def lsf_knobs(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        return {"dialect": request.param}

    async def test_lifecycle(self, api: Api, lsf_env) -> None:
        cid = (await start_lsf(api, 2, job_array=False))["id"]
        cluster = await api.wait_for(
            cid,
            lambda c: connected(2)(c) and job_states(c) == ["RUN", "RUN"],
            "2 LSF jobs running with 2 workers connected",
        )
        assert cluster["warning"] is None
        for job in cluster["jobs"]:
            assert job["hosts"] in (["node01"], ["node02"])
            assert job["started"] and job["submitted"]
            assert 0 < job["walltime_left_s"] <= 30 * 60
            assert job["reason"] is None
        # 1GB is -M 1000 in MB: lsf.conf's unit for lsf9; volclava's own default (no
        # LSF_UNIT_FOR_LIMITS) for openlava, where dask-jobqueue alone would assume KB.
        job_id = int(cluster["jobs"][0]["job_id"])
        assert lsf_env.records(job_id, fields="jobid memlimit")[0]["MEMLIMIT"] == "1000 M"
        code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 3})
        assert code == 200
        await api.wait_for(
            cid, lambda c: connected(3)(c) and job_states(c).count("RUN") == 3, "3 jobs, 3 workers"
        )
        code, _ = await api.call("DELETE", "clusters", cid)
        assert code == 204
        assert unfinished_records(lsf_env) == []


async def delete_while_bjobs_fails(api: Api, lsf_env) -> str:
    """A DELETE while bjobs fails (mbatchd too loaded to answer queries) and bkill gets through:
    no 204, the cluster listed as closing with the scheduler's words. bjobs answers again after."""
    cid = (await start_lsf(api, 2))["id"]
    await api.wait_for(cid, connected(2), "2 workers connected")
    failing = lsf_env.home / "bjobs_fail"
    failing.write_text("")
    try:
        # Answers after the cluster's close and the 15 s bound on confirming the jobs ended.
        code, body = await api.call("DELETE", "clusters", cid, request_timeout=120)
        assert code == 502, body
        assert "bjobs: LSF is down" in body["message"]
        cluster = await api.cluster(cid)
        assert cluster["status"] == "closing"
        assert "bjobs: LSF is down" in cluster["error"]
    finally:
        failing.unlink()
    return cid


async def test_delete_answers_204_only_once_the_scheduler_confirms(api: Api, lsf_env) -> None:
    cid = await delete_while_bjobs_fails(api, lsf_env)
    # The job refresh now reads the jobs ended and completes the close.
    await api.wait_for_listing(
        lambda clusters: all(c["id"] != cid for c in clusters), "the close completed"
    )
    assert unfinished_records(lsf_env) == []


class TestNoRefresh:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"job_poll_interval": 3600}  # only a DELETE can confirm here

    async def test_a_later_delete_confirms_the_close(self, api: Api, lsf_env) -> None:
        cid = await delete_while_bjobs_fails(api, lsf_env)
        code, _ = await api.call("DELETE", "clusters", cid)
        assert code == 204
        assert unfinished_records(lsf_env) == []
        code, _ = await api.call("GET", "clusters", cid)
        assert code == 404


class TestTwoSlots:
    @pytest.fixture
    def lsf_knobs(self) -> dict[str, Any]:
        return {"slots": 2}

    async def test_jobs_beyond_free_slots_pend(self, api: Api, lsf_env) -> None:
        await check_jobs_beyond_free_slots_pend(api, lsf_env)


async def check_jobs_beyond_free_slots_pend(api: Api, lsf_env) -> None:
    cid = (await start_lsf(api, 2))["id"]
    await api.wait_for(cid, connected(2), "2 workers on the 2 free slots")
    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 4})
    assert code == 200
    cluster = await api.wait_for(
        cid,
        lambda c: job_states(c) == ["PEND", "PEND", "RUN", "RUN"],
        "2 jobs running and 2 pending with 2 slots",
    )
    assert cluster["status"] == "scaling"
    assert cluster["workers"] == {"requested": 4, "connected": 2}
    pending = [j for j in cluster["jobs"] if j["state"] == "pending"]
    assert len(pending) == 2
    assert all(j["hosts"] == [] and j["walltime_left_s"] is None for j in pending)
    assert all(j["native_state"] == "PEND" and j["reason"] for j in pending)

    # Freeing slots lets the pending jobs start, as LSF would dispatch them.
    code, _ = await api.call("PATCH", "clusters", cid, body={"workers": 2})
    assert code == 200
    await api.wait_for(cid, lambda c: connected(2)(c) and c["status"] == "running", "back to 2")


async def test_adaptive_then_manual_scaling(api: Api, lsf_env) -> None:
    cid = (await start_lsf(api, 0))["id"]
    await api.wait_for(cid, lambda c: c["status"] == "running", "the scheduler starting")

    code, cluster = await api.call(
        "PATCH", "clusters", cid, body={"adapt": {"minimum": 1, "maximum": 3}}
    )
    assert code == 200, cluster
    assert cluster["adapt"] == {"minimum": 1, "maximum": 3}
    await api.wait_for(cid, connected(1), "adaptive minimum of 1 worker")

    # Manual scaling after adaptive mode: adaptive stops, the requested size holds.
    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 2})
    assert code == 200, cluster
    assert cluster["adapt"] is None
    cluster = await api.wait_for(cid, connected(2), "manual scale to 2 after adaptive")
    assert cluster["workers"]["requested"] == 2

    code, cluster = await api.call(
        "PATCH", "clusters", cid, body={"adapt": {"minimum": 0, "maximum": 2}}
    )
    assert code == 200
    code, cluster = await api.call("PATCH", "clusters", cid, body={"adapt": None})
    assert code == 200 and cluster["adapt"] is None
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    assert unfinished_records(lsf_env) == []


async def test_delete_while_starting_leaves_no_job(api: Api, lsf_env) -> None:
    cid = (await start_lsf(api, 2))["id"]
    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    assert unfinished_records(lsf_env) == []
    code, _ = await api.call("GET", "clusters", cid)
    assert code == 404


async def test_a_jobs_log_is_only_its_own_files(api: Api, lsf_env, tmp_path) -> None:
    """Issue 17 item 9: a file in the log directory that merely ends in the job id (planted
    `big-<id>.out`) is not served as the job's output."""
    logs = tmp_path / "job-logs"
    cid = (await start_lsf(api, 1, log_directory=str(logs)))["id"]
    cluster = await api.wait_for(cid, connected(1), "the worker connecting")
    job_id = cluster["jobs"][0]["job_id"]
    for planted in (f"big-{job_id}.out", f"bin-{job_id}.err", f"dask-other-0-{job_id}.out"):
        (logs / planted).write_text("not this job's\n")
    code, log = await api.call("GET", "clusters", cid, "jobs", job_id, "log")
    assert code == 200, log
    names = sorted(Path(f["path"]).name for f in log["files"])
    # LSF's -o/-e files are named after the worker, which is named after the cluster; the
    # output file appears when the job ends, stderr (the worker's log) while it runs.
    ours = {f"dask-{cid}-0-{job_id}.err", f"dask-{cid}-0-{job_id}.out"}
    assert f"dask-{cid}-0-{job_id}.err" in names and set(names) <= ours, names
    assert not any("not this job's" in line for f in log["files"] for line in f["lines"])
