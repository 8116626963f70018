"""What LSF's commands print, read: bsub's submission line, the state table, reasons, host lists
and timestamps in every form of `bjobs` met in the field (`BjobsForm`): IBM LSF 10.1's
`-o ... -json`, LSF 9.1's `-o ... delimiter='^'`, the 15 `-o` fields of OpenLava/volclava, and
plain `bjobs -w` with `bjobs -l`; job array elements (`123[4]`) in all of them. Formats follow
real LSF and volclava's source; lsf.py runs the commands."""

from __future__ import annotations

import enum
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime

from .arrays import ArrayElement
from .base import JobInfo, JobState, QueueInfo, distinct_hosts, walltime_left

COMMANDS = ("bsub", "bjobs", "bkill", "bqueues")
# Sites may print esub lines before this one, so every line is searched.
SUBMITTED = re.compile(
    r"Job <(?P<job_id>\d+)> is submitted to (?:default )?queue <(?P<queue>[^>]*)>"
)
BJOBS_FIELDS = (
    "jobid stat queue job_name exec_host submit_time start_time run_time runtimelimit "
    "exit_code exit_reason pend_reason"
)
# OpenLava/volclava's -o knows 15 fields (JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME
# SUBMIT_TIME PROJ_NAME CPU_USED MEM SWAP PIDS START_TIME FINISH_TIME: `fields[]` in volclava's
# lsbatch/cmd/bjobs.c), has no delimiter= and no -noheader; these are the ones we read.
OPENLAVA_FIELDS = "jobid stat queue job_name exec_host submit_time start_time"
DELIMITER = "^"


class BjobsForm(str, enum.Enum):
    """The forms of `bjobs` we read job states with, best first."""

    JSON = "json"  # IBM LSF 10.1 (Fix Pack 2 on): -o <every field we read> -json
    DELIMITED = "delimited"  # LSF 9.1: -o <the same fields> delimiter='^', no -json
    OPENLAVA = "openlava"  # OpenLava/volclava: the 15 -o fields (-json), plus -l for the rest
    PLAIN = "plain"  # older LSF and OpenLava: bjobs -w, plus -l for the rest

    @property
    def json(self) -> bool:
        return self in (BjobsForm.JSON, BjobsForm.OPENLAVA)

    @property
    def reads_long(self) -> bool:
        """Whether reasons, the run limit and every host come from `bjobs -l`."""
        return self in (BjobsForm.OPENLAVA, BjobsForm.PLAIN)

    def argv(self, job_ids: list[str]) -> list[str]:
        if self is BjobsForm.JSON:
            return ["bjobs", "-o", BJOBS_FIELDS, "-json", *job_ids]
        if self is BjobsForm.DELIMITED:
            # No -noheader (not in every 9.1): the header row is skipped when read.
            return ["bjobs", "-o", f"{BJOBS_FIELDS} delimiter='{DELIMITER}'", *job_ids]
        if self is BjobsForm.OPENLAVA:
            return ["bjobs", "-o", OPENLAVA_FIELDS, "-json", *job_ids]
        return ["bjobs", "-w", *job_ids]


# What bjobs says when it does not know a form: volclava `<RUN_TIME> in the format string is not
# a valid field name.` (exit 99), getopt's `illegal option`/`invalid option`, then `Usage:`.
FORM_REJECTED = re.compile(
    r"not a valid field name|illegal field|illegal option|invalid option|unrecognized option"
    r"|usage:",
    re.IGNORECASE,
)


def form_for_banner(banner: str | None) -> BjobsForm:
    """The best form `lsid`'s first line promises; trying it may still step further down."""
    text = (banner or "").lower()
    if "openlava" in text or "volclava" in text:
        return BjobsForm.OPENLAVA
    version = re.search(r"\blsf\D*?(\d+)", text)
    if version is None:
        return BjobsForm.JSON  # an unknown banner: try the best form first
    major = int(version.group(1))
    if major >= 10:
        return BjobsForm.JSON
    # -o came with 9.1 (an early 9.1 has none: trying DELIMITED steps down to PLAIN).
    return BjobsForm.DELIMITED if major == 9 else BjobsForm.PLAIN


