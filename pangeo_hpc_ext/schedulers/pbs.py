"""PBS Pro / OpenPBS: qsub, one `qstat -f -x -F json ID...` for every job's state (finished jobs
too, where the server keeps job history), qdel (with `-W force` for a job that will not die),
and queues with their walltime limits from `qstat -Q -f -F json`.

Job ids are kept as qsub prints them ("12.server"), the form qstat's answer is keyed by. Workers
submitted as one job array (`#PBS -J 1-N`, qsub answers "13[].server") are kept by their elements'
ids ("13[4].server"): qstat answers for an element asked by its id without `-t` (which only
widens an array's own id to its elements), while it waits (Q, with the array's stime and comment),
runs, and after it ended (X, then F with the rest of the array, as history); qdel of an element
ends it alone (recorded from OpenPBS 23.06.06 in tests/unit/recorded/pbs/)."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..errors import SchedulerCommandFailed
from .arrays import PBS_ARRAYS
from .base import (
    JobInfo,
    JobState,
    QueueInfo,
    SchedulerClient,
    clock_seconds,
    distinct_hosts,
    format_clock,
)
from .base import walltime_left as remaining
from .commands import CommandResult, run_command

log = logging.getLogger(__name__)

# Every job_state letter (qstat(1B), "Job States"), mapped to ours once. F (finished) and X (an
# array's subjob that ended) are finished or failed by Exit_status. E is "exiting after having
# run": the job still holds its node until the mom reports the end. B is an array with subjobs
# running. M (moved to another server) and T (being moved) still run somewhere later. W waits for
# its `-a` start time, H is held, Q queued; S is suspended by the server or an admin, U because
# the node's owner came back (cycle harvesting).
STATES: dict[str, JobState] = {
    **dict.fromkeys("QHWTM", JobState.PENDING),
    **dict.fromkeys("REB", JobState.RUNNING),
    **dict.fromkeys("SU", JobState.SUSPENDED),
}
ENDED_STATES = frozenset("FX")
NOT_REASONS = ("Job run at", "Job Array Began at")
# `qdel` sends SIGTERM, then SIGKILL kill_delay (10 s by default) later. A job still listed
# unfinished this long after our qdel sits on a mom that does not answer: `qdel -W force`
# removes it from the server, well inside the 15 s that a DELETE waits for its jobs to end.
FORCE_AFTER_S = 10.0
# qstat and qdel's words for a job the server no longer knows (history expired or disabled).
UNKNOWN_JOB = re.compile(r"Unknown Job Id (?P<job_id>\S+)")
# qdel's words for a job that ended already: not an error ("Request invalid for finished array
# subjob" for an element that ended while its array runs on).
QDEL_ALREADY_GONE = re.compile(
    r"Unknown Job Id|Request invalid for (state of job|finished array subjob)"
    r"|Job has finished|job has finished"
)
# A JSON string escape: qstat 23.06 copies Variable_List values (the job's environment) into its
# JSON without escaping their backslashes, which makes the answer invalid for any job submitted
# from an environment that holds one.
# A valid escape is kept whole (so the second backslash of a valid "\\\\" is never read as the
# start of another); any other backslash is doubled.
_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})?')


def parse_walltime(text: str) -> int:
    """PBS durations ([[hh:]mm:]ss, or seconds; hours may exceed 24) in seconds; ValueError for
    anything else."""
    return clock_seconds(text, "a PBS walltime")


format_walltime = format_clock


def load_json(text: str, command: str) -> dict[str, Any]:
    """qstat's JSON, repaired where PBS leaves backslashes unescaped; ValueError when it is not
    JSON at all."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        pass
    try:
        repaired = _ESCAPE.sub(lambda m: m.group(0) if m.group(1) else "\\\\", text)
        return json.loads(repaired, strict=False)
    except json.JSONDecodeError as error:
        raise ValueError(f"{command}: not JSON ({error})") from None


def _time(text: Any) -> datetime | None:
    # "Sun Dec  6 19:50:00 2026", the server's local time (taken to be this host's).
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone().isoformat(timespec="seconds") if moment else None


def exec_hosts(text: str | None) -> tuple[str, ...]:
    """Hosts of `exec_host` ("vm/0+node2/1*2"), once each."""
    if not text:
        return ()
    return distinct_hosts([chunk.partition("/")[0].strip() for chunk in text.split("+")])


