"""bjobs: the default table, -w, -a, -u, job IDs, -noheader, -o "fields delimiter='c'" and -json."""

from __future__ import annotations

import sys
import time

from .bjobs_format import (
    HEADER,
    OPENLAVA_USAGE,
    default_rows,
    field_value,
    format_cell,
    json_text,
    long_record,
    openlava_output,
    order,
    parse_format,
    usage_error,
)
from .config import dialect, ensure_config, home, user_name
from .options import scan_options
from .state import ACTIVE, expired, jobs_named, jobs_sorted, read_state

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .state import Job


# The state filters of -r, -p, -s and -d.
STATE_OPTIONS = {
    "-r": {"RUN"},
    "-p": {"PEND", "PSUSP"},
    "-s": {"PSUSP", "USUSP", "SSUSP"},
    "-d": {"DONE", "EXIT"},
}
# What bjobs says when nothing matched a state filter.
NOTHING_FOUND = {
    frozenset({"DONE", "EXIT"}): "No DONE/EXIT job found",
    frozenset({"RUN"}): "No running job found",
    frozenset({"PEND", "PSUSP"}): "No pending job found",
}


class Request:
    """What the command line asks for. (A plain class: dataclasses would import inspect and
    typing, 15 ms of every emulated bjobs.)"""

    def __init__(self, speaks: str) -> None:
        self.speaks = speaks
        self.show_all = self.wide = self.noheader = self.as_json = self.long_format = False
        self.states: set[str] | None = None
        self.ids: list[str] = []
        self.values: dict[str, str] = {}
        self.fields: list[tuple[str, int | None, bool]] = []
        self.delimiter: str | None = None
        self.openlava_fields: list[str] = []


class Selection:
    """The jobs found, the ids not found, and -json's records in the order of the ids asked
    (an empty dict stands for the next found job)."""

    def __init__(self) -> None:
        self.found: list[Job] = []
        self.errors: list[str] = []
        self.json_records: list[dict[str, str]] = []


def parse_arguments(args: list[str], speaks: str) -> Request | int:
    """The request, or the exit code of a refused command line (its message printed)."""
    request = Request(speaks)
    for arg, value in scan_options(args, ("-o", "-u", "-q")):
        if value is not None:
            request.values[arg] = value
        elif arg == "-a":
            request.show_all = True
        elif arg == "-w":
            request.wide = True
        elif arg == "-noheader":
            if speaks == "openlava":
                return usage_error("n")
            request.noheader = True
        elif arg == "-json":
            if speaks == "lsf9":  # -json came with LSF 10.1 Fix Pack 2
                return usage_error("j")
            request.as_json = True
        elif arg in STATE_OPTIONS:
            request.states = set(STATE_OPTIONS[arg])
        elif arg == "-l":
            request.long_format = True
        elif arg == "-X" and speaks == "openlava":
            return usage_error("X")
        elif arg in ("-X", "-W", "-UF", "-hms"):
            pass  # accepted, the emulator prints its normal layout
        elif arg.startswith("-"):
            print(f"bjobs: illegal option -- {arg[1:]}", file=sys.stderr)
            return 255
        else:
            request.ids.append(arg)
    return _parse_output_format(request)


def _parse_output_format(request: Request) -> Request | int:
    fmt = request.values.get("-o")
    if fmt is not None and request.speaks == "openlava":
        request.openlava_fields = [word.upper() for word in fmt.split()]
    elif fmt is not None:
        try:
            request.fields, request.delimiter = parse_format(fmt)
        except ValueError as error:
            print(f"{error}: Illegal field.", file=sys.stderr)
            return 255
    elif request.as_json and request.speaks == "openlava":
        print(OPENLAVA_USAGE, file=sys.stderr)
        return 255
    elif request.as_json:
        print("The -json option must be used together with the -o option.", file=sys.stderr)
        return 255
    return request


def select(state: dict, request: Request) -> Selection:
    selection = Selection()
    if request.ids:
        for raw in request.ids:
            # `123[4]` is one element of array 123; `123` every element of it.
            named = jobs_named(state, raw)
            if not named:
                selection.errors.append(f"Job <{raw}> is not found")
                # OpenLava's record shape for unknown IDs; IBM's is UNCONFIRMED.
                selection.json_records.append({"JOBID": raw, "ERROR": f"Job <{raw}> is not found"})
            for job in named or []:
                selection.found.append(job)
                selection.json_records.append({})
        return selection
    me = user_name()
    user, queue = request.values.get("-u"), request.values.get("-q")
    for job in jobs_sorted(state):
        if user != "all" and job["user"] != (user or me):
            continue
        if queue is not None and job["queue"] != queue:
            continue
        if request.states is not None:
            if job["status"] not in request.states:
                continue
        elif not request.show_all and job["status"] not in ACTIVE:
            continue
        selection.found.append(job)
    selection.found = order(selection.found)
    return selection


