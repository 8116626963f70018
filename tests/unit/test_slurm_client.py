"""Slurm output parsing on outputs recorded from this machine's Slurm 22.05 (recorded/slurm/),
the state table, hostlists and walltimes; no daemons."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import pytest

from pangeo_hpc_ext.backends.slurm import SlurmBackend
from pangeo_hpc_ext.schedulers.base import JobState, QueueInfo
from pangeo_hpc_ext.schedulers.slurm import (
    STATES,
    accounting_disabled,
    expand_hostlist,
    parse_job_table,
    parse_sinfo,
    parse_submitted,
    parse_walltime,
)

RECORDED = Path(__file__).parent / "recorded" / "slurm"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch):
    """Slurm prints local time without a zone; a fixed zone makes the offset we add checkable."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_sbatch_output() -> None:
    assert parse_submitted(recorded("sbatch_submitted.txt")) == "9"
    # What sbatch says when it refuses a job carries no id.
    assert parse_submitted(recorded("sbatch_invalid_partition.stderr")) is None


def test_squeue_pending_and_running(new_york: None) -> None:
    jobs = parse_job_table(recorded("squeue_pending_running.txt"))
    assert sorted(jobs, key=int) == ["1", "2", "3", "4", "5", "6", "7"]

    running = jobs["1"]
    assert (running.state, running.native_state, running.reason) == (
        JobState.RUNNING,
        "RUNNING",
        None,
    )
    assert running.hosts == ("vm",)
    assert running.name == "dask-worker"
    assert running.submitted == "2026-12-01T04:27:41-05:00"
    assert running.started == "2026-12-01T04:27:41-05:00"
    # 10:00 limit, 0:15 elapsed.
    assert running.walltime_left_s == 10 * 60 - 15

    # Pending jobs keep squeue's own reason; they have no host, start or walltime left.
    reasons = {j: jobs[j].reason for j in ("2", "4", "5", "7")}
    assert reasons == {
        "2": "PartitionConfig",  # more CPUs than any node of the partition has
        "4": "Resources",
        "5": "Priority",
        "7": "PartitionTimeLimit",  # a 10 minute job in the 5 minute partition
    }
    for job_id in ("2", "4", "5", "7"):
        info = jobs[job_id]
        assert info.state is JobState.PENDING and info.native_state == "PENDING"
        assert (info.hosts, info.started, info.walltime_left_s) == ((), None, None)
        assert info.submitted == "2026-12-01T04:27:41-05:00"


def test_squeue_expected_start_and_wait(new_york: None) -> None:
    """Recorded on Slurm 22.05: a job held for memory while another runs; squeue --start
    printed 2026-12-06T20:25:49 for it, the running job's end."""
    jobs = parse_job_table(recorded("squeue_expected_start.txt"))
    pending, running = jobs["92"], jobs["91"]
    assert pending.state is JobState.PENDING and pending.started is None
    assert pending.expected_start == "2026-12-06T20:25:49-05:00"
    # A running job's %S is its start, not an estimate.
    assert running.expected_start is None
    assert running.started == "2026-12-06T20:24:49-05:00"
    assert running.waiting_s() == 1
    later = datetime.fromisoformat("2026-12-06T20:28:48-05:00")
    assert pending.waiting_s(now=later) == 240
    # Before the scheduler's first pass squeue says N/A: no estimate.
    assert all(
        j.expected_start is None
        for j in parse_job_table(recorded("squeue_pending_running.txt")).values()
    )


def test_squeue_ended_jobs() -> None:
    jobs = parse_job_table(recorded("squeue_ended.txt"))
    summary = {j: (i.state, i.native_state, i.reason) for j, i in jobs.items()}
    assert summary == {
        "2": (JobState.FINISHED, "CANCELLED", "CANCELLED"),  # cancelled while pending
        "3": (JobState.FINISHED, "CANCELLED", "CANCELLED"),  # cancelled while running
        "4": (JobState.FINISHED, "CANCELLED", "CANCELLED"),
        "6": (JobState.FINISHED, "COMPLETED", None),
        "8": (JobState.FAILED, "FAILED", "FAILED: NonZeroExitCode"),
        "5": (JobState.FAILED, "TIMEOUT", "TIMEOUT"),
        "7": (JobState.FINISHED, "CANCELLED", "CANCELLED"),
    }
    assert all(i.finished and i.walltime_left_s is None for i in jobs.values())
    # A job cancelled while it waited shows its cancel time as start time: it never started.
    assert jobs["2"].started is None and jobs["2"].hosts == ()
    assert jobs["5"].hosts == ("vm",) and jobs["5"].started is not None


