"""`python -m pangeo_hpc_ext.lsfsim <command> args...`: what the shims run."""

from __future__ import annotations

import os
import sys

# What LSF's commands do when its daemons are away (test knobs, read from each command's
# environment). LSFSIM_DOWN: LIM is down, every command fails at once. UNCONFIRMED wording: the
# text of ls_sysmsg(LSE_LIM_DOWN), which LSF's commands print with their own name.
# LSFSIM_HANG: mbatchd does not answer; like real LSF (LSB_NTRIES unset) the command says so
# and keeps trying until it is killed.
DOWN_TEXT = "LSF is down. Please wait..."
HANG_TEXT = "batch system daemon not responding ... still trying"
SCHEDULER_COMMANDS = ("bsub", "bjobs", "bkill", "bqueues", "bhosts", "lsid")


def bjobs_failing() -> bool:
    """LSFSIM_BJOBS_FAIL, or a file `bjobs_fail` in LSFSIM_HOME (so that a test can make bjobs
    fail, and recover, while a server runs): bjobs alone fails, as when mbatchd is too loaded to
    answer queries while bkill still gets through."""
    if os.environ.get("LSFSIM_BJOBS_FAIL"):
        return True
    from .config import home

    return os.path.exists(os.path.join(home(), "bjobs_fail"))


def daemon_outage(command: str) -> int | None:
    if command not in SCHEDULER_COMMANDS:
        return None
    if os.environ.get("LSFSIM_DOWN") or (command == "bjobs" and bjobs_failing()):
        print(f"{command}: {DOWN_TEXT}", file=sys.stderr)
        return 255
    if os.environ.get("LSFSIM_HANG"):
        import time

        print(HANG_TEXT, file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    return None


def run(argv: list[str]) -> int:
    saved = os.environ.pop("_LSFSIM_PYTHONPATH", None)
    if saved is not None:  # set by the shim: give the jobs the caller's PYTHONPATH back
        if saved == "__unset__":
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    if not argv:
        print(
            "usage: python -m pangeo_hpc_ext.lsfsim {bsub|bjobs|bkill|bqueues|bhosts|lsid} ...",
            file=sys.stderr,
        )
        return 2
    command, args = argv[0], argv[1:]
    outage = daemon_outage(command)
    if outage is not None:
        return outage
    if command == "bsub":
        from .bsub import main
    elif command == "bjobs":
        from .bjobs import main
    elif command == "bkill":
        from .bkill import main
    elif command == "bqueues":
        from .info import bqueues as main
    elif command == "bhosts":
        from .info import bhosts as main
    elif command == "lsid":
        from .info import lsid as main
    elif command == "supervise":  # internal: re-attach a supervisor by hand when debugging
        from .config import home
        from .supervisor import supervise

        return supervise(home(), int(args[0]), interactive=False)
    else:
        print(f"lsfsim: unknown command {command!r}", file=sys.stderr)
        return 2
    try:
        return main(args)
    except BrokenPipeError:
        return 255
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
