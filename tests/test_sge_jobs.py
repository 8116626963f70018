"""SGEClient against real Grid Engine (`.ci/gridengine.sh up`, then source the env file it
writes): submit, states from qstat, pending and error reasons, walltime ends from qacct, qdel."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from pangeo_hpc_ext.backends.sge import SGEBackend
from pangeo_hpc_ext.errors import SchedulerCommandFailed
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.schedulers.sge import SGEClient
from tests.support.server_process import wait_until


def require_sge() -> None:
    """Skip without Grid Engine, unless PANGEO_HPC_REQUIRE_SGE=1 says it must be there (CI)."""
    missing = None
    if shutil.which("qstat") is None:
        missing = "qstat is not on PATH"
    elif not os.environ.get("SGE_ROOT"):
        missing = "SGE_ROOT is not set (source the file `.ci/gridengine.sh up` writes)"
    if missing is None:
        return
    message = f"Grid Engine unavailable: {missing}"
    if os.environ.get("PANGEO_HPC_REQUIRE_SGE") == "1":
        pytest.fail(f"{message}, and PANGEO_HPC_REQUIRE_SGE=1")
    pytest.skip(message)


def qstat_job_ids() -> set[str]:
    """Every job Grid Engine holds for this user, as qstat itself lists them: `-g d` gives each
    element of an array its own line, its index in the ja-task-ID column (`123.4` then)."""
    out = subprocess.run(
        ["qstat", "-g", "d", "-u", os.environ.get("USER") or "root"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    if not lines:
        return set()
    task_column = lines[0].index("ja-task-ID")
    ids = set()
    for line in lines[2:]:
        if line.strip():
            task = line[task_column:].strip()
            ids.add(f"{line.split()[0]}.{task}" if task else line.split()[0])
    return ids


def sleep_script(seconds: int, *directives: str) -> str:
    lines = ["#!/bin/sh", "#$ -N pangeo-sge-test", "#$ -o /dev/null", "#$ -j y"]
    lines += [f"#$ {d}" for d in directives]
    return "\n".join([*lines, f"sleep {seconds}", ""])


class Jobs:
    """A client plus the ids it submitted, all deleted at the end of the test."""

    def __init__(self) -> None:
        self.client = SGEClient()
        self.ids: list[str] = []

    def submit(self, script: str) -> str:
        job_id = asyncio.run(self.client.submit(script))
        self.ids.append(job_id)
        return job_id

    def states(self, *job_ids: str) -> dict[str, JobInfo]:
        return asyncio.run(self.client.job_states(list(job_ids)))

    def wait(self, job_id: str, check: Any, what: str, timeout: float = 90.0) -> JobInfo:
        def reached() -> JobInfo | None:
            info = self.states(job_id)[job_id]
            return info if check(info) else None

        return wait_until(reached, f"job {job_id}: {what}", timeout=timeout, poll=0.5)


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    require_sge()
    tracked = Jobs()
    yield tracked
    if tracked.ids:
        subprocess.run(["qdel", *tracked.ids], capture_output=True, check=False)


def test_submit_run_on_a_host_then_kill(jobs: Jobs) -> None:
    job_id = jobs.submit(sleep_script(300, "-l h_rt=0:10:0"))
    assert job_id in qstat_job_ids()
    # t (being transferred to the execd) comes first, and is running too.
    info = jobs.wait(job_id, lambda i: i.native_state == "r", "running (r)")
    assert info.state is JobState.RUNNING
    assert info.hosts and info.hosts[0]  # the execution host, from queue_name all.q@HOST
    assert info.started is not None and info.walltime_left_s is not None
    assert 0 < info.walltime_left_s <= 600

    asyncio.run(jobs.client.kill([job_id]))
    ended = jobs.wait(job_id, lambda i: i.finished, "gone after qdel")
    assert (ended.native_state, ended.state) == ("z", JobState.FINISHED)  # deleted as asked
    assert job_id not in qstat_job_ids()
    # Deleting it again is no error: it ended.
    asyncio.run(jobs.client.kill([job_id]))


def test_pending_job_says_why(jobs: Jobs) -> None:
    job_id = jobs.submit(sleep_script(60, "-pe smp 64"))  # 8 slots exist
    info = jobs.wait(job_id, lambda i: i.reason is not None, "a pending reason", timeout=60)
    assert (info.state, info.native_state) == (JobState.PENDING, "qw")
    assert "smp" in info.reason, info.reason
    assert info.submitted is not None and not info.hosts


def test_walltime_reached_ends_the_job_with_the_reason_from_accounting(jobs: Jobs) -> None:
    job_id = jobs.submit(sleep_script(300, "-l h_rt=0:0:20"))
    jobs.wait(job_id, lambda i: i.state is JobState.RUNNING, "running")
    info = jobs.wait(job_id, lambda i: i.finished, "ended by h_rt", timeout=120)
    assert info.state is JobState.FAILED
    assert info.reason is not None and "h_rt" in info.reason, info.reason


def test_qsub_refusal_keeps_grid_engines_words(jobs: Jobs) -> None:
    with pytest.raises(SchedulerCommandFailed) as refused:
        jobs.submit(sleep_script(1, "-q no-such.q"))
    assert 'unknown queue "no-such.q"' in refused.value.message


def test_queues_and_their_walltime_limits(jobs: Jobs) -> None:
    queues = {q.name: q for q in asyncio.run(jobs.client.queues())}
    assert queues["all.q"].max_walltime_min is None
    assert queues["short.q"].max_walltime_min == 5


def test_a_job_in_error_state_fails_with_its_error_and_is_deleted(jobs: Jobs) -> None:
    job_id = jobs.submit(sleep_script(1, "-wd /nonexistent-pangeo-dir"))
    info = jobs.wait(job_id, lambda i: i.state is JobState.FAILED, "error state")
    assert info.native_state.startswith("E")
    assert info.reason is not None and "/nonexistent-pangeo-dir" in info.reason
    # The backend deletes it: an Eqw job never runs unless an admin clears it.
    states = asyncio.run(SGEBackend().job_states([job_id]))
    assert states[job_id].state is JobState.FAILED
    wait_until(lambda: job_id not in qstat_job_ids(), f"job {job_id} deleted from the queue")