def test_squeue_about_a_job_it_no_longer_knows() -> None:
    # Asked about one job only, squeue exits 1 with this; SlurmClient reads it as "not known".
    assert "Invalid job id specified" in recorded("squeue_unknown_job.stderr")


def test_sacct_without_accounting() -> None:
    assert accounting_disabled(recorded("sacct_disabled.stderr"))


def test_rows_that_are_not_jobs_are_skipped() -> None:
    assert parse_job_table("\nslurm_load_jobs error: Invalid job id specified\n") == {}


def test_sinfo_partitions() -> None:
    debug, short = parse_sinfo(recorded("sinfo_partitions.txt"))
    assert (debug.name, debug.default, debug.max_walltime_min) == ("debug", True, None)
    assert (short.name, short.default, short.max_walltime_min) == ("short", False, 5)
    assert short.extra["max_walltime_s"] == 300
    for partition in (debug, short):
        assert partition.extra["cpus_per_node"] == 2
        assert partition.extra["memory_mb_per_node"] == 22057
        assert partition.extra["available"] == "up"


def test_sinfo_partition_over_node_groups_takes_the_largest_node() -> None:
    text = (
        "gpu|up|2-00:00:00|32|192000\nbatch*|up|1-00:00:00|64|256000\ngpu|up|2-00:00:00|64+|96000\n"
    )
    gpu, batch = parse_sinfo(text)
    assert (gpu.name, gpu.max_walltime_min) == ("gpu", 2 * 24 * 60)
    assert gpu.extra["cpus_per_node"] == 64 and gpu.extra["memory_mb_per_node"] == 192000
    assert batch.default and not gpu.default


# What job_state_string() of Slurm 22.05 can print: the base states in slurm.h's order, then the
# state flags it prints instead of the base state.
SLURM_BASE_STATES = [
    "PENDING",
    "RUNNING",
    "SUSPENDED",
    "COMPLETED",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "OUT_OF_MEMORY",
]
SLURM_FLAG_STATES = [
    "CONFIGURING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SPECIAL_EXIT",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "REVOKED",
]


def ours(state: JobState) -> set[str]:
    return {native for native, mapped in STATES.items() if mapped is state}


def test_state_table_covers_every_slurm_state() -> None:
    assert sorted(STATES) == sorted(SLURM_BASE_STATES + SLURM_FLAG_STATES)


def test_state_table_follows_slurms_own_rules() -> None:
    # slurm.h IS_JOB_FINISHED: a base state after SUSPENDED. A REVOKED job is this cluster's
    # withdrawn copy of a federated job: ended here too.
    ended = ours(JobState.FINISHED) | ours(JobState.FAILED)
    assert ended == set(SLURM_BASE_STATES[3:]) | {"REVOKED"}
    # Ended without anything going wrong: completed, or ended on purpose.
    assert ours(JobState.FINISHED) == {"COMPLETED", "CANCELLED", "REVOKED"}
    assert ours(JobState.SUSPENDED) == {"SUSPENDED", "STOPPED"}
    # Flags of a job that holds its allocation, beside RUNNING itself.
    assert ours(JobState.RUNNING) == {"RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"}


@pytest.mark.parametrize("native", SLURM_BASE_STATES + SLURM_FLAG_STATES)
def test_every_state_through_the_parser(native: str) -> None:
    # sacct prints "CANCELLED by <uid>"; the first word is the state.
    row = (
        f"42|{native} by 0|n[1-2]|2026-12-01T04:27:41|2026-12-01T04:27:42|1:00:00|10:00|debug|None"
        "|dask-c0"
    )
    info = parse_job_table(row)["42"]
    assert (info.state, info.native_state) == (STATES[native], native)
    assert info.hosts == ("n1", "n2")
    assert info.walltime_left_s == (50 * 60 if info.state is JobState.RUNNING else None)
    ended_reason = None if native == "COMPLETED" else native
    assert info.reason == (ended_reason if info.finished else None)


