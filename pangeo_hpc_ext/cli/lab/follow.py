"""Following a submitted lab job: progress while it waits, then JupyterLab's answer, or why it
ended first. Every decision is taken on our job states; the scheduler's word is only shown."""

from __future__ import annotations

import enum
import subprocess
import sys
import time
from dataclasses import dataclass

from ...errors import SchedulerCommandFailed
from ...schedulers.base import JobInfo, JobState
from .adapters import LabScheduler
from .options import format_walltime
from .report import FROZEN_FIX, Progress, clock, fail, indent, ready_lines, say
from .session import Connection, LabState, Record

POLL_SECONDS = 1.0
# The scheduler may not list a job in the first moments after accepting it.
UNLISTED_GRACE_SECONDS = 10.0
# A busy mbatchd/slurmctld makes a query fail now and then; only a lasting failure is fatal.
QUERY_GRACE_SECONDS = 60.0
# The scheduler delivers the job's output file when the job ends, which can trail its end state.
LOG_DELIVERY_SECONDS = 10.0


class Phase(enum.Enum):
    """Where a lab job is, as `lab` follows it."""

    UNLISTED = "unlisted"  # accepted, not listed by the scheduler yet
    QUEUED = "queued"
    SUSPENDED = "suspended"
    STARTING = "starting"  # running; JupyterLab does not answer yet
    ENDED = "ended"


def phase_of(info: JobInfo | None, since_submit_s: float) -> Phase:
    if info is None:
        return Phase.UNLISTED if since_submit_s < UNLISTED_GRACE_SECONDS else Phase.ENDED
    return {
        JobState.PENDING: Phase.QUEUED,
        JobState.SUSPENDED: Phase.SUSPENDED,
        JobState.RUNNING: Phase.STARTING,
    }.get(info.state, Phase.ENDED)


def walltime_left(
    info: JobInfo, walltime_minutes: int, job_started: float | None, now: float
) -> int | None:
    """Seconds the running job has left: the scheduler's word, else counted from when the job
    script began (the node writes that time)."""
    if info.state is not JobState.RUNNING:
        return None
    if info.walltime_left_s is not None:
        return info.walltime_left_s
    if job_started:
        return int(walltime_minutes * 60 - (now - job_started))
    return None


def job_host(info: JobInfo, connection: Connection | None) -> str:
    # The name the scheduler reports is the one the tunnel reaches (the node bound its address).
    return info.hosts[0] if info.hosts else (connection.node if connection else "")


@dataclass(frozen=True)
class Ready:
    info: JobInfo
    connection: Connection


def print_ready(record: Record, ready: Ready, token: str) -> None:
    lines = ready_lines(
        job_id=record.job_id,
        host=job_host(ready.info, ready.connection),
        port=ready.connection.port,
        requested_port=record.requested_port,
        token=token,
        user=record.user,
        login_host=record.login_host,
        walltime_left_s=walltime_left(
            ready.info, record.walltime_minutes, ready.connection.job_started, time.time()
        ),
    )
    for line in lines:
        say(line)


class Follower:
    """Follows one recorded job until JupyterLab answers (a Ready) or it ends (an exit code)."""

    def __init__(
        self,
        state: LabState,
        adapter: LabScheduler,
        record: Record,
        start_timeout_s: float,
        holder: subprocess.Popen | None,
    ) -> None:
        self.state = state
        self.adapter = adapter
        self.record = record
        self.start_timeout_s = start_timeout_s
        self.holder = holder  # the interactive command holding the job, if any
        self.token = record.session.token()
        self.progress = Progress(record.job_id, live=sys.stdout.isatty())
        self.running_since: float | None = None
        self.query_failing_since: float | None = None

    def until_ready(self) -> Ready | int:
        record, progress = self.record, self.progress
        while True:
            try:
                info = self.adapter.job(record.job_id)
            except SchedulerCommandFailed as exc:
                self._query_failed(exc)
                time.sleep(POLL_SECONDS)
                continue
            self.query_failing_since = None
            phase = phase_of(info, time.time() - record.submitted)
            if phase is Phase.ENDED:
                progress.done()
                return self._ended(info)
            if info is None:  # not listed yet
                pass
            elif phase is Phase.QUEUED:
                where = f"{self.adapter.queue_word} {record.queue}" if record.queue else ""
                progress.pending(info.native_state, where, info.reason or "", record.submitted)
            elif phase is Phase.SUSPENDED:
                progress.other(info.native_state)
            elif (outcome := self._starting(info)) is not None:
                return outcome
            if self.holder is not None and self.holder.poll() is not None:
                # The interactive command returned: the job is over even if the scheduler's
                # listing has not caught up yet.
                progress.done()
                return self._ended(self.adapter.job(record.job_id))
            time.sleep(POLL_SECONDS)

    def _query_failed(self, exc: SchedulerCommandFailed) -> None:
        now = time.monotonic()
        if self.query_failing_since is None:
            self.query_failing_since = now
            self.progress.done()
            say(f"      {exc.command} failed ({str(exc).splitlines()[0]}); retrying ...")
        elif now - self.query_failing_since > QUERY_GRACE_SECONDS:
            raise exc

    def _starting(self, info: JobInfo) -> Ready | int | None:
        record = self.record
        now = time.monotonic()
        host = job_host(info, None)
        if self.running_since is None:
            self.running_since = now
            self.progress.done()
            waited = clock(time.time() - record.submitted)
            where = f"on {host} after {waited} in the queue"
            say(f"{info.native_state:<5} job {record.job_id} started {where}")
            say(f"      waiting for JupyterLab to answer on {host} ...")
        connection = record.session.connection()
        if connection is not None and connection.answers(self.token):
            return Ready(info, connection)
        if now - self.running_since <= self.start_timeout_s:
            return None
        log = record.session.log
        fail(
            f"job {record.job_id} has been {info.native_state} on {host} for "
            f"{clock(now - self.running_since)} but JupyterLab does not answer. Its log (the "
            f"scheduler may only write it when the job ends): {log}\n"
            f"{indent(record.session.log_tail())}\nThe job is left running; fix: {FROZEN_FIX}"
        )
        return 1

    def _ended(self, info: JobInfo | None) -> int:
        record = self.record
        log = record.session.log
        deadline = time.monotonic() + LOG_DELIVERY_SECONDS
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        tail = record.session.log_tail()
        state = info.native_state if info else "gone"
        detail = f" ({info.reason})" if info and info.reason else ""
        fail(f"job {record.job_id} ended {state}{detail} before JupyterLab answered.")
        if self.adapter.reached_walltime(info, tail, record.walltime_minutes):
            fail(
                f"It reached its walltime ({format_walltime(record.walltime_minutes)}): the "
                "walltime is too short; ask for more, e.g. --walltime 01:00."
            )
        kept = self.state.kept_log(record.job_id)
        if log.exists():
            log.replace(kept)
            fail(f"Last lines of its log ({kept}):\n{indent(tail)}")
        else:
            fail("It left no log.")
        self.state.remove(record)
        return 1