# Every STAT LSF prints, mapped once. UNKWN: mbatchd lost the host, the job may well still run.
# ZOMBI: killed while its host was unreachable; LSF finishes it off when the host returns.
NATIVE_STATES: dict[str, JobState] = {
    "PEND": JobState.PENDING,
    "PROV": JobState.PENDING,
    "WAIT": JobState.PENDING,
    "RUN": JobState.RUNNING,
    "UNKWN": JobState.RUNNING,
    "PSUSP": JobState.SUSPENDED,
    "USUSP": JobState.SUSPENDED,
    "SSUSP": JobState.SUSPENDED,
    "DONE": JobState.FINISHED,
    "EXIT": JobState.FAILED,
    "ZOMBI": JobState.FAILED,
}
# LSF's -W [hh:]mm; a bare number is minutes.
WALLTIME_PATTERN = r"^([0-9]{1,4}:)?[0-9]{1,5}$"


def job_state(native: str) -> JobState:
    # A word this table lacks comes from a newer LSF; "running" keeps the job from being
    # resubmitted or forgotten until LSF says it ended.
    return NATIVE_STATES.get(native.upper(), JobState.RUNNING)


def parse_submission(output: str) -> tuple[str, str] | None:
    """(job id, queue) from bsub's answer, None when it holds no submission line."""
    match = SUBMITTED.search(output)
    return (match.group("job_id"), match.group("queue")) if match else None


def walltime_minutes(value: str) -> int | None:
    """Minutes of an LSF `-W [hh:]mm`, None when it is not one (minutes past 59 with hours)."""
    if not re.fullmatch(WALLTIME_PATTERN, value):
        return None
    if ":" in value:
        hours, minutes = (int(part) for part in value.split(":"))
        return None if minutes >= 60 else hours * 60 + minutes
    return int(value)


_MONTHS = {
    name: number
    for number, name in enumerate(
        "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1
    )
}
# The stamps LSF prints: `Mon DD HH:MM` (bjobs, -o submit_time), with `:SS` and an optional weekday
# and year in -l's event lines, and volclava's START_TIME `MM/DD-HH:MM:SS` (also `bjobs -W`).
_NAMED_STAMP = re.compile(
    r"\s*(?:[A-Z][a-z]{2}\s+)?(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?P<hour>\d{1,2})"
    r":(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s+(?P<year>\d{4}))?(?:\s|$|:)"
)
_NUMBERED_STAMP = re.compile(
    r"\s*(?P<month>\d{1,2})/(?P<day>\d{1,2})-(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2}))?"
)


def lsf_datetime(text: str, now: float | None = None) -> datetime | None:
    """A stamp LSF printed, in local time; with no year, the latest such moment not in the
    future (a day of slack for clocks)."""
    match = _NAMED_STAMP.match(text or "") or _NUMBERED_STAMP.match(text or "")
    if not match:
        return None
    parts = match.groupdict()
    month = _MONTHS.get(parts["month"]) if not parts["month"].isdigit() else int(parts["month"])
    current = datetime.fromtimestamp(now if now is not None else time.time()).astimezone()
    year = int(parts.get("year") or current.year)
    try:
        stamp = datetime(
            year,
            month or 0,
            int(parts["day"]),
            int(parts["hour"]),
            int(parts["minute"]),
            int(parts["second"] or 0),
            tzinfo=current.tzinfo,
        )
    except ValueError:
        return None
    if not parts.get("year") and stamp > current and (stamp - current).days >= 1:
        stamp = stamp.replace(year=current.year - 1)
    return stamp


def lsf_timestamp(text: str, now: float | None = None) -> str | None:
    """ISO 8601 of a stamp LSF printed (see lsf_datetime), None when it is not one."""
    stamp = lsf_datetime(text, now)
    return stamp.isoformat() if stamp else None


def exec_hosts(exec_host: str) -> tuple[str, ...]:
    """Distinct hosts of EXEC_HOST: `node01:node01`, `4*node01:2*node02` or space separated."""
    names = [part.split("*", 1)[-1] for part in re.split(r"[:\s]+", exec_host.strip())]
    return distinct_hosts([name for name in names if name != "-"])