def test_unknown_state_stays_killable() -> None:
    info = parse_job_table("7|SOMETHING_NEW||N/A|N/A|UNLIMITED|0:00|debug|None|x")["7"]
    assert info.state is JobState.PENDING and info.native_state == "SOMETHING_NEW"


def test_hostlist_expansion_matches_scontrol_show_hostnames() -> None:
    # recorded: `scontrol show hostnames 'node[01-03,7],gpu5,rack[1-2]-n[8-9],x[098-101]'`
    expected = recorded("scontrol_show_hostnames.txt").split()
    assert expand_hostlist("node[01-03,7],gpu5,rack[1-2]-n[8-9],x[098-101]") == expected


def test_hostlist_single_names() -> None:
    assert expand_hostlist("vm") == ["vm"]
    assert expand_hostlist("a,b") == ["a", "b"]
    assert expand_hostlist("") == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30 * 60),  # minutes
        ("1:30", 90),  # minutes:seconds
        ("00:10:00", 600),  # hours:minutes:seconds
        ("12:00:00", 12 * 3600),
        ("2-3", (2 * 24 + 3) * 3600),  # days-hours
        ("2-03:04", (2 * 24 + 3) * 3600 + 4 * 60),  # days-hours:minutes
        ("1-00:00:01", 24 * 3600 + 1),  # days-hours:minutes:seconds
        ("UNLIMITED", None),
        ("infinite", None),
    ],
)
def test_walltime_formats(text: str, seconds: int | None) -> None:
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "1:75", "1:60:00", "1-24", "-5", "1h"])
def test_walltime_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_walltime(text)


# Backend checks that only need the partitions sinfo listed (recorded), not a daemon.


@pytest.fixture
def backend() -> SlurmBackend:
    backend = SlurmBackend()
    backend._queue_infos = parse_sinfo(recorded("sinfo_partitions.txt"))
    return backend


def options(**changes: object) -> dict[str, object]:
    return {"cores": 1, "memory": "1GB", "processes": 1, "walltime": "00:10:00", **changes}


def fields(backend: SlurmBackend, **changes: object) -> list[str]:
    return [e.field for e in backend.check_options(options(**changes))]


def test_backend_accepts_what_fits(backend: SlurmBackend) -> None:
    assert fields(backend, queue="debug", walltime="7-00:00:00") == []
    assert fields(backend, queue="short", walltime="5") == []
    assert fields(backend) == []  # no queue: the default partition (debug, unlimited)


def test_backend_refuses_walltime_above_maxtime(backend: SlurmBackend) -> None:
    errors = backend.check_options(options(queue="short", walltime="00:05:01"))
    assert [e.field for e in errors] == ["walltime"]
    assert "'short'" in errors[0].message and "5 minutes" in errors[0].message


def test_backend_refuses_jobs_no_node_can_hold(backend: SlurmBackend) -> None:
    assert fields(backend, cores=4, processes=1) == ["cores"]
    assert fields(backend, memory="64GB") == ["memory"]


def test_backend_refuses_bad_values(backend: SlurmBackend) -> None:
    assert fields(backend, walltime="1:75") == ["walltime"]
    assert fields(backend, walltime="0") == ["walltime"]
    assert fields(backend, memory="lots") == ["memory"]
    assert fields(backend, cores=2, processes=3) == ["processes"]


def test_backend_schema_offers_the_partitions(backend: SlurmBackend) -> None:
    backend._queues_read_at = time.monotonic()  # the recorded list counts as fresh
    schema = asyncio.run(backend.options_schema({}))
    assert schema["properties"]["queue"]["enum"] == ["debug", "short"]
    limited = asyncio.run(backend.options_schema({"queue": ["short"]}))
    assert limited["properties"]["queue"]["enum"] == ["short"]


def test_queue_info_default_partition(backend: SlurmBackend) -> None:
    assert backend.cached_queue(None) == QueueInfo(
        name="debug",
        default=True,
        max_walltime_min=None,
        extra={
            "max_walltime_s": None,
            "available": "up",
            "cpus_per_node": 2,
            "memory_mb_per_node": 22057,
        },
    )


def test_a_job_name_may_hold_the_delimiter() -> None:
    (job,) = parse_job_table(
        "9|RUNNING|vm|2026-12-01T04:27:41|2026-12-01T04:27:41|10:00|0:15|debug|None|a|b\n"
    ).values()
    assert (job.name, job.reason, job.state) == ("a|b", None, JobState.RUNNING)
