"""The options of `pangeo-hpc lab`, checked before anything is submitted."""

from __future__ import annotations

from dataclasses import dataclass

from ...schedulers.lsf_output import walltime_minutes
from ...script_safety import SAFE_TOKEN

# "node" binds the address this node's name resolves to: what `ssh -L ...:<node>:<port>` reaches.
NODE_ADDRESS = "node"
# Below this JupyterLab may still be starting when the scheduler ends it; nobody wants a
# 2-minute lab.
MIN_WALLTIME_MINUTES = 5
OPEN_ADDRESSES = ("0.0.0.0", "::", "*", "")
# One word of a host name, address or queue name; not an option (no leading "-").


class OptionError(ValueError):
    """A `lab` option that cannot work; the message says what to give instead."""


@dataclass(frozen=True)
class LabOptions:
    queue: str | None
    walltime_minutes: int
    cores: int
    memory_bytes: int | None
    port: int
    ip: str
    login_host: str
    interactive: bool
    start_timeout_s: float


def parse_walltime(text: str) -> int:
    """Minutes from `[hh:]mm`, read the way the scheduler form and LSF's -W read it."""
    minutes = walltime_minutes(text.strip())
    if minutes is None:
        raise OptionError(
            f"--walltime {text!r}: give hh:mm with minutes below 60 (e.g. 01:30) or minutes "
            "(e.g. 90)"
        )
    if minutes < MIN_WALLTIME_MINUTES:
        raise OptionError(
            f"--walltime {text} is too short: JupyterLab needs time to start and to be used; "
            f"ask for at least 00:{MIN_WALLTIME_MINUTES:02d} (e.g. --walltime 01:00)"
        )
    return minutes


def format_walltime(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_memory(text: str | None) -> int | None:
    if not text:
        return None
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(text))
    except ValueError:
        raise OptionError(f"--memory {text!r}: give e.g. 8GB or 500MB") from None


def lab_options(
    *,
    queue: str | None,
    walltime: str,
    cores: int,
    memory: str | None,
    port: int,
    ip: str,
    login_host: str,
    interactive: bool = False,
    start_timeout_s: float = 300.0,
) -> LabOptions:
    queue = queue or None
    if ip in OPEN_ADDRESSES:
        raise OptionError(
            f"--ip {ip!r} would expose JupyterLab on every interface of a shared node; "
            "leave --ip out (the node's own address is what the ssh tunnel reaches)"
        )
    # They end up in the job script or in the ssh line users paste into a shell: a space, quote
    # or newline there would add options or commands.
    for flag, value in (("--queue", queue), ("--ip", ip), ("--login-host", login_host)):
        if value is not None and not SAFE_TOKEN.fullmatch(value):
            raise OptionError(
                f"{flag} {value!r}: use only letters, digits and _ . , : / @ % + = ~ - (no "
                "spaces, quotes or control characters, no leading '-')"
            )
    if cores < 1:
        raise OptionError(f"--cores {cores}: give at least 1")
    if not 1024 <= port <= 65535:
        raise OptionError(f"--port {port}: give a port between 1024 and 65535")
    if start_timeout_s <= 0:
        raise OptionError(f"--start-timeout {start_timeout_s}: give a number of seconds above 0")
    return LabOptions(
        queue=queue,
        walltime_minutes=parse_walltime(walltime),
        cores=cores,
        memory_bytes=parse_memory(memory),
        port=port,
        ip=ip,
        login_host=login_host,
        interactive=interactive,
        start_timeout_s=start_timeout_s,
    )
