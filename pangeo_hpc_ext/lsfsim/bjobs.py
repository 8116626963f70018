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


def main(args: list[str]) -> int:
    show_all = wide = noheader = as_json = long_format = False
    values: dict[str, str] = {}
    states: set[str] | None = None
    ids: list[str] = []
    base = home()
    config = ensure_config(base)
    speaks = dialect(config)
    for arg, value in scan_options(args, ("-o", "-u", "-q")):
        if value is not None:
            values[arg] = value
        elif arg == "-a":
            show_all = True
        elif arg == "-w":
            wide = True
        elif arg == "-noheader":
            if speaks == "openlava":
                return usage_error("n")
            noheader = True
        elif arg == "-json":
            if speaks == "lsf9":  # -json came with LSF 10.1 Fix Pack 2
                return usage_error("j")
            as_json = True
        elif arg == "-r":
            states = {"RUN"}
        elif arg == "-p":
            states = {"PEND", "PSUSP"}
        elif arg == "-s":
            states = {"PSUSP", "USUSP", "SSUSP"}
        elif arg == "-d":
            states = {"DONE", "EXIT"}
        elif arg == "-l":
            long_format = True
        elif arg == "-X" and speaks == "openlava":
            return usage_error("X")
        elif arg in ("-X", "-W", "-UF", "-hms"):
            pass  # accepted, the emulator prints its normal layout
        elif arg.startswith("-"):
            print(f"bjobs: illegal option -- {arg[1:]}", file=sys.stderr)
            return 255
        else:
            ids.append(arg)
    fmt, user, queue = values.get("-o"), values.get("-u"), values.get("-q")

    fields: list[tuple[str, int | None, bool]] = []
    delimiter = None
    openlava_fields: list[str] = []
    if fmt is not None and speaks == "openlava":
        openlava_fields = [word.upper() for word in fmt.split()]
    elif fmt is not None:
        try:
            fields, delimiter = parse_format(fmt)
        except ValueError as error:
            print(f"{error}: Illegal field.", file=sys.stderr)
            return 255
    elif as_json and speaks == "openlava":
        print(OPENLAVA_USAGE, file=sys.stderr)
        return 255
    elif as_json:
        print("The -json option must be used together with the -o option.", file=sys.stderr)
        return 255

    state = read_state(base)
    now = time.time()
    clean_period = float(config.get("clean_period_s", 3600))
    state["jobs"] = {
        key: job for key, job in state["jobs"].items() if not expired(job, clean_period, now)
    }
    errors: list[str] = []
    found: list[Job] = []
    json_records: list[dict[str, str]] = []
    if ids:
        for raw in ids:
            # `123[4]` is one element of array 123; `123` every element of it.
            named = jobs_named(state, raw)
            if not named:
                errors.append(f"Job <{raw}> is not found")
                # OpenLava's record shape for unknown IDs; IBM's is UNCONFIRMED.
                json_records.append({"JOBID": raw, "ERROR": f"Job <{raw}> is not found"})
            for job in named or []:
                found.append(job)
                json_records.append({})
    else:
        me = user_name()
        for job in jobs_sorted(state):
            if user != "all" and job["user"] != (user or me):
                continue
            if queue is not None and job["queue"] != queue:
                continue
            if states is not None:
                if job["status"] not in states:
                    continue
            elif not show_all and job["status"] not in ACTIVE:
                continue
            found.append(job)
        found = order(found)

    if openlava_fields and found:
        code = openlava_output(found, openlava_fields, json_records if ids else [], as_json)
        if code or as_json:
            return code
        for message in errors:
            print(message, file=sys.stderr)
        return 255 if errors else 0
    if as_json:
        records = []
        jobs_iter = iter(found)
        if ids:
            for record in json_records:
                if record:
                    records.append(record)
                else:
                    job = next(jobs_iter)
                    records.append({n.upper(): field_value(job, n, now) for n, _, _ in fields})
        else:
            records = [{n.upper(): field_value(job, n, now) for n, _, _ in fields} for job in found]
        document = {"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}
        sys.stdout.write(json_text(document, speaks))
    elif found and long_format and not fields:
        hosts = len(config.get("hosts", {}))
        blocks = ["\n".join(["", *long_record(job, now, speaks, hosts)]) for job in found]
        sys.stdout.write(("\n" + "-" * 78 + "\n").join(blocks) + "\n")
    elif found:
        out: list[str] = []
        if fields:
            if not noheader:
                # Upper-case field names as the header: UNCONFIRMED (no capture found).
                names = [n.upper() for n, _, _ in fields]
                if delimiter is not None:
                    out.append(delimiter.join(names))
                else:
                    cells = [format_cell(n, n.upper(), w, r) for (n, w, r) in fields]
                    out.append(" ".join(cells).rstrip())
            for job in found:
                values = [field_value(job, n, now) or "-" for n, _, _ in fields]
                if delimiter is not None:
                    out.append(delimiter.join(values))
                else:
                    pairs = zip(fields, values, strict=True)
                    cells = [format_cell(n, v, w, r) for (n, w, r), v in pairs]
                    out.append(" ".join(cells).rstrip())
        else:
            if not noheader:
                out.append(HEADER)
            out.extend(default_rows(found, wide, speaks))
        sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()

    if not as_json:
        for message in errors:
            print(message, file=sys.stderr)
    if not found and not ids:
        if states == {"DONE", "EXIT"}:
            message = "No DONE/EXIT job found"
        elif states == {"RUN"}:
            message = "No running job found"
        elif states == {"PEND", "PSUSP"}:
            message = "No pending job found"
        elif states is not None:
            message = "No suspended job found"
        else:
            message = "No job found" if show_all else "No unfinished job found"
        if queue is not None:
            message += f" in queue <{queue}>"
        if not as_json:
            print(message, file=sys.stderr)
        if speaks == "openlava":
            # volclava (recorded): `{"JOBS":0,"RECORDS":[]}` with 255; text forms exit 254
            # (exit(-2)) for "No unfinished job found", but 0 with -a.
            return 255 if as_json else (0 if show_all else 254)
        return 0
    if speaks == "openlava" and errors:
        # volclava (recorded): any unknown id fails a text form; -json fails only when no id
        # was found.
        return 255 if not as_json or not found else 0
    # Default LSB_BJOBS_CONSISTENT_EXIT_CODE=N: 255 only when known and unknown IDs are mixed.
    return 255 if errors and found else 0
