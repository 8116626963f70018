"""What Grid Engine's commands print, read: qsub's answer, `qstat -xml` states, `qstat -j`
reasons, `qacct` records, qdel's refusals and queue limits from `qconf -sq`. The client that runs
the commands is in sge.py."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime

from .arrays import SGE_ARRAYS, ArrayElement
from .base import JobInfo, JobState, QueueInfo, clock_seconds, distinct_hosts, format_clock
from .base import walltime_left as remaining

SUBMITTED = re.compile(
    r'Your job(?:-array)? (?P<job_id>\d+)(?:\.\S+)? \("(?P<name>.*)"\) has been submitted'
)
# qdel's answers per job; anything else (a commlib error, "belongs to user") is a real failure.
QDEL_ACCEPTED = re.compile(
    r"has registered the job(?:-array task)? [\d.]+ for deletion"
    r"|has deleted job(?:-array task)? [\d.]+|forced the deletion of job"
    r'|job "?\d+"?(?: task "?\d+"?)? does not exist|job \d+ is already in deletion'
)
# An array's waiting elements share one qstat row; a range wider than this is not what we submit.
MAX_TASKS_PER_ROW = 100_000

# A reason of many lines (one per queue instance on a big site) is cut to the first few.
REASON_LINES = 3

# Every state word `qstat` prints (qstat(1); the grouping Grid Engine's own DRMAA uses), mapped to
# ours once. Letters: q queued, w waiting, h hold, R restarted, r running, t transferring,
# s suspended (by the user), S suspended (by a subordinate queue), T suspended (load threshold),
# d being deleted (still holding its slots until the execd confirms), E error (the job will not
# run until an admin clears it), z finished. A d-state keeps the state of the rest of its word:
# the job is not over before Grid Engine says so.
STATES: dict[str, JobState] = {
    **dict.fromkeys(["qw", "hqw", "hRwq"], JobState.PENDING),
    # hr: a hold put on a job that already runs; it only matters should the job be restarted.
    **dict.fromkeys(["r", "t", "Rr", "Rt", "hr"], JobState.RUNNING),
    **dict.fromkeys(
        ["s", "ts", "S", "tS", "T", "tT", "Rs", "Rts", "RS", "RtS", "RT", "RtT"], JobState.SUSPENDED
    ),
    **dict.fromkeys(["dr", "dt", "dRr", "dRt"], JobState.RUNNING),
    **dict.fromkeys(["ds", "dS", "dT", "dRs", "dRS", "dRT"], JobState.SUSPENDED),
    **dict.fromkeys(["Eqw", "Ehqw", "EhRqw"], JobState.FAILED),
    "z": JobState.FINISHED,
}
# The word for a job qstat no longer lists: Grid Engine calls finished jobs zombies (`qstat -s z`).
ENDED_WORD = "z"

# qacct's words when the record is merely not there (yet), as opposed to unreadable accounting.
# qmaster creates the accounting file when the first job ends. Clients read act_qmaster from the
# same directory, so a missing file means "no job ended yet" (or accounting=false, where ended
# jobs then wait ACCOUNTING_WAIT_S before they end without a reason).
ACCOUNTING_NOT_YET = re.compile(
    r"job id \S+ not found|no jobs running since startup|/accounting: No such file or directory"
)
NO_REASON_TEXTS = (
    "(Collecting of scheduler job information is turned off)",
    "There are no messages available",
)


def parse_walltime(text: str) -> int | None:
    """Grid Engine's time values (h_rt, s_rt, queue limits): [[H:]M:]S or seconds, in seconds;
    None for INFINITY. ValueError for anything else."""
    value = text.strip()
    if value.upper() == "INFINITY":
        return None
    return clock_seconds(value, "a Grid Engine time")


format_walltime = format_clock


def in_error_state(native: str) -> bool:
    """Eqw and kin: the job will not run until an admin clears it (qmod -cj)."""
    return "E" in native


def state_of(native: str) -> JobState:
    """Our state for a Grid Engine state word; words missing from the table (versions add
    combinations) are read letter by letter, in the order that decides."""
    if native in STATES:
        return STATES[native]
    if in_error_state(native):
        return JobState.FAILED
    if "z" in native:
        return JobState.FINISHED
    if any(letter in native for letter in "sST"):
        return JobState.SUSPENDED
    if any(letter in native for letter in "rt"):
        return JobState.RUNNING
    return JobState.PENDING


def _local_iso(moment: datetime) -> str:
    # Grid Engine prints local time without a zone: the qmaster's, taken to be this host's.
    return moment.astimezone().isoformat(timespec="seconds")


def _qstat_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _qacct_time(text: str | None) -> datetime | None:
    # "Tue Dec  1 04:30:13 2026"; "-/-" when the job never started.
    if not text:
        return None
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None


def _host(queue_instance: str) -> str:
    # "all.q@node01" -> "node01"
    return queue_instance.partition("@")[2]


def parse_qstat_xml(text: str, *, now: datetime | None = None) -> dict[str, JobInfo]:
    """Every job of a `qstat -xml [-r]` answer, running ones (queue_info) and waiting ones
    (job_info). ValueError when the text is not qstat's XML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise ValueError(f"qstat -xml: not XML ({error})") from None
    if root.tag != "job_info":
        raise ValueError(f"qstat -xml: unexpected document <{root.tag}>")
    now = now or datetime.now()
    listed: dict[str, JobInfo] = {}
    for element in root.iter("job_list"):
        info = _listed(element, now)
        if info is None:
            continue
        for one in _array_elements(info, element.findtext("tasks")):
            if one.job_id in listed:
                # A parallel job over several hosts is listed once per queue instance.
                hosts = distinct_hosts([*listed[one.job_id].hosts, *one.hosts])
                one = replace(listed[one.job_id], hosts=hosts)
            listed[one.job_id] = one
    return listed


