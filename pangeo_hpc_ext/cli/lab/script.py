"""The job script that runs JupyterLab on a compute node, for any scheduler's directives."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from . import node
from .adapters import LabScheduler
from .options import LabOptions


def node_command(options: LabOptions, session_dir: Path, host_variable: str) -> list[str]:
    return [
        sys.executable,
        str(Path(node.__file__).resolve()),
        str(session_dir),
        "--ip",
        options.ip,
        "--port",
        str(options.port),
        "--host-variable",
        host_variable,
    ]


def job_script(adapter: LabScheduler, options: LabOptions, session_dir: Path, log: Path) -> str:
    pairs = adapter.resource_options(options, log)
    lines = ["#!/bin/bash", *(adapter.directive(flag, value) for flag, value in pairs)]
    lines += [
        "",
        "# JupyterLab on this node; the token is read from a 0600 file in the session directory.",
        "exec " + shlex.join(node_command(options, session_dir, adapter.host_variable)),
        "",
    ]
    return "\n".join(lines)
