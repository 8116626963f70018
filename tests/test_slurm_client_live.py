"""SlurmClient against the real Slurm daemons of .ci/slurm.sh: submit, states, reasons, kill,
walltime. Skipped when Slurm is not here, unless PANGEO_HPC_REQUIRE_SLURM=1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pangeo_hpc_ext.errors import SchedulerCommandFailed
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.schedulers.slurm import SlurmClient
from tests.support.lab_cli import require_slurm

WAIT_TIMEOUT_S = 90.0


@pytest.fixture
def slurm() -> None:
    require_slurm()


class Jobs:
    """The client under test, and every job a test submitted, all cancelled afterwards."""

    def __init__(self, log_dir: Path) -> None:
        self.client = SlurmClient()
        self.log_dir = log_dir
        self.ids: list[str] = []

    def script(self, *directives: str, command: str = "sleep 600") -> str:
        lines = ["#!/bin/sh", f"#SBATCH -o {self.log_dir}/%j.out", "#SBATCH --mem=50M"]
        return "\n".join([*lines, *(f"#SBATCH {d}" for d in directives), command, ""])

    async def submit(self, *directives: str, command: str = "sleep 600") -> str:
        job_id = await self.client.submit(self.script(*directives, command=command))
        self.ids.append(job_id)
        return job_id

    async def wait_for(
        self, job_id: str, check: Callable[[JobInfo], bool], what: str, timeout: float
    ) -> JobInfo:
        deadline = time.monotonic() + timeout
        info: JobInfo | None = None
        while time.monotonic() < deadline:
            info = (await self.client.job_states([job_id])).get(job_id)
            if info is not None and check(info):
                return info
            await asyncio.sleep(0.5)
        pytest.fail(f"within {timeout:.0f} s: job {job_id} {what} did not happen; last: {info}")


@pytest.fixture
def jobs(slurm: None, tmp_path: Path) -> Iterator[Jobs]:
    jobs = Jobs(tmp_path)
    yield jobs
    if jobs.ids:
        subprocess.run(["scancel", *jobs.ids], capture_output=True, timeout=30)


def running(info: JobInfo) -> bool:
    return info.state is JobState.RUNNING and info.native_state == "RUNNING"


async def test_submit_run_kill(jobs: Jobs) -> None:
    job_id = await jobs.submit("-J pangeo-test-run", "-t 5")
    info = await jobs.wait_for(job_id, running, "running", WAIT_TIMEOUT_S)
    assert info.hosts == (socket.gethostname().split(".")[0],)
    assert info.started is not None and info.submitted is not None
    assert info.started >= info.submitted
    assert 0 < info.walltime_left_s <= 5 * 60
    assert info.reason is None

    await jobs.client.kill([job_id])
    ended = await jobs.wait_for(job_id, lambda i: i.finished, "ending after scancel", 60)
    assert (ended.state, ended.native_state, ended.reason) == (
        JobState.FINISHED,
        "CANCELLED",
        "CANCELLED",
    )
    # Killing a job that already ended is not an error.
    await jobs.client.kill([job_id])


async def test_pending_with_the_schedulers_reason(jobs: Jobs) -> None:
    debug = next(q for q in await jobs.client.queues() if q.name == "debug")
    too_many = debug.extra["cpus_per_node"] + 1
    # sbatch accepts a job no node of the partition can hold and queues it with a reason.
    job_id = await jobs.submit(f"-c {too_many}", "-t 5")
    info = await jobs.wait_for(
        job_id, lambda i: i.reason is not None, "getting a pending reason", WAIT_TIMEOUT_S
    )
    assert (info.state, info.native_state) == (JobState.PENDING, "PENDING")
    assert info.reason == "PartitionConfig"
    assert (info.hosts, info.started, info.walltime_left_s) == ((), None, None)


async def test_pending_job_has_the_schedulers_expected_start(jobs: Jobs) -> None:
    """A job held for memory while another runs gets Slurm's estimate (`squeue --start`): the
    running one's end at the latest. Each asks for just over half the node's memory, so
    other jobs still fit beside them."""
    debug = next(q for q in await jobs.client.queues() if q.name == "debug")
    memory = debug.extra["memory_mb_per_node"] // 2 + 100
    first = await jobs.submit("-p debug", f"--mem={memory}M", "-t 2", command="sleep 120")
    second = await jobs.submit("-p debug", f"--mem={memory}M", "-t 2", command="sleep 120")
    held = await jobs.wait_for(
        second,
        lambda i: i.expected_start is not None,
        "getting an expected start",
        WAIT_TIMEOUT_S,
    )
    info = await jobs.wait_for(first, running, "running", WAIT_TIMEOUT_S)
    await jobs.client.kill([first, second])
    assert held.state is JobState.PENDING and held.started is None
    assert held.reason in ("Resources", "Priority"), held
    assert info.started is not None and info.expected_start is None
    # At the latest when the running job reaches its 2 minute limit.
    start = datetime.fromisoformat(held.expected_start)
    assert start <= datetime.fromisoformat(info.started) + timedelta(minutes=2, seconds=1)
    assert held.waiting_s() is not None and held.waiting_s() >= 0


async def test_submit_refused_keeps_sbatchs_words(jobs: Jobs) -> None:
    with pytest.raises(SchedulerCommandFailed) as refused:
        await jobs.submit("-p no-such-partition")
    assert "Invalid partition name specified" in refused.value.message
    assert refused.value.message.startswith("sbatch: ")


async def test_one_call_for_many_jobs_known_and_not(jobs: Jobs) -> None:
    done = await jobs.submit("-t 5", command="true")
    await jobs.wait_for(done, lambda i: i.finished, "completing", WAIT_TIMEOUT_S)
    alive = await jobs.submit("-t 5")
    never = "999999999"
    states = await jobs.client.job_states([done, alive, never, done])
    assert sorted(states) == sorted([done, alive])
    assert states[done].native_state == "COMPLETED" and states[done].state is JobState.FINISHED
    assert not states[alive].finished
    # One id squeue does not know: it exits 1; still just "not known".
    assert await jobs.client.job_states([never]) == {}


async def test_partitions(jobs: Jobs) -> None:
    queues = {q.name: q for q in await jobs.client.queues()}
    assert queues["debug"].default and queues["debug"].max_walltime_min is None
    assert not queues["short"].default and queues["short"].max_walltime_min == 5
    assert queues["debug"].extra["cpus_per_node"] == os.cpu_count()


async def test_walltime_reached(jobs: Jobs) -> None:
    """One minute limit, a longer sleep: Slurm ends it as TIMEOUT (its timer runs about every
    30 s, so this takes one to two minutes)."""
    job_id = await jobs.submit("-J pangeo-test-walltime", "-t 1")
    await jobs.wait_for(job_id, running, "running", WAIT_TIMEOUT_S)
    ended = await jobs.wait_for(job_id, lambda i: i.finished, "ending at its walltime", 180)
    assert (ended.state, ended.native_state, ended.reason) == (
        JobState.FAILED,
        "TIMEOUT",
        "TIMEOUT",
    )
