"""Which job ledgers a starting server reconciles, decided from the owner record and the answers
of the process table and the scheduler. $HOME (and so the ledgers) is shared by every node."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from pangeo_hpc_ext.core.ledger import (
    BatchJob,
    JobLedger,
    LedgerOwner,
    job_alive_from,
    judge_owner,
    own_batch_job,
)
from pangeo_hpc_ext.errors import SchedulerCommandFailed

HERE = "login1"
LSF_JOB = BatchJob("lsf", "4711")


def owner(host: str | None, job: BatchJob | None = None) -> LedgerOwner:
    return LedgerOwner(pid=1234, started=1.0, host=host, job=job)


@pytest.mark.parametrize(
    ("host", "process_alive", "orphaned"),
    [(HERE, True, False), (HERE, False, True), (None, True, False), (None, False, True)],
    ids=["this host, alive", "this host, dead", "no host (old), alive", "no host (old), dead"],
)
def test_this_hosts_ledger_is_orphaned_when_its_process_is_gone(
    host: str | None, process_alive: bool, orphaned: bool
) -> None:
    # The server's own batch job does not matter here: the process table is the better witness.
    for job_alive in (True, False, None):
        verdict = judge_owner(
            owner(host, LSF_JOB), HERE, process_alive=process_alive, job_alive=job_alive
        )
        assert verdict.orphaned is orphaned, verdict.why


@pytest.mark.parametrize("job_alive", [True, False, None])
def test_another_hosts_ledger_without_a_job_is_never_orphaned(job_alive: bool | None) -> None:
    # That its pid does not exist here says nothing: the pid lives on node7.
    verdict = judge_owner(owner("node7"), HERE, process_alive=False, job_alive=job_alive)
    assert not verdict.orphaned
    assert verdict.undecided  # logged as a warning: the user may have to act
    assert "node7" in verdict.why and "pid 1234" in verdict.why


@pytest.mark.parametrize(
    ("job_alive", "orphaned", "undecided", "words"),
    [
        (True, False, False, "still running"),
        (False, True, False, "has ended"),
        (None, False, True, "did not say"),
    ],
)
def test_another_hosts_ledger_follows_its_servers_batch_job(
    job_alive: bool | None, orphaned: bool, undecided: bool, words: str
) -> None:
    for process_alive in (True, False, None):
        verdict = judge_owner(
            owner("node7", LSF_JOB), HERE, process_alive=process_alive, job_alive=job_alive
        )
        assert (verdict.orphaned, verdict.undecided) == (orphaned, undecided), verdict.why
        assert words in verdict.why and "batch job 4711 (lsf)" in verdict.why


@pytest.mark.parametrize(
    ("environ", "job"),
    [
        ({"LSB_JOBID": "123"}, BatchJob("lsf", "123")),
        ({"SLURM_JOB_ID": "77"}, BatchJob("slurm", "77")),
        ({"JOB_ID": "9", "SGE_O_HOST": "login1"}, BatchJob("sge", "9")),
        ({"JOB_ID": "9"}, None),  # a variable of that name outside Grid Engine
        ({"PBS_JOBID": "12.pbs01"}, BatchJob("pbs", "12.pbs01")),
        ({"LSB_JOBID": ""}, None),
        ({}, None),
    ],
)
def test_own_batch_job_from_the_schedulers_variables(
    environ: dict[str, str], job: BatchJob | None
) -> None:
    assert own_batch_job(environ) == job


def test_owner_records_round_trip_and_old_records_read_as_this_hosts() -> None:
    record = owner("node7", LSF_JOB)
    assert LedgerOwner.from_json(json.loads(json.dumps(record.to_json()))) == record
    old = LedgerOwner.from_json({"pid": 55, "started": 3.5})
    assert (old.pid, old.host, old.job) == (55, None, None)
    assert old.on_host(HERE) and old.on_host("node7")
    assert LedgerOwner.from_json("garbage").pid == -1


def test_ledger_names_and_owner_carry_host_and_batch_job(tmp_path: Path) -> None:
    first = JobLedger(tmp_path, pid=os.getpid(), host="node7", environ={"LSB_JOBID": "42"})
    second = JobLedger(tmp_path, pid=os.getpid(), host="node/8", environ={})
    assert first.path.name == f"jobs-node7-{os.getpid()}.json"
    assert second.path.name == f"jobs-node_8-{os.getpid()}.json"  # no path tricks from a name
    first.record("c1", "lsf", ["100"])
    second.record("c2", "lsf", ["200"])
    written = json.loads(first.path.read_text())
    assert written["owner"]["host"] == "node7"
    assert written["owner"]["job"] == {"scheduler": "lsf", "id": "42"}
    assert json.loads(second.path.read_text())["owner"]["job"] is None


CLUSTER = "c0ffee0123456789"


def test_orphans_asks_the_scheduler_only_about_other_hosts_jobs(tmp_path: Path) -> None:
    def ledger(name: str, owner: dict, job_id: str) -> Path:
        path = tmp_path / name
        clusters = {CLUSTER: {"backend": "lsf", "job_ids": [job_id]}}
        path.write_text(json.dumps({"owner": owner, "clusters": clusters}))
        return path

    gone = {"pid": 2**22 + 1, "started": 1.0}  # above Linux's pid_max: no such process here
    ledger("jobs-login1-1.json", {**gone, "host": HERE}, "1")
    ledger("jobs-2.json", gone, "2")  # before hosts were recorded
    ledger("jobs-node7-3.json", {**gone, "host": "node7"}, "3")
    ledger(
        "jobs-node8-4.json", {**gone, "host": "node8", "job": {"scheduler": "lsf", "id": "80"}}, "4"
    )
    ledger(
        "jobs-node9-5.json", {**gone, "host": "node9", "job": {"scheduler": "lsf", "id": "90"}}, "5"
    )
    (tmp_path / "jobs-node6-6.json").write_text("{not json")
    asked: list[tuple[str, str]] = []

    async def job_alive(scheduler: str, job_id: str) -> bool | None:
        asked.append((scheduler, job_id))
        return job_id == "80"

    mine = JobLedger(tmp_path, host=HERE, environ={})
    orphans = asyncio.run(mine.orphans(job_alive))
    assert sorted(asked) == [("lsf", "80"), ("lsf", "90")]
    assert sorted(p.name for p in orphans.paths) == [
        "jobs-2.json",
        "jobs-login1-1.json",
        "jobs-node9-5.json",
    ]
    assert sorted(orphans.jobs["lsf"][CLUSTER]) == ["1", "2", "5"]
    orphans.remove()
    assert sorted(p.name for p in tmp_path.glob("jobs-*.json")) == [
        "jobs-node7-3.json",
        "jobs-node8-4.json",
    ]
    # Not JSON: moved aside, never acted on.
    assert [p.name.split(".json")[0] for p in (tmp_path / "quarantine").iterdir()] == [
        "jobs-node6-6"
    ]


class FailingScheduler:
    async def job_states(self, job_ids: list[str]) -> dict:
        raise SchedulerCommandFailed("bjobs", 255, "LSF is down. Please wait ...")


def test_job_alive_without_an_answer_is_none() -> None:
    alive = job_alive_from({"lsf": FailingScheduler()})
    assert asyncio.run(alive("lsf", "1")) is None
    assert asyncio.run(alive("slurm", "1")) is None  # no backend here for that scheduler


def test_a_ledger_disappears_with_its_last_cluster(tmp_path: Path) -> None:
    ledger = JobLedger(tmp_path, host=HERE, environ={})
    ledger.record("c1", "lsf", ["1"])
    ledger.record("c2", "lsf", ["2"])
    ledger.forget("c1")
    assert json.loads(ledger.path.read_text())["clusters"] == {
        "c2": {"backend": "lsf", "job_ids": ["2"]}
    }
    ledger.forget("c2")
    assert not ledger.path.exists()