def _seconds(text: str) -> int | None:
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class LongRecord:
    """What one job's `bjobs -l` block says; None where the block does not say it."""

    job_id: str
    name: str | None = None
    native_state: str | None = None
    submitted: datetime | None = None
    started: datetime | None = None
    hosts: tuple[str, ...] = ()
    reason: str | None = None  # pending reasons while pending, the end reason once ended
    runlimit_min: float | None = None

    def walltime_left_s(self, now: float | None = None) -> int | None:
        if self.runlimit_min is None or self.started is None:
            return None
        elapsed = (now if now is not None else time.time()) - self.started.timestamp()
        return walltime_left(self.runlimit_min * 60, elapsed)


# -l wraps its lines at 79 columns, breaking words anywhere, and continues them 21 spaces in
# (26 with LSB_DISPLAY_YEAR, when event stamps carry the year); volclava does not wrap.
_YEAR_STAMPS = re.compile(r"(?m)^[A-Z][a-z]{2} [A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2} \d{4}:")
_EVENT = r"^(?P<stamp>(?:[A-Z][a-z]{2} )?[A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2}(?: \d{4})?): +"
# An array element's line carries its index: `[3] started on <vm>` (volclava, recorded).
_STARTED = re.compile(
    _EVENT + r"(?:\[\d+\] )?(?:Started|Dispatched|started|dispatched)(?P<rest>.*)$"
)
_SUBMITTED = re.compile(_EVENT + r"Submitted from host")
_TERM_REASON = re.compile(r"Completed <exit>; (?P<reason>TERM_\w+: [^.;]*)")
_EXIT_CODE = re.compile(r"Exited with exit code (?P<code>\d+)")
_EXIT_SIGNAL = re.compile(r"Exited by signal (?P<signal>\d+)")


def _unwrap(block: str) -> list[str]:
    indent = 26 if _YEAR_STAMPS.search(block) else 21
    continuation = re.compile(rf"^ {{{indent}}}\S")
    out: list[str] = []
    for line in block.splitlines():
        if out and out[-1].strip() and continuation.match(line):
            out[-1] += line[indent:]  # the break may fall on a space at either side
        else:
            out.append(line)
    return out


def _long_hosts(rest: str) -> tuple[str, ...]:
    # `Started 6 Task(s) on Host(s) <6*cn809>, Allocated ...` (LSF 10), `Started on <a6122>`,
    # `Started on 2 Hosts/Processors <h1> <h2>, Execution Home ...` (OpenLava/volclava).
    segment = re.split(r", (?:Allocated|Execution)|;", rest, maxsplit=1)[0]
    return exec_hosts(" ".join(re.findall(r"<([^>]+)>", segment)))


def _runlimit(lines: list[str], index: int) -> float | None:
    # ` RUNLIMIT` heads a column (CPULIMIT may stand left of it); the value sits below it.
    column = lines[index].index("RUNLIMIT")
    if index + 1 >= len(lines):
        return None
    match = re.match(r"\s*([\d.]+)\s*min", lines[index + 1][max(column - 1, 0) :])
    return float(match.group(1)) if match else None


def _long_block(block: str, now: float | None) -> LongRecord | None:
    lines = _unwrap(block)
    header = next((line for line in lines if line.startswith("Job <")), None)
    job = re.match(r"Job <(\d+(?:\[\d+\])?)>", header or "")
    if header is None or job is None:
        return None
    name = re.search(r", Job Name <(.*?)>, (?:User|Project|Status)", header)
    status = re.search(r", Status <(\w+)>", header)
    native = status.group(1) if status else None
    submitted = started = None
    hosts: tuple[str, ...] = ()
    runlimit = None
    pending: list[str] = []
    for index, line in enumerate(lines):
        if found := _SUBMITTED.match(line):
            submitted = lsf_datetime(found.group("stamp"), now)
        elif found := _STARTED.match(line):
            started = lsf_datetime(found.group("stamp"), now)
            hosts = _long_hosts(found.group("rest"))
        elif "RUNLIMIT" in line.split():
            runlimit = _runlimit(lines, index)
        elif line.strip() == "PENDING REASONS:":
            for reason in lines[index + 1 :]:
                if not reason.strip() or not reason.startswith(" "):
                    break
                pending.append(reason.strip().rstrip(";").strip())
    text = "\n".join(lines)
    reason = None
    if native in ("PEND", "PSUSP"):
        reason = "; ".join(pending) or None
    elif native in ("EXIT", "ZOMBI"):
        if found := _TERM_REASON.search(text):
            reason = found.group("reason").strip()
        elif found := _EXIT_CODE.search(text):
            reason = f"exit code {found.group('code')}"
        elif found := _EXIT_SIGNAL.search(text):
            reason = f"signal {found.group('signal')}"
    return LongRecord(
        job_id=job.group(1),
        name=name.group(1) if name else None,
        native_state=native,
        submitted=submitted,
        started=started,
        hosts=hosts,
        reason=reason,
        runlimit_min=runlimit,
    )


