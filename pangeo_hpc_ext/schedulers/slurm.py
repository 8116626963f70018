"""Slurm: sbatch, squeue, sacct, scancel and sinfo, and what their output means.

Output formats were recorded from Slurm 22.05 (tests/unit/recorded/slurm/). `squeue --json` exists
there but ignores `-j` (it dumps every job in the system) and its layout changes with each
release's OpenAPI version, so job states come from `-o` with a delimiter, which every Slurm since
2.x prints the same way."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime

from ..errors import SchedulerCommandFailed
from .arrays import SLURM_ARRAYS
from .base import JobInfo, JobState, QueueInfo, SchedulerClient, distinct_hosts, walltime_left
from .commands import run_command

log = logging.getLogger(__name__)

SUBMITTED = re.compile(r"Submitted batch job (?P<job_id>\d+)")

# One row per job: id, state, nodes, submit time, start time, time limit, elapsed, partition,
# reason, job name. The name is the user's free text (it may hold the delimiter), so it comes last
# and a row is split at most len-1 times; reasons are Slurm's words ("ReqNodeNotAvail,
# UnavailableNodes:n1"). `sacct -P` prints the same columns with the same delimiter.
SQUEUE_FORMAT = "%i|%T|%N|%V|%S|%l|%M|%P|%r|%j"
SACCT_FIELDS = "JobIDRaw,State,NodeList,Submit,Start,Timelimit,Elapsed,Partition,Reason,JobName"
JOB_COLUMNS = 10
SINFO_FORMAT = "%P|%a|%l|%c|%m"

# Every state squeue/sacct print (slurm/src/common/slurm_protocol_defs.c, job_state_string),
# mapped once to ours.
STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    # Allocated, waiting for its nodes to boot or become ready.
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    # Held after a requeue, or after an exit code the site declared special: it runs again only
    # when released, and it must stay killable, so it is not "ended".
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "SPECIAL_EXIT": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    # Its processes are being ended; it still holds its nodes (e.g. a scancel during KillWait).
    "COMPLETING": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    # Burst buffer stage-out after the job script ended; the allocation is still held.
    "STAGE_OUT": JobState.RUNNING,
    "SUSPENDED": JobState.SUSPENDED,
    # Stopped with SIGSTOP, keeping its resources.
    "STOPPED": JobState.SUSPENDED,
    "COMPLETED": JobState.FINISHED,
    # Ended on purpose (scancel, scale-down); the job itself did nothing wrong.
    "CANCELLED": JobState.FINISHED,
    # A federation sibling started the job elsewhere: this copy is withdrawn, not failed.
    "REVOKED": JobState.FINISHED,
    "FAILED": JobState.FAILED,
    "TIMEOUT": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "DEADLINE": JobState.FAILED,
    "PREEMPTED": JobState.FAILED,
}

# Words Slurm prints where a time or a limit is not set.
UNSET_WORDS = frozenset({"", "N/A", "NONE", "NOT_SET", "UNKNOWN", "PARTITION_LIMIT", "(NULL)"})
UNLIMITED_WORDS = frozenset({"UNLIMITED", "INFINITE"})
NO_NODES = frozenset({"", "None assigned", "(null)"})

# Slurm's time formats (sbatch -t, and squeue/sinfo output): minutes, minutes:seconds,
# hours:minutes:seconds, days-hours, days-hours:minutes, days-hours:minutes:seconds.
_WALLTIME = re.compile(
    r"(?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?"
    r"|(?P<a>\d+)(?::(?P<b>\d+)(?::(?P<c>\d+))?)?)"
)
# For JSON Schema (no named groups there); parse_walltime checks the ranges.
WALLTIME_PATTERN = r"^([0-9]+-[0-9]+(:[0-9]+){0,2}|[0-9]+(:[0-9]+){0,2})$"


def parse_walltime(text: str) -> int | None:
    """Seconds of a Slurm time; None for UNLIMITED/INFINITE. ValueError for anything else."""
    value = text.strip()
    if value.upper() in UNLIMITED_WORDS:
        return None
    match = _WALLTIME.fullmatch(value)
    if not match:
        raise ValueError(f"{text!r} is not a Slurm time")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    if "days" in parts:
        days, hours, minutes, seconds = (parts.get(k, 0) for k in ("days", "dh", "dm", "ds"))
        if hours >= 24:
            raise ValueError(f"{text!r}: hours after the days must be below 24")
    elif "c" in parts:  # hours:minutes:seconds
        days, hours, minutes, seconds = 0, parts["a"], parts["b"], parts["c"]
    else:  # minutes[:seconds]
        days, hours, minutes, seconds = 0, 0, parts["a"], parts.get("b", 0)
        if "b" in parts and seconds >= 60:
            raise ValueError(f"{text!r}: seconds must be below 60")
        return minutes * 60 + seconds
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"{text!r}: minutes and seconds must be below 60")
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _seconds(text: str) -> int | None:
    """A time column of squeue/sacct/sinfo: seconds, or None when unset or unlimited."""
    if text.strip().upper() in UNSET_WORDS:
        return None
    try:
        return parse_walltime(text)
    except ValueError:
        log.debug("unexpected Slurm time %r", text)
        return None


def expand_hostlist(text: str) -> list[str]:
    """Host names of a Slurm hostlist, in Slurm's order: `n[01-03,7],gpu5` -> n01 n02 n03 n7
    gpu5; several bracket groups multiply (`r[1-2]-n[8-9]` -> r1-n8 r1-n9 r2-n8 r2-n9)."""
    names: list[str] = []
    for item in _top_level_items(text):
        names.extend(_expand_item(item))
    return names


def _top_level_items(text: str) -> list[str]:
    items: list[str] = []
    depth = start = 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:index])
            start = index + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _expand_item(item: str) -> list[str]:
    match = re.search(r"\[([^\[\]]*)\]", item)
    if match is None:
        return [item]
    head, rest = item[: match.start()], _expand_item(item[match.end() :])
    return [head + value + tail for value in _range_values(match.group(1)) for tail in rest]


def _range_values(spec: str) -> Iterator[str]:
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        if not dash:
            yield low
            continue
        # Zero padding follows the first bound, as in Slurm: x[098-101] -> x098 ... x101.
        for number in range(int(low), int(high) + 1):
            yield str(number).zfill(len(low))


def _iso(text: str) -> str | None:
    """Slurm prints local time without a zone (2026-12-01T04:27:41); ISO 8601 with the offset."""
    if text.strip().upper() in UNSET_WORDS:
        return None
    try:
        return datetime.fromisoformat(text.strip()).astimezone().isoformat(timespec="seconds")
    except ValueError:
        return None


def _reason(native: str, state: JobState, said: str) -> str | None:
    said = "" if said.strip() in ("None", "(null)") else said.strip()
    if not state.ended:
        # Why a job waits (Resources, Priority, QOSMaxJobsPerUserLimit...), or why a running one
        # is ending (TimeLimit while COMPLETING).
        return said or None
    if native == "COMPLETED":
        return None
    # The state word is the end reason (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED). Slurm's
    # reason adds to it for FAILED (NonZeroExitCode); for a job cancelled while it waited it is
    # the stale pending reason.
    return f"{native}: {said}" if native == "FAILED" and said else native


def parse_job_row(line: str) -> JobInfo | None:
    """One row of `squeue -o SQUEUE_FORMAT` or `sacct -P -o SACCT_FIELDS`."""
    columns = line.split("|", JOB_COLUMNS - 1)
    if len(columns) != JOB_COLUMNS or not columns[0].strip():
        return None
    job_id, state_text, nodes, submitted, started, limit, elapsed, _partition, reason, name = (
        columns
    )
    # sacct says "CANCELLED by 1234".
    native = state_text.split()[0] if state_text.split() else "UNKNOWN"
    state = STATES.get(native)
    if state is None:
        log.warning("job %s: unknown Slurm state %r, taken as pending", job_id, native)
        state = JobState.PENDING
    hosts = distinct_hosts(expand_hostlist(nodes)) if nodes.strip() not in NO_NODES else ()
    limit_s, elapsed_s = _seconds(limit), _seconds(elapsed)
    left = None
    if state is JobState.RUNNING and limit_s is not None and elapsed_s is not None:
        left = walltime_left(limit_s, elapsed_s)
    return JobInfo(
        job_id=job_id.strip(),
        state=state,
        native_state=native,
        reason=_reason(native, state, reason),
        hosts=hosts,
        submitted=_iso(submitted),
        # Pending jobs show their expected start here, and a job cancelled while pending its
        # cancel time: only a job that got nodes has started.
        started=_iso(started) if hosts and state is not JobState.PENDING else None,
        walltime_left_s=left,
        # What `squeue --start` prints: the backfill scheduler's estimate, once it has one.
        expected_start=_iso(started) if state is JobState.PENDING else None,
        name=name or None,
        array=SLURM_ARRAYS.parse_element_id(job_id),
    )


def parse_job_table(text: str) -> dict[str, JobInfo]:
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        info = parse_job_row(line)
        if info is not None:
            jobs[info.job_id] = info
    return jobs


def parse_submitted(text: str) -> str | None:
    match = SUBMITTED.search(text)
    return match.group("job_id") if match else None


def _number(text: str) -> int | None:
    """A size column of sinfo; `64+` (nodes of a group differ) counts as 64."""
    digits = re.match(r"\d+", text.strip())
    return int(digits.group()) if digits else None


def _larger(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def parse_sinfo(text: str) -> list[QueueInfo]:
    """Partitions of `sinfo -h -o SINFO_FORMAT`. sinfo prints one row per group of alike nodes,
    so a partition may come several times: its node sizes are the largest of its rows, which is
    what the largest job it can ever run may ask for."""
    queues: dict[str, QueueInfo] = {}
    for line in text.splitlines():
        columns = [c.strip() for c in line.split("|")]
        if len(columns) != 5 or not columns[0]:
            continue
        name, available, limit, cpus, memory = columns
        limit_s = _seconds(limit)
        known = queues.get(name.rstrip("*"))
        sizes = {"cpus_per_node": _number(cpus), "memory_mb_per_node": _number(memory)}
        if known is not None:
            sizes = {key: _larger(value, known.extra[key]) for key, value in sizes.items()}
        queues[name.rstrip("*")] = QueueInfo(
            name=name.rstrip("*"),
            default=name.endswith("*"),
            max_walltime_min=None if limit_s is None else limit_s // 60,
            extra={"max_walltime_s": limit_s, "available": available, **sizes},
        )
    return list(queues.values())


def accounting_disabled(text: str) -> bool:
    return "accounting storage is disabled" in text


# scancel's words for a job that already ended or was never known: nothing left to kill.
ALREADY_GONE = ("already completing or completed", "Invalid job id specified")


class SlurmClient(SchedulerClient):
    name = "slurm"
    arrays = SLURM_ARRAYS

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        # Whether sacct answers; None until asked. Without a slurmdbd it never will.
        self._accounting: bool | None = None

    async def submit(self, script: str) -> str:
        result = await run_command(["sbatch"], stdin=script, timeout=self.timeout_s)
        job_id = parse_submitted(result.stdout) if result.returncode == 0 else None
        if job_id is None:
            raise SchedulerCommandFailed(
                "sbatch", result.returncode, result.stderr or result.stdout
            )
        return job_id

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return {}
        # `-t all` includes jobs that ended less than MinJobAge ago (300 s by default): the same
        # jobs `scontrol show job` knows, in one call for all of them.
        # -r: an array's pending elements one row each (`123_4`), not one `123_[1-3]` row.
        argv = ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(wanted), "-o", SQUEUE_FORMAT]
        result = await run_command(argv, timeout=self.timeout_s)
        if result.returncode == 0:
            jobs = parse_job_table(result.stdout)
        elif "Invalid job id specified" in result.stderr:
            jobs = {}  # asked for one job only, and slurmctld no longer knows it
        else:
            raise SchedulerCommandFailed("squeue", result.returncode, result.stderr)
        forgotten = [j for j in wanted if j not in jobs]
        if forgotten:
            jobs.update(await self._accounted(forgotten))
        return {j: jobs[j] for j in wanted if j in jobs}

    async def _accounted(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """Jobs slurmctld forgot, from the accounting database when the site has one."""
        if self._accounting is False:
            return {}
        argv = ["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "-o", SACCT_FIELDS]
        result = await run_command(argv, timeout=self.timeout_s)
        if result.returncode != 0:
            text = result.stderr or result.stdout
            if accounting_disabled(text):
                self._accounting = False
            else:
                log.warning("sacct failed: %s", text.strip())
            return {}
        self._accounting = True
        return parse_job_table(result.stdout)

    async def kill(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        result = await run_command(["scancel", *job_ids], timeout=self.timeout_s)
        if result.returncode == 0:
            return
        problems = [
            line
            for line in result.stderr.splitlines()
            if line.strip() and not any(gone in line for gone in ALREADY_GONE)
        ]
        if problems:
            raise SchedulerCommandFailed("scancel", result.returncode, "\n".join(problems))

    async def queues(self) -> list[QueueInfo]:
        result = await run_command(["sinfo", "-h", "-o", SINFO_FORMAT], timeout=self.timeout_s)
        if result.returncode != 0:
            raise SchedulerCommandFailed("sinfo", result.returncode, result.stderr)
        return parse_sinfo(result.stdout)
