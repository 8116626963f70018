"""What bjobs prints: -o fields, the default and wide tables, `-l` blocks, OpenLava's 15 -o
fields and JSON, in each dialect's own layout (bjobs.py reads the arguments and picks jobs)."""

from __future__ import annotations

import sys
import time

from .state import FINISHED, TERM_TEXT, id_order, job_key

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .state import Job

HEADER = "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"
# Continuation lines for further execution hosts line up under EXEC_HOST (OL exechostfmt "%45s%-s").
EXEC_HOST_INDENT = 45

# Default column widths of `bjobs -o` fields given without a width (IBM's -o field table).
FIELD_WIDTHS = {
    "jobid": 7,
    "stat": 5,
    "user": 7,
    "queue": 10,
    "job_name": 10,
    "proj_name": 11,
    "from_host": 11,
    "exec_host": 11,
    "first_host": 11,
    "nexec_host": 10,
    "submit_time": 15,
    "start_time": 15,
    "finish_time": 16,
    "run_time": 15,
    "runtimelimit": 12,
    "time_left": 11,
    "exit_code": 10,
    "exit_reason": 50,
    "nreq_slot": 10,
    "nalloc_slot": 10,
    "slots": 5,
    "pend_reason": 11,
    "pend_time": 12,
    "sub_cwd": 10,
    "output_file": 11,
    "error_file": 10,
    "command": 15,
    "pids": 20,
    "memlimit": 10,
    "max_mem": 15,
    "mem": 15,
    "alloc_slot": 20,
    "cpu_used": 10,
    "jobindex": 8,
    "user_group": 15,
    "interactive": 11,
    "exec_cwd": 10,
    "exec_home": 10,
    "min_req_proc": 12,
    "max_req_proc": 12,
    "job_description": 17,
}
# OpenLava/volclava's -o knows these 15 fields only (`fields[]` in lsbatch/cmd/bjobs.c), takes no
# widths and no delimiter=, and prints them space separated under a header row.
OPENLAVA_FIELDS = (
    "JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME PROJ_NAME CPU_USED MEM SWAP "
    "PIDS START_TIME FINISH_TIME"
).split()
# volclava's usage() (getopt has already said which option it does not know).
OPENLAVA_USAGE = (
    "Usage: bjobs [-h] [-V] [-w |-l |-UF] [-a] [-d] [-p] [-s] [-r] [-o] [-json] [-A]\n"
    "             [-m host_name] [-q queue_name] [-u user_name | -u all]\n"
    "             [-P project_name] [-N host_spec]\n"
    '             [-J name_spec] [jobId | "jobId[idxList]" ...]'
)
FIELD_ALIASES = {"id": "jobid", "name": "job_name", "proj": "proj_name", "project": "proj_name"}


def lsf_time(stamp: float | None) -> str:
    """ctime() characters 4-15: 'Nov  5 09:03' (day space-padded)."""
    if not stamp:
        return ""
    return time.ctime(stamp)[4:16]


def truncate_name(name: str, width: int = 10) -> str:
    return name if len(name) <= width else "*" + name[-(width - 1) :]


def run_seconds(job: Job, now: float) -> int:
    if not job.get("start_time"):
        return 0
    end = job.get("finish_time") or now
    return max(int(end - job["start_time"]), 0)


