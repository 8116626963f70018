"""Grid Engine (Son of Grid Engine 8.1, and the Univa/Altair lineage that shares its commands):
qsub, one `qstat -xml` for every job's state, `qstat -j` for pending and error reasons, `qacct`
for how ended jobs ended, qdel, and queues from qconf.

Grid Engine forgets a job the moment it ends, so "not listed by qstat" means ended; accounting
(qacct) tells how, when the site writes it and lets users read it."""

from __future__ import annotations

import getpass
import logging
import math
import re
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from ..errors import SchedulerCommandFailed
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
from .commands import run_command

log = logging.getLogger(__name__)

SUBMITTED = re.compile(r'Your job (?P<job_id>\d+) \("(?P<name>.*)"\) has been submitted')
# qdel's answers per job; anything else (a commlib error, "belongs to user") is a real failure.
QDEL_ACCEPTED = re.compile(
    r"has registered the job \d+ for deletion|has deleted job \d+|forced the deletion of job"
    r'|job "?\d+"? does not exist'
)

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

# Pending reasons cost one `qstat -j` (about 1 kB per job): ask for a bounded number of jobs per
# refresh and keep each answer a while; a reason rarely changes between two polls.
REASON_TTL_S = 30.0
# No reason yet (the scheduler has not looked at a new job): asked again sooner.
NO_REASON_TTL_S = 5.0
REASONS_PER_CALL = 20
# A reason of many lines (one per queue instance on a big site) is cut to the first few.
REASON_LINES = 3
# Remembered ends: a finished job never changes again, so it is read from qacct once.
ENDED_REMEMBERED = 2000
# Clock differences between this host and the qmaster, and accounting written late.
ACCOUNTING_MARGIN_S = 120
# qmaster writes accounting every flush_time (15 s by default): a job that left qstat is given
# that long to appear there before it is reported ended without a reason.
ACCOUNTING_WAIT_S = 20.0
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
        if info.job_id in listed:
            # A parallel job over several hosts is listed once per queue instance (qstat -g t).
            hosts = distinct_hosts([*listed[info.job_id].hosts, *info.hosts])
            info = replace(listed[info.job_id], hosts=hosts)
        listed[info.job_id] = info
    return listed


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


@dataclass(frozen=True)
class _Reason:
    asked_at: float  # time.monotonic()
    native_state: str  # the state it was asked in
    reason: str | None


