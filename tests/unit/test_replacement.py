"""The replacement policy alone: backoff doubling, giving up, fresh start on scale."""

from __future__ import annotations

import asyncio

from pangeo_hpc_ext.backends.jobqueue import WorkerLifetime
from pangeo_hpc_ext.core.replacement import (
    FAILURES_BEFORE_GIVING_UP,
    MAX_BACKOFF_S,
    ReplacementPolicy,
    backoff_s,
)
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState


def ended(job_id: str) -> JobInfo:
    return JobInfo(job_id, JobState.FAILED, "EXIT", reason=f"reason {job_id}")


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_s(n) for n in range(4)] == [0.0, 5.0, 10.0, 20.0]
    assert backoff_s(50) == MAX_BACKOFF_S


def test_failures_in_a_row_delay_then_stop_submissions() -> None:
    policy = ReplacementPolicy()
    for n in range(1, FAILURES_BEFORE_GIVING_UP):
        policy.judge([ended(str(n))], routine=set())
        policy.submitted(now=100.0)
        assert not policy.may_submit(now=100.0 + backoff_s(n) - 0.1)
        assert policy.may_submit(now=100.0 + backoff_s(n))
    policy.judge([ended("last")], routine=set())
    assert policy.gave_up is not None and "reason last" in policy.gave_up
    assert not policy.may_submit(now=10**9)
    policy.reset()
    assert policy.may_submit(now=0.0)


def test_a_routine_end_clears_the_failure_count_and_jobs_are_judged_once() -> None:
    policy = ReplacementPolicy()
    policy.judge([ended("1"), ended("2")], routine=set())
    assert policy.consecutive_failures == 2
    policy.judge([ended("1"), ended("2")], routine=set())
    assert policy.consecutive_failures == 2
    policy.judge([ended("3")], routine={"3"})
    assert policy.consecutive_failures == 0


def test_worker_lifetime_retires_before_the_walltime() -> None:
    for walltime_s in (60, 600, 1800, 12 * 3600):
        lifetime = WorkerLifetime.for_walltime(walltime_s)
        latest = lifetime.lifetime_s + lifetime.stagger_s
        assert 0 < lifetime.lifetime_s - lifetime.stagger_s and latest < walltime_s
        assert lifetime.replace_ahead_s(walltime_s) > walltime_s - latest
    assert WorkerLifetime.for_walltime(1800).worker_args() == [
        "--lifetime",
        "1620s",
        "--lifetime-stagger",
        "90s",
    ]


def test_a_replacement_never_takes_the_name_of_the_worker_it_replaces() -> None:
    """dask closes the job holding a lost worker's name 15 s after that worker left, unless a
    worker of that name is connected: a replacement named like it, still waiting for dispatch,
    was killed (seen on volclava). Names are checked on a real LSFCluster; no job is submitted."""

    from dask_jobqueue import LSFCluster

    from pangeo_hpc_ext.backends.lsf import LSFBackend

    class EndedJob:
        def __init__(self, job_id: str) -> None:
            self.job_id = job_id

    async def names_after_forgetting() -> tuple[list[str], list[str]]:
        async with LSFCluster(
            cores=1,
            memory="1GB",
            asynchronous=True,
            scheduler_options={"host": "127.0.0.1", "dashboard_address": None},
        ) as cluster:
            for n in range(3):
                (name,) = cluster.new_worker_spec()
                cluster.worker_spec[name] = cluster.new_spec
                cluster.workers[name] = EndedJob(str(n))
            before = list(cluster.worker_spec)
            # The newest worker's job ends: the counter sits on its number.
            LSFBackend().forget_ended_workers(cluster, {"2"})
            after = [*cluster.worker_spec, *cluster.new_worker_spec()]
            # Stand-ins, not jobs: nothing for the cluster to close on the way out.
            cluster.workers.clear()
            cluster.worker_spec.clear()
            return before, after

    before, after = asyncio.run(names_after_forgetting())
    assert len(before) == 3 and after[:2] == before[:2]
    assert after[2] not in before, (before, after)