def field_value(job: Job, field: str, now: float) -> str:
    """The value of one -o field; "" when LSF has nothing to show."""
    status = job["status"]
    if field == "jobid":
        return str(job["id"])
    if field == "stat":
        return status
    if field == "user":
        return job["user"]
    if field == "queue":
        return job["queue"]
    if field == "job_name":
        return job["name"]
    if field == "proj_name":
        return job.get("project") or "default"
    if field == "from_host":
        return job["from_host"]
    if field in ("exec_host", "alloc_slot"):
        return ":".join(job.get("hosts") or [])
    if field == "first_host":
        return (job.get("hosts") or [""])[0]
    if field == "nexec_host":
        return str(len(set(job.get("hosts") or []))) if job.get("hosts") else ""
    if field == "submit_time":
        return lsf_time(job["submit_time"])
    if field == "start_time":
        return lsf_time(job.get("start_time"))
    if field == "finish_time":
        return lsf_time(job.get("finish_time"))
    if field == "run_time":
        return f"{run_seconds(job, now)} second(s)"
    if field == "runtimelimit":
        limit = job.get("runlimit_min")
        return f"{float(limit):.1f}" if limit else ""
    if field == "time_left":
        limit = job.get("runlimit_min")
        if status != "RUN" or not limit:
            return ""
        seconds_per_minute = float(job["minute_seconds"]) or 60.0
        left_s = max(limit * seconds_per_minute - (now - job["start_time"]), 0.0)
        minutes = int(left_s / seconds_per_minute)  # emulated minutes, to agree with RUNTIMELIMIT
        return f"{minutes // 60}:{minutes % 60:02d} L"
    if field == "exit_code":
        # DONE jobs show no exit code (choice: LSF reports exit codes only for EXIT jobs).
        code = job.get("exit_code")
        return str(code) if status == "EXIT" and code not in (None, 0) else ""
    if field == "exit_reason":
        reason = job.get("exit_reason")
        return f"{reason}: {TERM_TEXT.get(reason, '')}" if reason and status in FINISHED else ""
    if field in ("nreq_slot", "slots", "min_req_proc", "max_req_proc"):
        return str(job["nslots"])
    if field == "nalloc_slot":
        return str(len(job.get("hosts") or [])) if job.get("hosts") else ""
    if field == "pend_reason":
        return (job.get("pend_reason") or "") if status == "PEND" else ""
    if field == "pend_time":
        start = job.get("start_time") or now
        return f"{max(int(start - job['submit_time']), 0)} second(s)"
    if field in ("sub_cwd", "exec_cwd"):
        return job["cwd"]
    if field == "exec_home":
        return job.get("exec_home") or ""
    if field == "output_file":
        return job.get("output") or ""
    if field == "error_file":
        return job.get("error") or ""
    if field == "command":
        return job["command"] if job.get("argv") else job["name"]
    if field == "pids":
        return str(job["pid"]) if job.get("pid") and status == "RUN" else ""
    if field == "memlimit":
        kb = job.get("memlimit_kb")
        return f"{kb / 1024:.0f} M" if kb else ""
    if field == "jobindex":
        return "0"
    if field == "interactive":
        return "Y" if job.get("interactive") else "N"
    return ""


def openlava_time(stamp: float | None) -> str:
    """volclava's Time2String: `MM/DD-HH:MM:SS`, "-" when there is none."""
    return time.strftime("%m/%d-%H:%M:%S", time.localtime(stamp)) if stamp else "-"


def openlava_value(job: Job, field: str, as_json: bool) -> str:
    """One of OpenLava's 15 -o fields, as volclava's displayO/displayJson print it."""
    status = job["status"]
    hosts = job.get("hosts") or []
    if field == "EXEC_HOST":
        # The first host only; "-" (JSON "") while pending, "   -   " for a job that never ran.
        if status in ("PEND", "PSUSP"):
            return "" if as_json else "-"
        return hosts[0] if hosts else "   -   "
    if field == "CPU_USED":
        return "000:00:00.00"
    if field in ("MEM", "SWAP"):
        return "0"  # KB, as an integer
    if field == "PIDS":
        return str(job["pid"]) if job.get("pid") and status == "RUN" else "-"
    if field == "START_TIME":
        return openlava_time(job.get("start_time"))
    if field == "FINISH_TIME":
        return openlava_time(job.get("finish_time"))
    return field_value(job, field.lower(), time.time())


def json_text(document: dict[str, object], speaks: str) -> str:
    import json

    if speaks == "openlava":  # cJSON_Print: tab indents, a tab after each colon
        return json.dumps(document, indent="\t", separators=(",", ":\t")) + "\n"
    return json.dumps(document, indent=2, separators=(",", ":")) + "\n"


def usage_error(letter: str) -> int:
    # glibc getopt's complaint, then the command's usage (volclava; LSF 9.1's wording for -json
    # is UNCONFIRMED, taken to be the same getopt behaviour).
    print(f"bjobs: invalid option -- '{letter}'", file=sys.stderr)
    print(OPENLAVA_USAGE, file=sys.stderr)
    return 255


def parse_format(spec: str) -> tuple[list[tuple[str, int | None, bool]], str | None]:
    """'jobid stat:-8 exec_host delimiter=\'^\'' -> [(field, width, right_justified)], delimiter."""
    fields: list[tuple[str, int | None, bool]] = []
    delimiter = None
    for word in spec.split():
        if word.lower().startswith("delimiter="):
            delimiter = word.split("=", 1)[1].strip("'\"")
            continue
        name, _, rest = word.partition(":")
        name = FIELD_ALIASES.get(name.lower(), name.lower())
        width = None
        right = False
        if rest:
            size = rest.split(":")[0]
            right = size.startswith("-")
            if size.strip("-").isdigit():
                width = int(size.strip("-"))
        if name not in FIELD_WIDTHS:
            raise ValueError(word.partition(":")[0])
        fields.append((name, width, right))
    return fields, delimiter


