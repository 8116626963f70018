"""bqueues, bhosts and lsid: the cluster's configuration and load, in LSF's layouts."""

from __future__ import annotations

import sys

from .config import BANNERS, dialect, ensure_config, home, host_slots
from .state import read_state

BQUEUES_HEADER = "QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP"
BQUEUES_LONG_HEADER = (
    "PRIO NICE STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN SSUSP USUSP  RSV"
)

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
SCHEDULING_PARAMETERS = """SCHEDULING PARAMETERS
           r15s   r1m  r15m   ut      pg    io   ls    it    tmp    swp    mem
 loadSched   -     -     -     -       -     -    -     -     -      -      -
 loadStop    -     -     -     -       -     -    -     -     -      -      -"""


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _queue_counts(state: dict[str, Any]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for job in state["jobs"].values():
        entry = counts.setdefault(job["queue"], {"PEND": 0, "RUN": 0, "SUSP": 0})
        slots = int(job["nslots"])  # NJOBS, PEND, RUN count slots, not jobs
        if job["status"] in ("PEND", "PSUSP"):
            entry["PEND"] += slots
        elif job["status"] == "RUN":
            entry["RUN"] += slots
        elif job["status"] in ("USUSP", "SSUSP"):
            entry["SUSP"] += slots
    return counts


def _memlimit_text(mb: int) -> str:
    for unit, size in (("T", 1024 * 1024), ("G", 1024)):
        if mb >= size and mb % size == 0:
            return f"{mb // size} {unit}"
    return f"{mb} M"


def bqueues(args: list[str]) -> int:
    long_format = "-l" in args
    wide = "-w" in args
    names = [arg for arg in args if not arg.startswith("-")]
    base = home()
    config = ensure_config(base)
    queues: dict[str, Any] = config.get("queues", {})
    for name in names:
        if name not in queues:
            # OL prints lsb_perror(queue); the exit code is UNCONFIRMED, OL exits 255 (-1).
            print(f"{name}: No such queue", file=sys.stderr)
            return 255
    selected = names or sorted(queues, key=lambda q: -int(queues[q].get("priority", 0)))
    counts = _queue_counts(read_state(base))
    out: list[str] = []
    openlava = dialect(config) == "openlava"
    if not long_format:
        out.append(BQUEUES_HEADER + (" " if openlava else ""))  # volclava: a trailing space
    for name in selected:
        spec = queues[name]
        count = counts.get(name, {"PEND": 0, "RUN": 0, "SUSP": 0})
        njobs = count["PEND"] + count["RUN"] + count["SUSP"]
        status = "Open:Active"
        prio = int(spec.get("priority", 0))
        if not long_format:
            shown = name if wide else name[:15]
            # volclava (recorded) puts STATUS one column further right and MAX one to the left.
            gap, width = ("   ", 2) if openlava and not wide else ("  ", 3)
            out.append(
                f"{shown:<15} {prio:>3}{gap}{status:<16}{_dash(spec.get('max_slots')):>{width}}"
                f"{'-':>5}{'-':>5}{'-':>5}{njobs:>6}{count['PEND']:>6}{count['RUN']:>6}"
                f"{count['SUSP']:>6}"
            )
            continue
        out.extend(
            [
                f"QUEUE: {name}",
                f"  -- {spec.get('description', '')}",
                "",
                "PARAMETERS/STATISTICS",
                BQUEUES_LONG_HEADER,
                f"{prio:>3}   {20:>2}  {status:<16}{_dash(spec.get('max_slots')):>3}"
                f"{'-':>5}{'-':>5}{'-':>5}{njobs:>6}{count['PEND']:>6}{count['RUN']:>6}"
                f"{count['SUSP']:>6}{0:>6}{0:>5}",
                "Interval for a host to accept two jobs is 0 seconds",
                "",
            ]
        )
        if spec.get("runlimit_min") is not None:
            out += ["MAXIMUM LIMITS:", " RUNLIMIT", f" {float(spec['runlimit_min']):.1f} min", ""]
        if spec.get("proclimit") is not None:
            out += [" PROCLIMIT", f" {int(spec['proclimit'])}", ""]
        if spec.get("memlimit_mb") is not None:
            out += [" MEMLIMIT", f" {_memlimit_text(int(spec['memlimit_mb'])):>6}", ""]
        out += [SCHEDULING_PARAMETERS, "", "USERS: all", "HOSTS:  all", "CHUNK_JOB_SIZE:  -"]
        out += ["-" * 79, ""]
    if long_format and out:
        out = out[:-2]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def bhosts(args: list[str]) -> int:
    wide = "-w" in args
    names = [arg for arg in args if not arg.startswith("-")]
    base = home()
    config = ensure_config(base)
    state = read_state(base)
    slots = host_slots(config, _slots_from_env(state))
    for name in names:
        if name not in slots:
            print(f"{name}: Bad host name, host group name or cluster name", file=sys.stderr)
            return 255
    running: dict[str, int] = dict.fromkeys(slots, 0)
    for job in state["jobs"].values():
        if job["status"] == "RUN":
            for host in job.get("hosts") or []:
                if host in running:
                    running[host] += 1
    out = [
        f"{'HOST_NAME':<19}{'STATUS':<11}{'JL/U':>6}{'MAX':>7}{'NJOBS':>7}{'RUN':>7}"
        f"{'SSUSP':>7}{'USUSP':>7}{'RSV':>7}"
    ]
    for host in sorted(names or slots):
        total, used = slots[host], running[host]
        status = "ok" if used < total else ("closed_Full" if wide else "closed")
        shown = host if wide else host[:18]
        out.append(
            f"{shown:<18} {status:<11}{'-':>6}{total:>7}{used:>7}{used:>7}{0:>7}{0:>7}{0:>7}"
        )
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _slots_from_env(state: dict[str, Any]) -> int | None:
    import os

    value = os.environ.get("LSFSIM_SLOTS")
    if value and value.isdigit():
        return int(value)
    return state.get("slots")


def lsid(args: list[str]) -> int:
    config = ensure_config(home())
    speaks = dialect(config)
    if speaks == "openlava":
        # volclava's lsid.c: puts(_LS_VERSION_) (which ends in a newline), then the two names.
        if "-V" in args:
            sys.stdout.write(BANNERS[speaks])
            return 0
        print(BANNERS[speaks])
        print(f"My cluster name is {config.get('cluster_name')}")
        print(f"My master name is {config.get('master_host')}")
        return 0
    version = str(config.get("lsf_version")) if speaks == "lsf10" else BANNERS[speaks]
    if "-V" in args:
        print(version, file=sys.stderr)
        return 0
    print(version)
    print("Copyright International Business Machines Corp. 1992, 2016.")
    print(
        "US Government Users Restricted Rights - Use, duplication or disclosure restricted by "
        "GSA ADP Schedule Contract with IBM Corp."
    )
    print()
    print(f"My cluster name is {config.get('cluster_name')}")
    print(f"My master name is {config.get('master_host')}")
    return 0
