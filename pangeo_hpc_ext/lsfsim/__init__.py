"""A faithful LSF emulator: bsub/bjobs/bkill/bqueues/bhosts/lsid running jobs as local processes.

It is only ever used through shim executables put on PATH (`pangeo-hpc lsfsim shims DIR`, or
`environment()` for tests, demos and benchmarks). Test/benchmark knobs read from each command's
environment: LSFSIM_HOME, LSFSIM_SLOTS, LSFSIM_SUBMIT_DELAY, LSFSIM_SUBMIT_FAIL,
LSFSIM_MINUTE_SECONDS (seconds per minute of -W/RUNLIMIT, to test walltimes quickly),
LSFSIM_DIALECT (lsf10, lsf9 or openlava: which LSF's bjobs/lsid forms it speaks), and the
outages LSFSIM_DOWN (every command fails: LSF is down), LSFSIM_HANG (commands never answer) and
LSFSIM_BJOBS_FAIL (bjobs fails; also while a file `bjobs_fail` exists in LSFSIM_HOME).
"""

from __future__ import annotations

import json
import os

# pathlib and typing cost every emulated command start-up time; annotations need them only
# for type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def environment(
    home: Path | str,
    shim_dir: Path | str,
    *,
    slots: int | None = None,
    submit_delay: float | None = None,
    submit_fail: bool | str | None = None,
    minute_seconds: float | None = None,
    dialect: str | None = None,
    base_path: str | None = None,
) -> dict[str, str]:
    """Write shims and default config (if missing); return the variables to add to a process env."""
    from pathlib import Path

    from .config import conf_dir, ensure_config
    from .shims import write_shims

    home = Path(home).resolve()
    shim_dir = Path(shim_dir).resolve()
    write_shims(shim_dir)
    config = ensure_config(str(home))
    if dialect == "openlava" and config.get("unit_for_limits", "MB") is not None:
        # As volclava installs itself: no LSF_UNIT_FOR_LIMITS in lsf.conf (its limits are MB).
        from .config import config_path, write_atomic

        config["unit_for_limits"] = None
        write_atomic(config_path(str(home)), json.dumps(config, indent=2) + "\n")
        ensure_config(str(home))
    path = base_path if base_path is not None else os.environ.get("PATH", "")
    env = {
        "PATH": f"{shim_dir}{os.pathsep}{path}" if path else str(shim_dir),
        "LSFSIM_HOME": str(home),
        "LSF_ENVDIR": conf_dir(str(home)),
    }
    if slots is not None:
        env["LSFSIM_SLOTS"] = str(slots)
    if submit_delay is not None:
        env["LSFSIM_SUBMIT_DELAY"] = str(submit_delay)
    if submit_fail:
        env["LSFSIM_SUBMIT_FAIL"] = submit_fail if isinstance(submit_fail, str) else "1"
    if minute_seconds is not None:
        env["LSFSIM_MINUTE_SECONDS"] = str(minute_seconds)
    if dialect is not None:
        env["LSFSIM_DIALECT"] = dialect
    return env


__all__ = ["environment"]