def format_cell(name: str, value: str, width: int | None, right: bool) -> str:
    if width is not None and len(value) > width:
        value = truncate_name(value, width) if name == "job_name" else value[:width]
    size = width if width is not None else FIELD_WIDTHS.get(name, 0)
    return value.rjust(size) if right else value.ljust(size)


def default_rows(jobs: list[Job], wide: bool, speaks: str = "lsf10") -> list[str]:
    lines = []
    for job in jobs:
        hosts = (job.get("hosts") or []) if job["status"] != "PEND" else []
        if wide:
            # volclava (recorded) pads a dash into the column of a job with no host.
            shown = ":".join(hosts) or ("   -   " if speaks == "openlava" else "")
            lines.append(
                f"{job['id']:<7d} {job['user']:<7s} {job['status']:<5.5s} {job['queue']:<10s} "
                f"{job['from_host']:<11s} {shown:<11s} {job['name']:<10s} "
                f"{lsf_time(job['submit_time'])}"
            )
            continue
        first = hosts[0] if hosts else ""
        lines.append(
            f"{job['id']:<7d} {job['user']:<7.7s} {job['status']:<5.5s} {job['queue']:<10.10s} "
            f"{job['from_host']:<11.11s} {first:<11.11s} {truncate_name(job['name']):<10.10s} "
            f"{lsf_time(job['submit_time'])}"
        )
        for host in hosts[1:]:
            lines.append(" " * EXEC_HOST_INDENT + host)
    return lines


def wrap_long(text: str, width: int = 79, indent: int = 21) -> list[str]:
    """bjobs -l wraps records at 79 columns, breaking words anywhere, continuing 21 spaces in."""
    lines = [text[:width]]
    rest = text[width:]
    room = width - indent
    while rest:
        lines.append(" " * indent + rest[:room])
        rest = rest[room:]
    return lines


def host_counts(hosts: list[str]) -> str:
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host] = counts.get(host, 0) + 1
    return "".join(f"<{n}*{h}>" if n > 1 else f"<{h}>" for h, n in counts.items())


def unwrapped(text: str) -> list[str]:
    return [text]


def pending_reason(job: Job, speaks: str, hosts: int) -> str:
    """The pending reason as -l and -p print it: volclava adds on how many hosts it holds
    (recorded: ` Job slot limit reached: 1 host;`)."""
    reason = job.get("pend_reason") or ""
    if speaks == "openlava" and reason:
        return f"{reason.rstrip(';')}: {hosts} host{'s' if hosts != 1 else ''};"
    return reason


