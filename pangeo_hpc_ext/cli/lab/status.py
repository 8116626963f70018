"""`pangeo-hpc status` and `pangeo-hpc stop`: the recorded lab job, asked of its scheduler."""

from __future__ import annotations

import enum
import json
import time
from typing import Any

from ...errors import SchedulerCommandFailed
from ...schedulers.base import JobInfo, JobState
from .adapters import LabScheduler, adapter_for
from .follow import job_host, walltime_left
from .report import FROZEN_FIX, clock, fail, lab_url, say, ssh_line
from .run import KILL_WAIT_SECONDS
from .session import LabState, Record


class ServerState(str, enum.Enum):
    """JupyterLab's state in the lab job, as `status` reports it."""

    NONE = "none"  # no lab job recorded
    PENDING = "pending"
    SUSPENDED = "suspended"
    STARTING = "starting"  # running, JupyterLab has not answered yet
    RUNNING = "running"
    FROZEN = "frozen"  # running, JupyterLab answered once and no longer does
    ENDED = "ended"

    @property
    def healthy(self) -> bool:
        return self in (ServerState.PENDING, ServerState.STARTING, ServerState.RUNNING)


def server_state(info: JobInfo | None, connected: bool, answering: bool) -> ServerState:
    if info is None or info.state.ended:
        return ServerState.ENDED
    if info.state is JobState.PENDING:
        return ServerState.PENDING
    if info.state is JobState.SUSPENDED:
        return ServerState.SUSPENDED
    if not connected:
        return ServerState.STARTING
    return ServerState.RUNNING if answering else ServerState.FROZEN


# Same keys as a recorded job's status, so scripts can read `status --json` without special cases.
NO_JOB_STATUS: dict[str, Any] = {
    "job_id": None,
    "scheduler": None,
    "state": None,
    "server": ServerState.NONE.value,
    "host": None,
    "port": None,
    "url": None,
    "ssh": None,
    "walltime_left_s": None,
    "queue": None,
    "interactive": None,
    "log": None,
}


def describe(record: Record, adapter: LabScheduler) -> dict[str, Any]:
    info = adapter.job(record.job_id)
    connection = record.session.connection()
    token = record.session.token()
    running = info is not None and info.state is JobState.RUNNING
    answering = running and connection is not None and connection.answers(token)
    server = server_state(info, connection is not None, answering)
    host = job_host(info, connection) if info else (connection.node if connection else "")
    port = connection.port if connection else None
    left = None
    if info is not None:
        started = connection.job_started if connection else None
        left = walltime_left(info, record.walltime_minutes, started, time.time())
    return {
        "job_id": record.job_id,
        "scheduler": record.scheduler,
        "state": info.native_state if info else "UNKNOWN",
        "server": server.value,
        "host": host or None,
        "port": port,
        "url": lab_url(port, token) if port else None,
        "ssh": ssh_line(record.user, record.login_host, host, port) if port and host else None,
        "walltime_left_s": left,
        "queue": record.queue,
        "interactive": record.interactive,
        "log": str(record.session.log),
    }


def reachable(record: Record) -> LabScheduler | None:
    """The recorded job's scheduler when its commands are on PATH; otherwise says what is
    missing."""
    adapter = adapter_for(record.scheduler)
    if missing := adapter.missing():
        fail(adapter.no_commands_message(missing))
        return None
    return adapter


def show_status(state: LabState, as_json: bool) -> int:
    record = state.load()
    if record is None:
        if as_json:
            print(json.dumps(NO_JOB_STATUS))
        else:
            say(f"No lab job (nothing recorded in {state.root}). Start one with `pangeo-hpc lab`.")
        return 1
    adapter = reachable(record)
    if adapter is None:
        return 1
    try:
        status = describe(record, adapter)
    except SchedulerCommandFailed as exc:
        fail(f"could not ask the scheduler: {exc}")
        return 1
    if as_json:
        print(json.dumps(status))
    else:
        print_status(status, adapter.title)
    return 0 if ServerState(status["server"]).healthy else 1


def print_status(status: dict[str, Any], scheduler_title: str) -> None:
    left = status["walltime_left_s"]
    rows = [
        ("job", status["job_id"]),
        ("scheduler", scheduler_title),
        ("state", status["state"]),
        ("server", status["server"]),
        ("host", status["host"] or "-"),
        ("port", status["port"] or "-"),
        ("walltime left", clock(left) if left else "-"),
        ("url", status["url"] or "-"),
        ("tunnel", status["ssh"] or "-"),
    ]
    for name, value in rows:
        say(f"{name:<14}{value}")
    server = ServerState(status["server"])
    if server is ServerState.FROZEN:
        say(
            f"JupyterLab does not answer although the job is {status['state']} (frozen). "
            f"Fix: {FROZEN_FIX}"
        )
    elif server is ServerState.ENDED:
        say(f"The job has ended; see {status['log']}. `pangeo-hpc stop` clears the record.")


def stop(state: LabState) -> int:
    record = state.load()
    if record is None:
        say(f"No lab job recorded in {state.root}; nothing to stop.")
        return 0
    adapter = reachable(record)
    if adapter is None:
        return 1
    job_id = record.job_id
    try:
        info = adapter.job(job_id)
    except SchedulerCommandFailed as exc:
        # States unreadable is no reason to leave the job running: bkill may still get through.
        say(f"Could not read job {job_id}'s state ({exc}); killing it all the same.")
        info = None
        unread = True
    else:
        unread = False
    if not unread and (info is None or info.state.ended):
        say(f"Job {job_id} had already ended ({info.native_state if info else 'gone'}).")
        state.remove(record)
        say(f"Removed its record and session directory from {state.root}.")
        return 0
    try:
        adapter.kill(job_id)
    except SchedulerCommandFailed as exc:
        fail(f"could not stop job {job_id}: {exc}")
        return 1
    kept = f"the record is kept (see {adapter.see_job(job_id)}; run `pangeo-hpc stop` again)"
    try:
        ended = adapter.wait_ended(job_id, KILL_WAIT_SECONDS)
    except SchedulerCommandFailed as exc:
        fail(
            f"asked {adapter.title} to kill job {job_id} but cannot confirm it ended: {exc}; {kept}"
        )
        return 1
    if not ended:
        fail(
            f"asked {adapter.title} to kill job {job_id} but it has not ended after "
            f"{KILL_WAIT_SECONDS:.0f} s; {kept}"
        )
        return 1
    if info is not None:
        where = f" on {info.hosts[0]}" if info.hosts else ""
        say(f"Killed job {job_id} (was {info.native_state}{where}).")
    else:
        say(f"Killed job {job_id}.")
    state.remove(record)
    say(f"Removed its record and session directory from {state.root}.")
    return 0
