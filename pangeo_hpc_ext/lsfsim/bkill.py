"""bkill: end jobs (SIGINT now; the job's supervisor follows with SIGTERM and SIGKILL)."""

from __future__ import annotations

import signal
import sys
import time

from .config import ensure_config, home, user_name
from .options import scan_options
from .state import (
    ACTIVE,
    FINISHED,
    finish_job,
    job_key,
    jobs_named,
    jobs_sorted,
    kill_group,
    locked_state,
    parse_job_ref,
    schedule,
    signal_group_after_save,
    wake_supervisor,
)

USAGE = (
    "Usage: bkill [-h] [-V] [-l] [-b] [-r] [-s signal_value | signal_name] [-m host_name]\n"
    "             [-q queue_name] [-u user_name | -u all] [-J job_name]\n"
    '             [jobId | "jobId[idxList]" ...]'
)


def request_kill(base: str, key: str, reason: str = "TERM_OWNER") -> str:
    """Mark and signal one job (or array element); returns "terminated", "finished" or
    "missing"."""
    with locked_state(base) as state:
        job = state["jobs"].get(key)
        if job is None:
            return "missing"
        return _kill_locked(base, state, job, reason)


def _kill_locked(base: str, state: dict, job: dict, reason: str) -> str:
    if job["status"] in FINISHED:
        return "finished"
    if job["status"] == "PEND":
        # Never started: nothing to signal, it ends at once (its supervisor just leaves).
        finish_job(job, "EXIT", None, reason)
        wake_supervisor(job)
        schedule(base, state)
        return "terminated"
    if not job.get("kill_requested_at"):
        job["kill_requested_at"] = time.time()
        job["kill_reason"] = reason
        first = signal.SIGKILL if reason == "TERM_FORCE_OWNER" else signal.SIGINT
        signal_group_after_save(job.get("pgid"), first)
        wake_supervisor(job)  # it escalates to SIGTERM and SIGKILL
    return "terminated"


def _signal_number(value: str) -> int | None:
    if value.isdigit():
        return int(value)
    name = value.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    number = getattr(signal, name, None)
    return int(number) if number is not None else None


def main(args: list[str]) -> int:
    force = False
    sig: int | None = None
    values: dict[str, str] = {}
    ids: list[str] = []
    for arg, value in scan_options(args, ("-s", "-q", "-u", "-J", "-m")):
        if arg == "-s" and value is not None:
            sig = _signal_number(value)
            if sig is None:
                print(f"{value}: Illegal signal value", file=sys.stderr)
                return 255
        elif value is not None:
            values[arg] = value
        elif arg == "-r":
            force = True
        elif arg == "-b":
            pass
        elif arg in ("-h", "-V"):
            print(USAGE, file=sys.stderr)
            return 0
        elif arg.startswith("-"):
            print(f"bkill: illegal option -- {arg[1:]}", file=sys.stderr)
            print(USAGE, file=sys.stderr)
            return 255
        else:
            ids.append(arg)
    queue, user, name = values.get("-q"), values.get("-u"), values.get("-J")
    base = home()
    ensure_config(base)
    me = user_name()
    reason = "TERM_FORCE_OWNER" if force else "TERM_OWNER"
    failed = False
    with locked_state(base) as state:
        targets: list[str] = []
        for raw in ids:
            ref = parse_job_ref(raw)
            if ref is None:
                print(f"{raw}: Illegal job ID.", file=sys.stderr)
                failed = True
                continue
            # `123[4]` kills one element of array 123, `123` all of them [LSF bkill].
            targets.append(f"{ref[0]}[{ref[1]}]" if ref[1] is not None else str(ref[0]))
        if not ids or "0" in targets or queue or name:
            wanted_all = "0" in targets or (not ids and (queue or name))
            candidates = [
                job
                for job in jobs_sorted(state)
                if job["status"] in ACTIVE
                and (user == "all" or job["user"] == (user or me))
                and (queue is None or job["queue"] == queue)
                and (name is None or job["name"] == name)
            ]
            if not ids and not wanted_all:
                candidates = candidates[-1:]  # no job ID: the user's last submitted job
            targets = [t for t in targets if t != "0"] + [job_key(job) for job in candidates]
            if not targets:
                # rc 255 as OpenLava (cmd.jobid.c exit(-1)); IBM's code here is UNCONFIRMED.
                print("No unfinished job found", file=sys.stderr)
                return 255
        named = [(target, jobs_named(state, target) or []) for target in targets]
        for target, jobs in named:
            if not jobs:
                print(f"Job <{target}>: No matching job found", file=sys.stderr)
                failed = True
        for job_id, job in ((job_key(job), job) for _, jobs in named for job in jobs):
            if sig is not None and sig not in (signal.SIGKILL,):
                if job["status"] in FINISHED:
                    print(f"Job <{job_id}>: Job has already finished", file=sys.stderr)
                    failed = True
                    continue
                kill_group(job.get("pgid"), sig)
                word = {signal.SIGSTOP: "stopped", signal.SIGCONT: "resumed"}.get(sig, "signaled")
                print(f"Job <{job_id}> is being {word}")
                continue
            outcome = _kill_locked(base, state, job, reason)
            if outcome == "finished":
                print(f"Job <{job_id}>: Job has already finished", file=sys.stderr)
                failed = True
            else:
                print(f"Job <{job_id}> is being terminated")
    sys.stdout.flush()
    return 255 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