def print_json(request: Request, selection: Selection, now: float) -> None:
    def record(job: Job) -> dict[str, str]:
        return {n.upper(): field_value(job, n, now) for n, _, _ in request.fields}

    jobs = iter(selection.found)
    if request.ids:
        records = [r if r else record(next(jobs)) for r in selection.json_records]
    else:
        records = [record(job) for job in selection.found]
    document = {"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}
    sys.stdout.write(json_text(document, request.speaks))


def field_rows(request: Request, found: list[Job], now: float) -> list[str]:
    """-o's table: one row per job, with a header unless -noheader."""
    fields, delimiter = request.fields, request.delimiter
    out: list[str] = []
    if not request.noheader:
        # Upper-case field names as the header: UNCONFIRMED (no capture found).
        names = [n.upper() for n, _, _ in fields]
        if delimiter is not None:
            out.append(delimiter.join(names))
        else:
            out.append(" ".join(format_cell(n, n.upper(), w, r) for (n, w, r) in fields).rstrip())
    for job in found:
        values = [field_value(job, n, now) or "-" for n, _, _ in fields]
        if delimiter is not None:
            out.append(delimiter.join(values))
        else:
            pairs = zip(fields, values, strict=True)
            out.append(" ".join(format_cell(n, v, w, r) for (n, w, r), v in pairs).rstrip())
    return out


def print_text(request: Request, found: list[Job], now: float, hosts: int) -> None:
    if request.long_format and not request.fields:
        blocks = ["\n".join(["", *long_record(job, now, request.speaks, hosts)]) for job in found]
        sys.stdout.write(("\n" + "-" * 78 + "\n").join(blocks) + "\n")
        return
    if request.fields:
        out = field_rows(request, found, now)
    else:
        out = [] if request.noheader else [HEADER]
        out.extend(default_rows(found, request.wide, request.speaks))
    sys.stdout.write("\n".join(out) + "\n")


def nothing_found(request: Request) -> int:
    """bjobs' message and exit code when no job matched (no ids asked)."""
    if request.states is not None:
        message = NOTHING_FOUND.get(frozenset(request.states), "No suspended job found")
    else:
        message = "No job found" if request.show_all else "No unfinished job found"
    queue = request.values.get("-q")
    if queue is not None:
        message += f" in queue <{queue}>"
    if not request.as_json:
        print(message, file=sys.stderr)
    if request.speaks == "openlava":
        # volclava (recorded): `{"JOBS":0,"RECORDS":[]}` with 255; text forms exit 254
        # (exit(-2)) for "No unfinished job found", but 0 with -a.
        return 255 if request.as_json else (0 if request.show_all else 254)
    return 0


def main(args: list[str]) -> int:
    base = home()
    config = ensure_config(base)
    request = parse_arguments(args, dialect(config))
    if isinstance(request, int):
        return request

    state = read_state(base)
    now = time.time()
    clean_period = float(config.get("clean_period_s", 3600))
    state["jobs"] = {
        key: job for key, job in state["jobs"].items() if not expired(job, clean_period, now)
    }
    selection = select(state, request)
    found, errors = selection.found, selection.errors

    if request.openlava_fields and found:
        records = selection.json_records if request.ids else []
        code = openlava_output(found, request.openlava_fields, records, request.as_json)
        if code or request.as_json:
            return code
        for message in errors:
            print(message, file=sys.stderr)
        return 255 if errors else 0
    if request.as_json:
        print_json(request, selection, now)
    elif found:
        print_text(request, found, now, len(config.get("hosts", {})))
    sys.stdout.flush()

    if not request.as_json:
        for message in errors:
            print(message, file=sys.stderr)
    if not found and not request.ids:
        return nothing_found(request)
    if request.speaks == "openlava" and errors:
        # volclava (recorded): any unknown id fails a text form; -json fails only when no id
        # was found.
        return 255 if not request.as_json or not found else 0
    # Default LSB_BJOBS_CONSISTENT_EXIT_CODE=N: 255 only when known and unknown IDs are mixed.
    return 255 if errors and found else 0
