"""The job table: one JSON file replaced atomically, changed only under an exclusive flock.

Readers (bjobs) read the file without the lock: os.replace makes every version they see whole.
Writers hold the lock only for read-modify-write, never while sleeping or waiting for a job.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import time
from contextlib import contextmanager

from .config import ensure_config, host_slots, write_atomic

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    Job = dict[str, Any]
    State = dict[str, Any]


ACTIVE = ("PEND", "RUN", "PSUSP", "USUSP", "SSUSP")
FINISHED = ("DONE", "EXIT")

TERM_TEXT = {
    "TERM_OWNER": "job killed by owner",
    "TERM_FORCE_OWNER": "job killed by owner without time for cleanup",
    "TERM_RUNLIMIT": "job killed after reaching LSF run time limit",
    "TERM_ORPHAN_SYSTEM": "orphan job was terminated by the system",
}


def state_path(base: str) -> str:
    return os.path.join(base, "state.json")


def job_dir(base: str, key: int | str) -> str:
    return os.path.join(base, "jobs", str(key))


def job_key(job: Job) -> str:
    """A job's key in the table: its id, or `id[index]` for an element of a job array (each
    element is a job of its own there, run and killed alone, as LSF treats them)."""
    index = job.get("index")
    return f"{job['id']}[{index}]" if index else str(job["id"])


def id_order(job: Job) -> tuple[int, int]:
    return (int(job["id"]), int(job.get("index") or 0))


def parse_job_ref(raw: str) -> tuple[int, int | None] | None:
    """(id, index) of a command-line job reference, `123` or `123[4]` (index None for the
    former); None when it is not one (LSF: "Illegal job ID")."""
    match = re.fullmatch(r"(\d+)(?:\[(\d+)\])?", raw.strip())
    if match is None:
        return None
    return int(match.group(1)), (int(match.group(2)) if match.group(2) else None)


def jobs_named(state: State, raw: str) -> list[Job] | None:
    """The jobs a reference names: one job, one element (`123[4]`), or every element of array
    `123`; [] when none is known, None when `raw` is no job reference."""
    ref = parse_job_ref(raw)
    if ref is None:
        return None
    job_id, index = ref
    if index is not None:
        job = state["jobs"].get(f"{job_id}[{index}]")
        return [job] if job is not None else []
    single = state["jobs"].get(str(job_id))
    if single is not None:
        return [single]
    return sorted(
        (job for job in state["jobs"].values() if job["id"] == job_id and job.get("index")),
        key=id_order,
    )


def read_state(base: str) -> State:
    try:
        with open(state_path(base), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"next_id": 1, "jobs": {}}


def state_version(base: str) -> tuple[int, int]:
    """Cheap change detector for pollers: every save replaces the file (new inode, new mtime)."""
    try:
        st = os.stat(state_path(base))
    except FileNotFoundError:
        return (0, 0)
    return (st.st_ino, st.st_mtime_ns)


# Signals to send once the change that explains them is on disk: a supervisor woken (SIGUSR1) or
# whose job dies (bkill's SIGINT) before the save would read the old table and misjudge the job.
_after_save: list[tuple[int, int, bool]] = []  # (pid or pgid, signal, is a process group)


def wake_supervisor(job: Job) -> None:
    if job.get("supervisor_pid"):
        _after_save.append((int(job["supervisor_pid"]), signal.SIGUSR1, False))


def signal_group_after_save(pgid: int | None, sig: int) -> None:
    if pgid:
        _after_save.append((int(pgid), sig, True))


@contextmanager
def locked_state(base: str) -> Iterator[State]:
    """Exclusive read-modify-write of the job table; saved when the block ends without error."""
    os.makedirs(base, exist_ok=True)
    fd = os.open(os.path.join(base, "state.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = read_state(base)
        yield state
        write_atomic(state_path(base), json.dumps(state, separators=(",", ":")))
    finally:
        os.close(fd)
        pending, _after_save[:] = list(_after_save), []
        for target, sig, group in pending:
            if group:
                kill_group(target, sig)
            elif target != os.getpid():
                try:
                    os.kill(target, sig)
                except (ProcessLookupError, PermissionError):
                    pass


def jobs_sorted(state: State) -> list[Job]:
    return sorted(state["jobs"].values(), key=id_order)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int | None, sig: int) -> None:
    if not pgid:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def effective_slots(state: State) -> int | None:
    """LSFSIM_SLOTS from this command's environment wins and is remembered for later commands."""
    value = os.environ.get("LSFSIM_SLOTS")
    if value:
        try:
            state["slots"] = max(int(value), 0)
        except ValueError:
            pass
    return state.get("slots")


