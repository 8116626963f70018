"""`python -m pangeo_hpc_ext.lsfsim <command> args...`: what the shims run."""

from __future__ import annotations

import os
import sys


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