class SGEClient(SchedulerClient):
    name = "sge"

    def __init__(self, user: str | None = None) -> None:
        self.user = user or getpass.getuser()
        self._reasons: dict[str, _Reason] = {}
        self._ended: OrderedDict[str, JobInfo] = OrderedDict()
        # What qstat said about each job the last time it listed it, and when (time.time()).
        self._last_listed: dict[str, tuple[float, JobInfo]] = {}
        self._killed: set[str] = set()
        self._accounting_readable = True

    async def submit(self, script: str) -> str:
        result = await run_command(["qsub"], stdin=script)
        job_id = parse_qsub(result.stdout)
        if result.returncode != 0 or job_id is None:
            raise SchedulerCommandFailed(
                "qsub", result.returncode, result.stderr.strip() or result.stdout
            )
        return job_id

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """Jobs qstat lists, read with one call; for the others (ended), how they ended as far as
        accounting knows, else finished with no reason."""
        if not job_ids:
            return {}
        every = await self.list_jobs()
        listed = {j: every[j] for j in job_ids if j in every}
        await self._add_reasons(listed, every)
        now = time.time()
        for job_id, info in listed.items():
            self._last_listed[job_id] = (now, info)
        gone = [j for j in job_ids if j not in listed]
        return {**listed, **(await self._ended_jobs(gone))}

    async def list_jobs(self) -> dict[str, JobInfo]:
        """All of this user's jobs that Grid Engine holds, with one qstat call."""
        result = await run_command(["qstat", "-xml", "-r", "-u", self.user], timeout=self.timeout_s)
        if result.returncode != 0:
            raise SchedulerCommandFailed("qstat", result.returncode, result.stderr or result.stdout)
        try:
            return parse_qstat_xml(result.stdout)
        except ValueError as error:
            raise SchedulerCommandFailed("qstat", result.returncode, str(error)) from None

    async def _add_reasons(self, listed: dict[str, JobInfo], every: dict[str, JobInfo]) -> None:
        # Running jobs have no reason to give; error-state jobs say what went wrong.
        waiting = [
            j for j, info in listed.items() if info.state in (JobState.PENDING, JobState.FAILED)
        ]
        now = time.monotonic()

        def asked_at(job_id: str) -> float:
            return self._reasons[job_id].asked_at if job_id in self._reasons else -math.inf

        def is_stale(job_id: str) -> bool:
            known = self._reasons.get(job_id)
            if known is None or known.native_state != listed[job_id].native_state:
                return True  # qw -> Eqw: the error replaces the scheduling info
            return now - known.asked_at > (REASON_TTL_S if known.reason else NO_REASON_TTL_S)

        # Oldest answers first, so that with many pending jobs every one gets its turn.
        batch = sorted(filter(is_stale, waiting), key=asked_at)[:REASONS_PER_CALL]
        if batch:
            try:
                result = await run_command(["qstat", "-j", ",".join(batch)], timeout=self.timeout_s)
                fresh = parse_qstat_j(result.stdout)
            except SchedulerCommandFailed as error:
                log.info("pending reasons unavailable: %s", error.message)
                fresh = {}
            for job_id in batch:
                native = listed[job_id].native_state
                self._reasons[job_id] = _Reason(now, native, fresh.get(job_id))
        for job_id in list(self._reasons):
            if job_id not in every:
                del self._reasons[job_id]
        for job_id in waiting:
            known = self._reasons.get(job_id)
            if known is not None and known.reason:
                listed[job_id] = replace(listed[job_id], reason=known.reason)

    async def _ended_jobs(self, job_ids: list[str]) -> dict[str, JobInfo]:
        unknown = [j for j in job_ids if j not in self._ended]
        found = await self._accounting(unknown) if unknown else {}
        now = time.time()
        answer: dict[str, JobInfo] = {}
        for job_id in job_ids:
            info = self._ended.get(job_id) or found.get(job_id)
            if info is None:
                seen_at, last = self._last_listed.get(job_id, (-math.inf, None))
                if last is not None and self._awaits_accounting(job_id, now - seen_at):
                    # qmaster writes accounting a little after the end (flush_time): until
                    # then the job stays as last seen rather than ending without its reason.
                    answer[job_id] = last
                    continue
                info = JobInfo(job_id=job_id, state=JobState.FINISHED, native_state=ENDED_WORD)
            elif job_id in self._killed and info.state is JobState.FAILED:
                # Deleted on request (a scale-down, a DELETE): accounting calls that a failure
                # ("assumedly after job", killed), but it ended as asked.
                info = replace(info, state=JobState.FINISHED)
            self._remember_end(info)
            answer[job_id] = info
        return answer

    def _awaits_accounting(self, job_id: str, gone_for_s: float) -> bool:
        # Jobs we deleted ended because of that; nothing to wait for.
        return (
            self._accounting_readable
            and job_id not in self._killed
            and gone_for_s < ACCOUNTING_WAIT_S
        )

    def _remember_end(self, info: JobInfo) -> None:
        self._ended[info.job_id] = info
        self._last_listed.pop(info.job_id, None)
        self._killed.discard(info.job_id)
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    async def _accounting(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """How these jobs ended, from qacct: `-j ID` for one; for several, one call for all of
        this user's jobs that ended since the earliest of them was last listed."""
        if not self._accounting_readable:
            return {}
        if len(job_ids) == 1:
            argv = ["qacct", "-j", job_ids[0]]
        else:
            seen = [self._last_listed[j][0] for j in job_ids if j in self._last_listed]
            since = min(seen) if len(seen) == len(job_ids) else time.time() - 86400
            begin = datetime.fromtimestamp(since - ACCOUNTING_MARGIN_S).strftime("%y%m%d%H%M.%S")
            argv = ["qacct", "-o", self.user, "-E", "-b", begin, "-j"]
        try:
            result = await run_command(argv, timeout=2 * self.timeout_s)
        except SchedulerCommandFailed as error:
            self._accounting_unreadable(error.message)
            return {}
        problem = accounting_problem(result.returncode, result.stderr)
        if problem:
            self._accounting_unreadable(problem)
        return parse_qacct(result.stdout)

    def _accounting_unreadable(self, why: str) -> None:
        # Sites may keep the accounting file off the login node: ended jobs then end at once,
        # without a reason, instead of each waiting for a record that never comes.
        log.info("Grid Engine accounting unavailable, end reasons unknown: %s", why)
        self._accounting_readable = False

    def killed_elsewhere(self, job_ids: list[str]) -> None:
        self._killed.update(job_ids)

    async def kill(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        self._killed.update(job_ids)
        result = await run_command(["qdel", *job_ids], timeout=self.timeout_s)
        if result.returncode == 0:
            return
        refused = qdel_refusals(f"{result.stdout}\n{result.stderr}")
        if refused:
            raise SchedulerCommandFailed("qdel", result.returncode, "\n".join(refused))

    async def queues(self) -> list[QueueInfo]:
        names = await run_command(["qconf", "-sql"], timeout=self.timeout_s)
        if names.returncode != 0:
            raise SchedulerCommandFailed("qconf", names.returncode, names.stderr or names.stdout)
        queue_names = [line.strip() for line in names.stdout.splitlines() if line.strip()]
        if not queue_names:
            return []
        # One call for all queues: qconf -sq takes a comma-separated list.
        configs = await run_command(["qconf", "-sq", ",".join(queue_names)], timeout=self.timeout_s)
        if configs.returncode != 0:
            raise SchedulerCommandFailed(
                "qconf", configs.returncode, configs.stderr or configs.stdout
            )
        limits = {q.name: q for q in parse_queue_configs(configs.stdout)}
        return [limits.get(name, QueueInfo(name=name)) for name in queue_names]