def long_record(job: Job, now: float, speaks: str = "lsf10", host_count: int = 1) -> list[str]:
    """The main lines of `bjobs -l` (LSF-REFERENCE 2.4; OpenLava's as recorded from volclava,
    which does not wrap them)."""
    wrap = unwrapped if speaks == "openlava" else wrap_long
    stamp = lambda t: time.ctime(t)[:19] + ": "  # noqa: E731 - "Tue Jul 24 10:03:15: "
    command = job["command"] if job.get("argv") else job["name"]
    if speaks == "openlava" and not job.get("argv"):
        command = ";".join(job["command"].splitlines())  # volclava: a script's lines joined
    out = wrap(
        f"Job <{job_key(job)}>, Job Name <{job['name']}>, User <{job['user']}>, Project "
        f"<{job.get('project') or 'default'}>, Status <{job['status']}>, Queue <{job['queue']}>, "
        f"Command <{command}>"
        + ("" if speaks == "openlava" else f", Share group charged </{job['user']}>")
    )
    submitted = f"Submitted from host <{job['from_host']}>, CWD <{job['cwd']}>"
    if job.get("output"):
        submitted += f", Output File <{job['output']}>"
    if job.get("error"):
        submitted += f", Error File <{job['error']}>"
    if int(job["nslots"]) > 1:
        submitted += f", {job['nslots']} Task(s)"
    if job.get("resources"):
        submitted += f", Requested Resources <{job['resources']}>"
    out += wrap(stamp(job["submit_time"]) + submitted + ";")
    hosts = job.get("hosts") or []
    # An element's start names its index, lower-case: `[3] started on <vm>` (volclava,
    # recorded); IBM's wording for elements is UNCONFIRMED, taken to follow the same pattern.
    element = f"[{job['index']}] s" if job.get("index") else "S"
    if job.get("start_time") and hosts and speaks == "openlava":
        many = f" {len(hosts)} Hosts/Processors" if len(hosts) > 1 else ""
        out += wrap(
            stamp(job["start_time"])
            + f"{element}tarted on{many} {' '.join(f'<{h}>' for h in hosts)}, Execution Home "
            f"<{job.get('exec_home') or ''}>, Execution CWD <{job['cwd']}>;"
        )
    elif job.get("start_time") and hosts:
        out += wrap(
            stamp(job["start_time"])
            + f"{element}tarted {len(hosts)} Task(s) on Host(s) {host_counts(hosts)}, Allocated "
            f"{len(hosts)} Slot(s) on Host(s) {host_counts(hosts)}, Execution Home "
            f"<{job.get('exec_home') or ''}>, Execution CWD <{job['cwd']}>;"
        )
    if job["status"] == "PEND":
        reasons = [" PENDING REASONS:", f" {pending_reason(job, speaks, host_count)}"]
        out += reasons if speaks == "openlava" else ["", *reasons]
    if job.get("runlimit_min") and speaks == "openlava":
        # prtResourceLimit: a " %-24s" header, the value " %-.1f min" padded to 25 columns.
        value = f" {float(job['runlimit_min']):.1f} min"
        out += ["", f" {'RUNLIMIT':<24s}", f"{value:<25s}"]
    elif job.get("runlimit_min"):
        out += ["", " RUNLIMIT", f" {float(job['runlimit_min']):.1f} min"]
    if job.get("memlimit_kb") and speaks == "openlava":
        out += ["", " MEMLIMIT", f" {job['memlimit_kb']} K"]
    elif job.get("memlimit_kb"):
        out += ["", " MEMLIMIT", f" {job['memlimit_kb'] / 1024 / 1024:6.1f} G"]
    if job["status"] in FINISHED and job.get("finish_time"):
        done = stamp(job["finish_time"])
        if job["status"] == "DONE":
            out += ["", *wrap(done + "Done successfully. The CPU time used is 0.0 seconds.")]
        else:
            code = job.get("exit_code")
            if code is not None:
                exited = f"Exited with exit code {code}. The CPU time used is 0.0 seconds."
                out += ["", *wrap(done + exited)]
            reason = job.get("exit_reason")
            if speaks != "openlava":  # volclava's bjobs -l names no termination reason
                tail = f"; {reason}: {TERM_TEXT.get(reason, '')}." if reason else "."
                out += wrap(done + "Completed <exit>" + tail)
    out += [
        "",
        " SCHEDULING PARAMETERS:",
        "           r15s   r1m  r15m   ut      pg    io   ls    it    tmp    swp    mem",
        " loadSched   -     -     -     -       -     -    -     -     -      -      -",
        " loadStop    -     -     -     -       -     -    -     -     -      -      -",
    ]
    return out


def openlava_output(
    found: list[Job], names: list[str], ordered: list[dict[str, str]], as_json: bool
) -> int:
    """volclava's -o: fields are checked when the first job is shown (so a bad field with no job
    to show goes unnoticed), then a header row and space-separated values, or JSON."""
    bad = next((name for name in names if name not in OPENLAVA_FIELDS), None)
    if bad is not None:
        print(f"<{bad}> in the format string is not a valid field name.", file=sys.stderr)
        return 99
    names = list(dict.fromkeys(names))
    if as_json:
        jobs = iter(found)
        records = []
        for record in ordered or [{}] * len(found):
            job = record or next(jobs)
            records.append(record or {n: openlava_value(job, n, True) for n in names})
        document = {"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}
        sys.stdout.write(json_text(document, "openlava"))
        return 0
    rows = [" ".join(names)]
    rows += [" ".join(openlava_value(job, n, False) for n in names) for job in found]
    sys.stdout.write("\n".join(rows) + "\n")
    return 0


def order(jobs: list[Job]) -> list[Job]:
    # Running (and suspended) jobs first, then pending, then finished, each by job ID.
    rank = {"RUN": 0, "USUSP": 0, "SSUSP": 0, "PSUSP": 1, "PEND": 1, "DONE": 2, "EXIT": 2}
    return sorted(jobs, key=lambda job: (rank.get(job["status"], 3), *id_order(job)))