def _seconds(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return parse_walltime(str(value))
    except ValueError:
        return None


def _exit_status(attributes: dict[str, Any]) -> int | None:
    value = attributes.get("Exit_status")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _end(attributes: dict[str, Any], comment: str | None) -> tuple[JobState, str | None]:
    """A finished job's state and reason. Exit_status: 0 for success, the script's exit code,
    256 + the signal for a job the mom killed (qdel: SIGTERM, 271), and negative codes for PBS's
    own failures (-11 JOB_EXEC_KILL_WALLTIME, -1 could not run...); none for a job deleted before
    it ran."""
    status = _exit_status(attributes)
    if status == 0:
        return JobState.FINISHED, None
    if status is None:
        return JobState.FINISHED, comment
    words = f"Exit_status {status}"
    if status > 256:
        words += f" (signal {status - 256})"
    return JobState.FAILED, f"{comment} ({words})" if comment else words


def parse_job(job_id: str, attributes: dict[str, Any], now: datetime | None = None) -> JobInfo:
    native = str(attributes.get("job_state", "")).strip()
    comment = attributes.get("comment")
    comment = comment.strip() if isinstance(comment, str) and comment.strip() else None
    if native in ENDED_STATES:
        state, reason = _end(attributes, comment)
    else:
        state = STATES.get(native, JobState.PENDING)
        # "Job run at <when> on <where>" (kept while a job runs or is suspended) is no reason, nor
        # "Job Array Began at <when>", the array's comment its waiting elements show.
        reason = None if comment is None or comment.startswith(NOT_REASONS) else comment
        if reason is None and native == "H":
            # A job held at submission (qsub -h) has no comment, only its hold types (u: user,
            # o: operator, s: system, p: bad password).
            reason = f"held (Hold_Types {attributes.get('Hold_Types', '?')})"
    # A job that ran keeps its exec_host, in history too. An element that never ran (waiting, or
    # deleted while it waited) shows its array's stime: when the array's first element started.
    ran = state in (JobState.RUNNING, JobState.SUSPENDED) or attributes.get("exec_host")
    started = _time(attributes.get("stime")) if ran else None
    walltime_left: int | None = None
    if state in (JobState.RUNNING, JobState.SUSPENDED):
        requested = _seconds((attributes.get("Resource_List") or {}).get("walltime"))
        used = _seconds((attributes.get("resources_used") or {}).get("walltime"))
        if requested is not None:
            if used is None and started is not None:
                # The mom reports usage every few seconds; before the first report, the clock.
                used = int(((now or datetime.now()) - started).total_seconds())
            walltime_left = remaining(requested, used or 0)
    name = attributes.get("Job_Name")
    return JobInfo(
        job_id=job_id,
        state=state,
        native_state=native,
        reason=reason,
        hosts=exec_hosts(attributes.get("exec_host")),
        submitted=_iso(_time(attributes.get("qtime")) or _time(attributes.get("ctime"))),
        started=_iso(started),
        walltime_left_s=walltime_left,
        name=name if isinstance(name, str) else None,
        array=PBS_ARRAYS.parse_element_id(job_id),
    )


def parse_qstat_json(text: str, *, now: datetime | None = None) -> dict[str, JobInfo]:
    """Every job of a `qstat -f [-x] -F json` answer, by the id PBS gives it."""
    document = load_json(text, "qstat")
    jobs = document.get("Jobs") or {}
    if not isinstance(jobs, dict):
        raise ValueError("qstat: 'Jobs' is not an object")
    return {
        job_id: parse_job(job_id, attributes, now)
        for job_id, attributes in jobs.items()
        if isinstance(attributes, dict)
    }


def parse_qsub(text: str) -> str | None:
    """The job id qsub prints ("12.server", "13[].server" for an array)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and re.fullmatch(r"\d+(\[\d*\])?(\.[\w.\-]+)?", lines[-1]):
        return lines[-1]
    return None


def sequence_number(job_id: str) -> str:
    """ "12" of "12.server" ("12[3]" of an array's element "12[3].server"): PBS accepts either,
    and its answers use the long form."""
    return job_id.partition(".")[0]


def qdel_batches(job_ids: list[str]) -> list[list[str]]:
    """The qdel calls that end these jobs: every job of its own in one call, and each run of
    consecutive elements of one array as one range (`12[3-5].server`) in a call of its own.

    OpenPBS 23.06 answers a qdel of several ids once the jobs among them it holds as jobs are
    dealt with; an element that has not run yet (queued, held) is no such job, and the ids after
    that answer are dropped, exit 0 (recorded: `qdel` of elements 2, 4, 6 and 8 of a held array
    ends 2 and 4). A range is one id, whose elements the server ends before it answers."""
    plain: list[str] = []
    indices: dict[str, set[int]] = {}
    for job_id in job_ids:
        element = PBS_ARRAYS.parse_element_id(job_id)
        if element is None:
            plain.append(job_id)
        else:
            indices.setdefault(element.parent, set()).add(element.index)
    calls = [list(dict.fromkeys(plain))] if plain else []
    for parent, found in indices.items():
        number, _, server = parent.partition("[]")
        ordered = sorted(found)
        # Runs of consecutive indices: index - position is the same along a run.
        for _, run in itertools.groupby(enumerate(ordered), lambda pair: pair[1] - pair[0]):
            first, *rest = [index for _, index in run]
            span = f"{first}-{rest[-1]}" if rest else str(first)
            calls.append([f"{number}[{span}]{server}"])
    return calls


def parse_queues(text: str) -> list[QueueInfo]:
    """Queues from `qstat -Q -f -F json`, with resources_max.walltime as the limit; the server's
    default queue is read separately (`qstat -B -f -F json`)."""
    document = load_json(text, "qstat -Q")
    queues: list[QueueInfo] = []
    for name, attributes in (document.get("Queue") or {}).items():
        if not isinstance(attributes, dict):
            continue
        max_s = _seconds((attributes.get("resources_max") or {}).get("walltime"))
        queues.append(
            QueueInfo(
                name=name,
                max_walltime_min=-(-max_s // 60) if max_s is not None else None,
                extra={
                    "max_walltime_s": max_s,
                    "type": attributes.get("queue_type"),
                    "enabled": _true(attributes.get("enabled")),
                    "started": _true(attributes.get("started")),
                },
            )
        )
    return queues


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def default_queue(text: str) -> str | None:
    """The server's default_queue from `qstat -B -f -F json`."""
    servers = load_json(text, "qstat -B").get("Server") or {}
    for attributes in servers.values():
        if isinstance(attributes, dict) and attributes.get("default_queue"):
            return str(attributes["default_queue"])
    return None


# PBS sizes: a number and an optional kb, mb, gb, tb, pb (powers of 1024, b optional; w is words).
_SIZE = re.compile(r"(?P<number>\d+)(?P<unit>[kmgtp]?)(?P<word>[bw]?)", re.IGNORECASE)


def size_bytes(text: Any) -> int | None:
    """Bytes of a PBS size ("8gb", "954mb", "1024kb", "17179869184b"); None for anything else."""
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        return None
    power = " kmgtp".index(match["unit"].lower() or " ")
    word = 8 if match["word"].lower() == "w" else 1
    return int(match["number"]) * 1024**power * word


@dataclass(frozen=True)
class NodeInfo:
    """A node's resources_available, from `pbsnodes -a -F json`."""

    name: str
    state: str
    ncpus: int
    mem_bytes: int | None

    def label(self) -> str:
        memory = f", {self.mem_bytes / 2**30:.1f} GiB" if self.mem_bytes is not None else ""
        return f"{self.name} ({self.state}, {self.ncpus} cpus{memory})"


def parse_nodes(text: str) -> list[NodeInfo]:
    nodes = load_json(text, "pbsnodes").get("nodes") or {}
    found = []
    for name, attributes in nodes.items():
        if not isinstance(attributes, dict):
            continue
        available = attributes.get("resources_available") or {}
        try:
            ncpus = int(available.get("ncpus", 0))
        except (TypeError, ValueError):
            ncpus = 0
        mem = available.get("mem")
        found.append(
            NodeInfo(
                name=name,
                state=str(attributes.get("state", "")),
                ncpus=ncpus,
                mem_bytes=size_bytes(mem) if mem is not None else None,
            )
        )
    return found


def version(text: str) -> str | None:
    """The version from `qstat --version` ("pbs_version = 23.06.06"): PBS's own answer, which
    Grid Engine's and Slurm's qstat never give."""
    match = re.search(r"pbs_version\s*=\s*(\S+)", text)
    return match.group(1) if match else None


class PBSClient(SchedulerClient):
    name = "pbs"
    arrays = PBS_ARRAYS

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        # Jobs we asked qdel to end, and when (time.monotonic()): their end is not a failure,
        # and they are forced out when they outlive FORCE_AFTER_S.
        self._killed: dict[str, float] = {}

    async def submit(self, script: str) -> str:
        result = await run_command(["qsub"], stdin=script, timeout=2 * self.timeout_s)
        job_id = parse_qsub(result.stdout) if result.returncode == 0 else None
        if job_id is None:
            raise SchedulerCommandFailed(
                "qsub", result.returncode, result.stderr.strip() or result.stdout
            )
        return job_id

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return {}
        result = await run_command(
            ["qstat", "-f", "-x", "-F", "json", *wanted], timeout=self.timeout_s
        )
        # Unknown ids (history expired) make qstat exit non-zero but still answer for the rest.
        problems = [
            line
            for line in result.stderr.splitlines()
            if line.strip() and not UNKNOWN_JOB.search(line)
        ]
        if result.returncode != 0 and (problems or not result.stdout.strip()):
            if not problems:
                return {}  # every job asked for is unknown
            raise SchedulerCommandFailed("qstat", result.returncode, "\n".join(problems))
        try:
            listed = parse_qstat_json(result.stdout)
        except ValueError as error:
            raise SchedulerCommandFailed("qstat", result.returncode, str(error)) from None
        by_number = {sequence_number(j): info for j, info in listed.items()}
        answer: dict[str, JobInfo] = {}
        for job_id in wanted:
            info = listed.get(job_id) or by_number.get(sequence_number(job_id))
            if info is not None:
                answer[job_id] = self._as_asked(job_id, info)
        await self._force_stuck(answer)
        return answer

    def _as_asked(self, job_id: str, info: JobInfo) -> JobInfo:
        if info.job_id != job_id:
            info = replace(info, job_id=job_id)
        if info.state.ended:
            killed = self._killed.pop(job_id, None)
            if killed is not None and info.state is JobState.FAILED:
                # Ended by our qdel (SIGTERM: Exit_status 271): as asked, not a failure.
                info = replace(info, state=JobState.FINISHED)
        return info

    async def _force_stuck(self, answer: dict[str, JobInfo]) -> None:
        now = time.monotonic()
        stuck = [
            job_id
            for job_id, info in answer.items()
            if not info.state.ended
            and job_id in self._killed
            and now - self._killed[job_id] > FORCE_AFTER_S
        ]
        if not stuck:
            return
        log.warning(
            "jobs %s still not ended %.0f s after qdel: qdel -W force", stuck, FORCE_AFTER_S
        )
        try:
            await self._qdel(stuck, "-W", "force")
        except SchedulerCommandFailed as error:
            log.warning("qdel -W force %s failed: %s", stuck, error.message)

    def killed_elsewhere(self, job_ids: list[str]) -> None:
        now = time.monotonic()
        for job_id in job_ids:
            self._killed.setdefault(job_id, now)

    async def kill(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        self.killed_elsewhere(job_ids)
        await self._qdel(job_ids)

    async def _qdel(self, job_ids: list[str], *options: str) -> None:
        # One after the other: a scale-down that leaves gaps in an array is many short qdels,
        # which should not all be processes on the login node at once.
        refused: list[SchedulerCommandFailed] = []
        for ids in qdel_batches(job_ids):
            result = await run_command(["qdel", *options, *ids], timeout=self.timeout_s)
            try:
                self._qdel_answered(result)
            except SchedulerCommandFailed as error:
                refused.append(error)  # the other calls are made all the same
        if refused:
            output = "\n".join(error.output for error in refused)
            raise SchedulerCommandFailed("qdel", refused[0].returncode, output)

    @staticmethod
    def _qdel_answered(result: CommandResult) -> None:
        if result.returncode == 0:
            return
        refused = [
            line
            for line in f"{result.stdout}\n{result.stderr}".splitlines()
            if line.strip() and not QDEL_ALREADY_GONE.search(line)
        ]
        if refused:
            raise SchedulerCommandFailed("qdel", result.returncode, "\n".join(refused))

    async def queues(self) -> list[QueueInfo]:
        result = await run_command(["qstat", "-Q", "-f", "-F", "json"], timeout=self.timeout_s)
        if result.returncode != 0:
            raise SchedulerCommandFailed("qstat", result.returncode, result.stderr or result.stdout)
        server = await run_command(["qstat", "-B", "-f", "-F", "json"], timeout=self.timeout_s)
        try:
            queues = parse_queues(result.stdout)
            default = default_queue(server.stdout) if server.returncode == 0 else None
        except ValueError as error:
            raise SchedulerCommandFailed("qstat", result.returncode, str(error)) from None
        return [
            QueueInfo(
                q.name,
                default=q.name == default,
                max_walltime_min=q.max_walltime_min,
                extra=q.extra,
            )
            for q in queues
        ]
