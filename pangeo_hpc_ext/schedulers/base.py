"""What a scheduler client answers with: our job states, and one job's record."""

from __future__ import annotations

import abc
import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from .arrays import ArrayElement, JobArrays


class JobState(str, enum.Enum):
    """Our job states, the same for every scheduler; the scheduler's own word stays in
    `JobInfo.native_state` for display."""

    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED)


def job_time(text: str | None) -> datetime | None:
    """An ISO 8601 time of a job (UTC when it names no zone)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    state: JobState
    native_state: str
    # Pending reason while the job waits, end reason once it ended, in the scheduler's words.
    reason: str | None = None
    hosts: tuple[str, ...] = ()
    submitted: str | None = None  # ISO 8601
    started: str | None = None  # ISO 8601
    walltime_left_s: int | None = None
    # The job name the scheduler reports (None where it cannot tell): records and ledgers are
    # untrusted, so a job is killed on their word only when this name is the one we gave it.
    name: str | None = None
    # When the scheduler expects a pending job to start (ISO 8601), where it says.
    expected_start: str | None = None
    # Set when the job is an element of a job array; its job_id is then the element's own.
    array: ArrayElement | None = None

    @property
    def finished(self) -> bool:
        return self.state.ended

    def to_json(self, ended_by: str | None = None) -> dict[str, Any]:
        """`ended_by`: what the server knows of why the job ended, beyond the scheduler's word
        (ClusterManager's `ended_by`)."""
        return {
            "job_id": self.job_id,
            "state": self.state.value,
            "native_state": self.native_state,
            "reason": self.reason,
            "hosts": list(self.hosts),
            "submitted": self.submitted,
            "started": self.started,
            "walltime_left_s": self.walltime_left_s,
            "expected_start": self.expected_start,
            "waiting_s": self.waiting_s(),
            "ended_by": ended_by,
            "array": self.array.to_json() if self.array else None,
        }

    def waiting_s(self, now: datetime | None = None) -> int | None:
        """How long the job waited in the queue: until it started, or until now while it
        pends; None when the scheduler gave no submit time (or the job ended unstarted)."""
        submitted = job_time(self.submitted)
        if submitted is None:
            return None
        if self.started is not None:
            until = job_time(self.started)
        elif self.state is JobState.PENDING:
            until = now or datetime.now(timezone.utc)
        else:
            return None
        return None if until is None else max(0, int((until - submitted).total_seconds()))


@dataclass(frozen=True)
class QueueInfo:
    """A queue (LSF, Grid Engine) or partition (Slurm) as the scheduler lists it."""

    name: str
    default: bool = False
    # Longest walltime a job may ask for here, in minutes; None when unlimited or unknown.
    max_walltime_min: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def clock_seconds(value: str, kind: str) -> int:
    """[[h:]m:]s or plain seconds (hours may pass 24), as PBS and Grid Engine write durations, in
    seconds; ValueError naming `kind` ("a PBS walltime") for anything else."""
    parts = value.strip().split(":")
    if not value.strip() or len(parts) > 3 or not all(re.fullmatch(r"\d+", p) for p in parts):
        raise ValueError(f"{value!r} is not {kind} such as 01:30:00 or 5400")
    if len(parts) > 1 and any(int(p) >= 60 for p in parts[1:]):
        raise ValueError(f"{value!r}: minutes and seconds must be below 60")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def format_clock(seconds: int) -> str:
    """hh:mm:ss, hours past 24 included."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def walltime_left(limit_s: float, elapsed_s: float) -> int:
    """Seconds of walltime left, between 0 and the limit.

    A start stamp a little ahead of this host's clock (another host's clock, a stamp rounded
    up) makes the elapsed time negative: the job then has its whole walltime left, not more
    (0:30:01 for a 00:30 job).
    """
    return int(max(0.0, min(limit_s, limit_s - elapsed_s)))


def distinct_hosts(names: list[str]) -> tuple[str, ...]:
    """Host names once each, in first-seen order (LSF repeats a host once per slot)."""
    seen: dict[str, None] = {}
    for name in names:
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


class SchedulerClient(abc.ABC):
    """One scheduler's commands (its declaration, detection included, is in registry.py). Every
    method runs the scheduler's own command line tools found on PATH; a command that cannot run
    or times out raises SchedulerCommandFailed."""

    name: str
    # A scheduler command that hangs (a stuck mbatchd/slurmctld/qmaster) fails after this long;
    # a submission may take twice as long.
    timeout_s: float = 30.0
    # How this scheduler writes job arrays; None where it has none we use.
    arrays: ClassVar[JobArrays | None] = None

    @abc.abstractmethod
    async def submit(self, script: str) -> str:
        """Submit a job script; the job id, or SchedulerCommandFailed with the scheduler's text."""

    @abc.abstractmethod
    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """The state of many jobs with one scheduler call. Jobs the scheduler no longer knows are
        left out of the answer."""

    @abc.abstractmethod
    async def kill(self, job_ids: list[str]) -> None:
        """Ask the scheduler to end these jobs; jobs that already ended are not an error."""

    def killed_elsewhere(self, job_ids: list[str]) -> None:
        """Another process of ours (a cluster's supervisor) killed these jobs on purpose: read
        their end as asked for, as if `kill` had been called here."""
        return None

    @abc.abstractmethod
    async def queues(self) -> list[QueueInfo]:
        """The queues (partitions) users may submit to."""