def parse_bjobs_long(text: str, now: float | None = None) -> dict[str, LongRecord]:
    """Jobs of `bjobs -l ID...`."""
    # A row of dashes separates jobs; a new `Job <N>,` header starts one in any case.
    blocks = re.split(r"(?m)^-{20,}\s*$|^(?=Job <\d)", text)
    records = (_long_block(block, now) for block in blocks)
    return {record.job_id: record for record in records if record is not None}


def _walltime_left(
    record: dict[str, str], state: JobState, long: LongRecord | None, now: float | None
) -> int | None:
    if state is not JobState.RUNNING:
        return None
    if "RUNTIMELIMIT" not in record:
        return long.walltime_left_s(now) if long else None
    try:
        limit_s = int(float(record.get("RUNTIMELIMIT") or "") * 60)
    except ValueError:
        return None
    run_s = _seconds(record.get("RUN_TIME", ""))
    return None if run_s is None else walltime_left(limit_s, run_s)


def _reason(record: dict[str, str], state: JobState, long: LongRecord | None) -> str | None:
    if "PEND_REASON" not in record:  # a form without reasons: -l's words, if it was read
        return long.reason if long and (state is JobState.PENDING or state.ended) else None
    if state is JobState.PENDING:
        return (record.get("PEND_REASON") or "").strip().rstrip(";") or None
    if state.ended:
        reason = (record.get("EXIT_REASON") or "").strip()
        code = (record.get("EXIT_CODE") or "").strip()
        if not reason and state is JobState.FAILED and code:
            reason = f"exit code {code}"
        return reason or None
    return None


# bjobs shows an element of a job array under its array's JOBID, its index in JOB_NAME
# (`dask-x[4]`: the array's name with the index) [IBM bjobs]; `-l` heads it `Job <123[4]>`, the
# id bkill and bjobs take for that element alone.
_ELEMENT_NAME = re.compile(r"(?P<name>.*)\[(?P<index>\d+)\]")
_ELEMENT_ID = re.compile(r"(?P<parent>\d+)\[(?P<index>\d+)\]")


def element_id(parent: str, index: int) -> str:
    """LSF's id of one element of job array `parent`."""
    return f"{parent}[{index}]"


def parse_element_id(job_id: str) -> ArrayElement | None:
    """The array and index of an element id (`123[4]`); None for a job's own id."""
    match = _ELEMENT_ID.fullmatch(job_id.strip())
    return ArrayElement(match.group("parent"), int(match.group("index"))) if match else None


def record_job_id(record: dict[str, str]) -> str:
    """The id of the job a bjobs record is about: the element's (`123[4]`) for an element of an
    array, read from its JOB_NAME (or a JOBINDEX above 0), else JOBID."""
    job_id = record.get("JOBID") or ""
    if not job_id.isdigit():
        return job_id
    index = (record.get("JOBINDEX") or "").strip()
    if index.isdigit() and int(index) > 0:
        return element_id(job_id, int(index))
    name = _ELEMENT_NAME.fullmatch(record.get("JOB_NAME") or "")
    return element_id(job_id, int(name.group("index"))) if name else job_id


