"""The executables that put the emulator on PATH: each execs this Python with the module."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

COMMANDS = ("bsub", "bjobs", "bkill", "bqueues", "bhosts", "lsid")


def write_shims(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    python = shlex.quote(os.path.abspath(sys.executable))
    # -S skips site-packages and its .pth files (about 40 ms of start-up here): the emulator needs
    # only the stdlib and this package, whose root goes on PYTHONPATH (installed or source tree)
    # for the emulator only; __main__ restores the caller's value so jobs never inherit it.
    package_root = shlex.quote(str(Path(__file__).resolve().parents[2]))
    written = []
    for command in COMMANDS:
        path = directory / command
        text = (
            "#!/bin/sh\n"
            "# LSF emulator shim (`pangeo-hpc lsfsim shims`); never on PATH on a real cluster.\n"
            '_LSFSIM_PYTHONPATH="${PYTHONPATH-__unset__}" '
            f"PYTHONPATH={package_root}${{PYTHONPATH:+:$PYTHONPATH}} "
            f'exec {python} -S -m pangeo_hpc_ext.lsfsim {command} "$@"\n'
        )
        tmp = path.with_name(f".{command}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)
        written.append(path)
    return written