def _array_elements(info: JobInfo, tasks: str | None) -> list[JobInfo]:
    """An array's row as its elements (`123.4`): a running element has a row of its own
    (`<tasks>4</tasks>`); the waiting ones share one (`<tasks>17-20:1</tasks>`, or
    `17,19,20` once one of them was deleted)."""
    if not tasks or not tasks.strip():
        return [info]
    parent = info.job_id
    elements = []
    for index in task_indices(tasks):
        job_id = SGE_ARRAYS.element_id(parent, index)
        elements.append(replace(info, job_id=job_id, array=ArrayElement(parent, index)))
    return elements


def task_indices(tasks: str) -> list[int]:
    """The task ids of qstat's `tasks` (`4`, `1-20:1`, `1-9:2`, `17,19,20`). ValueError for
    anything else, which the caller reports as unreadable qstat output."""
    indices: list[int] = []
    for item in tasks.strip().split(","):
        span, _, step = item.partition(":")
        first, _, last = span.partition("-")
        try:
            start, stop = int(first), int(last or first)
            stride = int(step or 1)
        except ValueError:
            raise ValueError(f"qstat -xml: unreadable tasks {tasks!r}") from None
        if stride < 1 or stop < start or stop - start > MAX_TASKS_PER_ROW * stride:
            raise ValueError(f"qstat -xml: unreadable tasks {tasks!r}")
        indices.extend(range(start, stop + 1, stride))
    return indices


def _listed(element: ET.Element, now: datetime) -> JobInfo | None:
    job_id = (element.findtext("JB_job_number") or "").strip()
    if not job_id:
        return None
    native = (element.findtext("state") or "").strip()
    state = state_of(native)
    started_at = _qstat_time(element.findtext("JAT_start_time"))
    submitted_at = _qstat_time(element.findtext("JB_submission_time"))
    h_rt_s: int | None = None
    for request in element.iter("hard_request"):
        if request.get("name") == "h_rt":
            # qstat prints the request normalized to seconds ("20", "3600"), sometimes as 20.0.
            try:
                h_rt_s = int(float(request.text or ""))
            except ValueError:
                h_rt_s = _safe_walltime(request.text or "")
    walltime_left: int | None = None
    if (
        h_rt_s is not None
        and started_at is not None
        and state
        in (
            JobState.RUNNING,
            JobState.SUSPENDED,
        )
    ):
        walltime_left = remaining(h_rt_s, (now - started_at).total_seconds())
    host = _host(element.findtext("queue_name") or "")
    return JobInfo(
        job_id=job_id,
        state=state,
        native_state=native,
        hosts=(host,) if host else (),
        submitted=_local_iso(submitted_at) if submitted_at else None,
        started=_local_iso(started_at) if started_at else None,
        walltime_left_s=walltime_left,
        name=(element.findtext("JB_name") or "").strip() or None,
    )


def _safe_walltime(text: str) -> int | None:
    try:
        return parse_walltime(text)
    except ValueError:
        return None


def parse_qsub(text: str) -> str | None:
    """The job's id; for an array ("Your job-array 164.1-20:1 …"), the array's own id, which
    its elements' ids (`164.4`) are made of."""
    match = SUBMITTED.search(text)
    return match.group("job_id") if match else None