def job_info(
    record: dict[str, str], now: float | None = None, long: LongRecord | None = None
) -> JobInfo:
    """One job from a bjobs record (upper-case field names, "" for nothing) and, for forms
    whose fields do not tell everything, its `bjobs -l` block."""
    native = record.get("STAT") or (long.native_state if long else None) or "UNKWN"
    state = job_state(native)
    hosts = exec_hosts(record.get("EXEC_HOST") or "")
    if long and long.hosts:
        # OpenLava's -o EXEC_HOST names the first host only; -l lists them all.
        hosts = long.hosts
    started = lsf_timestamp(record.get("START_TIME", ""), now)
    if long and long.started:
        started = long.started.isoformat()
    submitted = lsf_timestamp(record.get("SUBMIT_TIME", ""), now)
    if long and long.submitted:  # -l's stamps have the seconds
        submitted = long.submitted.isoformat()
    job_id = record_job_id(record) if record.get("JOBID") else (long.job_id if long else "")
    element = parse_element_id(job_id)
    name = record.get("JOB_NAME") or (long.name if long else None) or None
    if element is not None and name and name.endswith(f"[{element.index}]"):
        # The name we gave the array: what a record's job is confirmed by, for its elements too.
        name = name[: -len(f"[{element.index}]")]
    return JobInfo(
        job_id=job_id,
        state=state,
        native_state=native,
        reason=_reason(record, state, long),
        hosts=hosts,
        submitted=submitted,
        started=started,
        walltime_left_s=_walltime_left(record, state, long, now),
        name=name,
        array=element,
    )


def _json_records(text: str) -> list[dict[str, str]]:
    records = json.loads(text).get("RECORDS", [])
    # Text forms print "-" for nothing, JSON ""; OpenLava's JSON also says "-" for START_TIME.
    return [
        {key: "" if str(value).strip() == "-" else str(value) for key, value in record.items()}
        for record in records
    ]


def parse_bjobs_json(
    text: str, now: float | None = None, long: dict[str, LongRecord] | None = None
) -> dict[str, JobInfo]:
    """Records of `bjobs -o "<fields>" -json`; jobs LSF no longer knows are left out."""
    jobs: dict[str, JobInfo] = {}
    for record in _json_records(text):
        job_id = record_job_id(record)
        if not job_id or "ERROR" in record:
            continue  # aged out of mbatchd's memory: nothing left to report or kill
        jobs[job_id] = job_info(record, now, (long or {}).get(job_id))
    return jobs


def parse_bjobs_delimited(
    text: str, fields: str, delimiter: str = "^", now: float | None = None
) -> dict[str, JobInfo]:
    """Rows of `bjobs -o "<fields> delimiter='^'"` (LSF 9.1: -o without -json)."""
    names = [name.upper() for name in fields.split()]
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        values = line.split(delimiter)
        if len(values) < len(names) or not values[0].strip().isdigit():
            continue  # a header, a message or a row we cannot place: no wrong values
        if len(values) > len(names):  # the delimiter inside the last field's text
            values = [*values[: len(names) - 1], delimiter.join(values[len(names) - 1 :])]
        record = {
            n: "" if v.strip() == "-" else v.strip() for n, v in zip(names, values, strict=True)
        }
        jobs[record_job_id(record)] = job_info(record, now)
    return jobs


def parse_bjobs_wide(
    text: str, now: float | None = None, long: dict[str, LongRecord] | None = None
) -> dict[str, JobInfo]:
    """Rows of plain `bjobs -w ID...`: the state and submit time; name, hosts, reasons and the
    run limit come from `bjobs -l` (a name may hold spaces and EXEC_HOST may be blank, so the
    middle columns cannot be told apart)."""
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 8 or line[0].isspace() or not words[0].isdigit():
            continue
        record = {"JOBID": words[0], "STAT": words[2], "SUBMIT_TIME": " ".join(words[-3:])}
        # The name's last word stands before the time: an element's index ends it (`x[4]`).
        if index := _ELEMENT_NAME.fullmatch(words[-4]):
            record["JOBINDEX"] = index.group("index")
        job_id = record_job_id(record)
        jobs[job_id] = job_info(record, now, (long or {}).get(job_id))
    return jobs


def parse_bqueues(text: str) -> list[QueueInfo]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("QUEUE_NAME"):
        return []
    return [QueueInfo(name=line.split()[0]) for line in lines[1:]]


def parse_bhosts_slots(text: str) -> int | None:
    """The most job slots one host offers (the MAX column of `bhosts -w`), the most cores a job
    confined to one host (`span[hosts=1]`, as dask-jobqueue asks) can ever get. None when no host
    is listed or one has no slot limit ("-")."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0][:1] != ["HOST_NAME"] or "MAX" not in lines[0]:
        return None
    column = lines[0].index("MAX")
    slots = [row[column] for row in lines[1:] if len(row) > column]
    if not slots or not all(value.isdigit() for value in slots):
        return None
    return max(int(value) for value in slots)