def finish_job(job: Job, status: str, exit_code: int | None, reason: str | None) -> None:
    job["status"] = status
    job["exit_code"] = exit_code
    job["exit_reason"] = reason
    job["finish_time"] = time.time()
    job["pend_reason"] = None


def expired(job: Job, clean_period: float, now: float) -> bool:
    """Finished longer ago than CLEAN_PERIOD: LSF forgets the job (bjobs says "not found")."""
    return job["status"] in FINISHED and now - (job.get("finish_time") or now) > clean_period


def purge_old(base: str, state: State, clean_period: float) -> None:
    now = time.time()
    for key, job in list(state["jobs"].items()):
        if expired(job, clean_period, now):
            del state["jobs"][key]
            import shutil

            shutil.rmtree(job_dir(base, job_key(job)), ignore_errors=True)


def reap_orphans(state: State) -> None:
    """A job whose supervisor vanished (killed, machine rebooted) would hold its slots forever."""
    for job in state["jobs"].values():
        if job["status"] in ACTIVE and job.get("supervisor_pid"):
            if not pid_alive(job["supervisor_pid"]):
                kill_group(job.get("pgid"), signal.SIGKILL)
                finish_job(job, "EXIT", None, "TERM_ORPHAN_SYSTEM")


def allocate(free: dict[str, int], job: Job) -> list[str] | None:
    """One host name per slot, or None when the job does not fit now."""
    need = int(job["nslots"])
    if job.get("span_hosts") == 1:
        for host, count in free.items():
            if count >= need:
                return [host] * need
        return None
    ptile = job.get("ptile")
    hosts: list[str] = []
    for host, count in free.items():
        take = min(count, need - len(hosts))
        if ptile:
            if count < min(ptile, need - len(hosts)):
                continue
            take = min(ptile, need - len(hosts))
        hosts.extend([host] * take)
        if len(hosts) == need:
            return hosts
    return None


def schedule(base: str, state: State, config: dict[str, Any] | None = None) -> None:
    """Dispatch pending jobs into free slots: queue priority first, then submission order."""
    config = config or ensure_config(base)
    reap_orphans(state)
    purge_old(base, state, float(config.get("clean_period_s", 3600)))
    capacity = host_slots(config, effective_slots(state))
    free = dict(capacity)
    used_by_queue: dict[str, int] = {}
    for job in state["jobs"].values():
        if job["status"] in ("RUN", "USUSP", "SSUSP"):
            for host in job.get("hosts") or []:
                if host in free:
                    free[host] -= 1
            used_by_queue[job["queue"]] = used_by_queue.get(job["queue"], 0) + int(job["nslots"])
    queues = config.get("queues", {})
    pending = [job for job in state["jobs"].values() if job["status"] == "PEND"]
    pending.sort(
        key=lambda job: (-int(queues.get(job["queue"], {}).get("priority", 0)), *id_order(job))
    )
    for job in pending:
        queue_max = queues.get(job["queue"], {}).get("max_slots")
        in_queue = used_by_queue.get(job["queue"], 0)
        if queue_max is not None and in_queue + int(job["nslots"]) > int(queue_max):
            job["pend_reason"] = "The queue has reached its job slot limit;"
            continue
        hosts = allocate(free, job)
        if hosts is None:
            job["pend_reason"] = "Job slot limit reached;"
            continue
        for host in hosts:
            free[host] -= 1
        used_by_queue[job["queue"]] = in_queue + int(job["nslots"])
        job["status"] = "RUN"
        job["hosts"] = hosts
        job["start_time"] = time.time()
        job["pend_reason"] = None
        wake_supervisor(job)