def qdel_refusals(text: str) -> list[str]:
    """qdel's lines that are not "deleted" or "does not exist" (ended jobs are no error); with no
    line at all, qdel said nothing about the jobs, which is an error too."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ["no answer"]
    return [line for line in lines if not QDEL_ACCEPTED.search(line)]


def _records(text: str) -> list[list[str]]:
    """The records of `qstat -j` / `qacct -j` output, which separate them with lines of '='."""
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("====="):
            current = []
            records.append(current)
        elif current is not None:
            current.append(line)
    return records


def _fields(lines: list[str], separator: str | None) -> dict[str, list[str]]:
    """key -> value lines. qstat -j writes `key:   value` and indents continuation lines;
    qacct writes `key   value`."""
    fields: dict[str, list[str]] = {}
    key: str | None = None
    for line in lines:
        if not line.strip():
            continue
        if line[0].isspace() and key is not None:
            fields[key].append(line.strip())
            continue
        if separator is None:
            key, _, value = line.partition(" ")
        else:
            key, _, value = line.partition(separator)
        key = key.strip()
        fields.setdefault(key, []).append(value.strip())
    return fields


def parse_qstat_j(text: str) -> dict[str, str | None]:
    """job id -> why it does not run, from `qstat -j ID[,ID...]`: the error reason of a job in
    error state, else the scheduler's "scheduling info" (None when the site turned it off)."""
    reasons: dict[str, str | None] = {}
    for record in _records(text):
        fields = _fields(record, ":")
        job_id = (fields.get("job_number") or [""])[0]
        if not job_id:
            continue
        # "error reason    1:" carries the task number in its key.
        errors = [v for k, vs in fields.items() if k.startswith("error reason") for v in vs]
        if errors:
            reasons[job_id] = _short(errors)
            continue
        info = [line for line in fields.get("scheduling info", []) if line]
        reasons[job_id] = None if not info or info[0] in NO_REASON_TEXTS else _short(info)
    return reasons


def _short(lines: list[str]) -> str:
    kept = "; ".join(lines[:REASON_LINES])
    if len(lines) > REASON_LINES:
        kept += f" (+{len(lines) - REASON_LINES} more)"
    return kept


def parse_qacct(text: str) -> dict[str, JobInfo]:
    """Ended jobs from `qacct -j` output (one or many records); the last record of a job id wins
    (ids are reused after they wrap)."""
    ended: dict[str, JobInfo] = {}
    for record in _records(text):
        fields = {k: v[0] for k, v in _fields(record, None).items()}
        job_id = fields.get("jobnumber", "")
        if not job_id:
            continue
        # Each element of an array has its own record; a single job's says `undefined`.
        task = fields.get("taskid", "undefined")
        element = ArrayElement(job_id, int(task)) if task.isdigit() else None
        if element is not None:
            job_id = SGE_ARRAYS.element_id(element.parent, element.index)
        state, reason = _end_state(fields.get("failed", "0"), fields.get("exit_status", "0"))
        submitted = _qacct_time(fields.get("qsub_time"))
        started = _qacct_time(fields.get("start_time"))
        host = fields.get("hostname", "")
        ended[job_id] = JobInfo(
            job_id=job_id,
            state=state,
            native_state=ENDED_WORD,
            reason=reason,
            hosts=(host,) if host and host != "-/-" else (),
            submitted=_local_iso(submitted) if submitted else None,
            started=_local_iso(started) if started else None,
            walltime_left_s=None,
            name=fields.get("jobname") or None,
            array=element,
        )
    return ended


def _end_state(failed: str, exit_status: str) -> tuple[JobState, str | None]:
    # failed: "0", or "37  : qmaster enforced h_rt, h_cpu, or h_vmem limit";
    # exit_status: "0", "3", "137                  (Killed)".
    failed_code, _, failed_text = failed.partition(":")
    status_code, _, status_text = exit_status.strip().partition(" ")
    status = f"exit_status {status_code.strip()}"
    if status_text.strip():
        status += f" {status_text.strip()}"
    if failed_code.strip() not in ("", "0"):
        return JobState.FAILED, f"{failed_text.strip()} (failed {failed_code.strip()}, {status})"
    if status_code.strip() not in ("", "0"):
        return JobState.FAILED, status
    return JobState.FINISHED, None


def accounting_problem(returncode: int, stderr: str) -> str | None:
    """What makes accounting unusable from here (e.g. permission denied), or None when qacct
    worked or merely has no record yet."""
    problem = stderr.strip()
    if returncode == 0 or not problem or ACCOUNTING_NOT_YET.search(problem):
        return None
    return problem


def parse_queue_configs(text: str) -> list[QueueInfo]:
    """Queues from `qconf -sq Q[,Q...]`: one block per queue, each starting with `qname`."""
    queues: list[QueueInfo] = []
    name: str | None = None
    limit: str | None = None
    for line in [*text.splitlines(), "qname"]:
        key, _, value = line.partition(" ")
        if key == "qname":
            if name:
                queues.append(QueueInfo(name=name, max_walltime_min=_limit_minutes(limit)))
            name, limit = value.strip(), None
        elif key == "h_rt":
            limit = value.strip()
    return queues


def _limit_minutes(value: str | None) -> int | None:
    """A queue's h_rt, which may differ per host (`INFINITY,[@short=0:5:0]`): the longest of
    them, since a job may land on any; None when any is unlimited."""
    if not value:
        return None
    seconds: list[int] = []
    for item in re.split(r",(?![^\[]*\])", value):
        item = item.strip().strip("[]")
        item = item.partition("=")[2] if "=" in item else item
        parsed = _safe_walltime(item)
        if parsed is None:
            return None
        seconds.append(parsed)
    return math.ceil(max(seconds) / 60) if seconds else None
