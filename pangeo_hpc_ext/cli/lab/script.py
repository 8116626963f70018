"""The LSF job script that runs JupyterLab on a compute node, and the options it is built from."""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from . import node as labjob_node

JOB_NAME = "pangeo-hpc-lab"
# Below this JupyterLab may still be starting when LSF kills it; nobody wants a 2-minute lab.
MIN_WALLTIME_MINUTES = 5


class OptionError(ValueError):
    """A `lab` option that cannot work; the message says what to give instead."""


@dataclass(frozen=True)
class LabRequest:
    queue: str | None
    walltime_minutes: int
    cores: int
    memory_limit: int | None  # in LSF_UNIT_FOR_LIMITS units
    port: int
    ip: str


def parse_walltime(text: str) -> int:
    """Minutes from LSF's `-W [hh:]mm`."""
    match = re.fullmatch(r"\s*(?:(\d+):)?(\d+)\s*", text)
    if not match:
        raise OptionError(f"--walltime {text!r}: give hh:mm (e.g. 01:30) or minutes (e.g. 90)")
    hours, minutes = match.groups()
    total = int(hours or 0) * 60 + int(minutes)
    if total < MIN_WALLTIME_MINUTES:
        raise OptionError(
            f"--walltime {text} is too short: JupyterLab needs time to start and to be used; "
            f"ask for at least 00:{MIN_WALLTIME_MINUTES:02d} (e.g. --walltime 01:00)"
        )
    return total


def format_walltime(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def bsub_options(request: LabRequest, log: Path | None) -> list[str]:
    options = ["-J", JOB_NAME]
    if request.queue:
        options += ["-q", request.queue]
    options += ["-n", str(request.cores), "-R", "span[hosts=1]"]
    if request.memory_limit is not None:
        options += ["-M", str(request.memory_limit)]
    options += ["-W", format_walltime(request.walltime_minutes)]
    if log is not None:
        options += ["-o", str(log)]
    return options


def node_command(request: LabRequest, session_dir: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(labjob_node.__file__).resolve()),
        str(session_dir),
        "--ip",
        request.ip,
        "--port",
        str(request.port),
    ]


def _directive_value(value: str) -> str:
    # LSF's own examples (and dask-jobqueue) double-quote directive values such as -R strings.
    return value if re.fullmatch(r"[\w./:@%+-]+", value) else '"' + value.replace('"', r"\"") + '"'


def job_script(request: LabRequest, session_dir: Path, log: Path) -> str:
    lines = ["#!/bin/bash"]
    options = bsub_options(request, log)
    for flag, value in zip(options[::2], options[1::2], strict=True):
        lines.append(f"#BSUB {flag} {_directive_value(value)}")
    lines += [
        "",
        "# JupyterLab on this node; the token is read from a 0600 file in the session directory.",
        "exec " + shlex.join(node_command(request, session_dir)),
        "",
    ]
    return "\n".join(lines)
