"""`pangeo-hpc lsfsim reset|config`: housekeeping for the emulator's state directory."""

from __future__ import annotations

import json
import shutil
import signal
import sys

from .config import config_path, ensure_config, home
from .state import ACTIVE, kill_group, locked_state, pid_alive


def reset() -> int:
    """Kill every job and supervisor, then forget all jobs (job IDs keep counting up)."""
    base = home()
    ensure_config(base)
    with locked_state(base) as state:
        for job in state["jobs"].values():
            if job["status"] in ACTIVE:
                kill_group(job.get("pgid"), signal.SIGKILL)
                supervisor = job.get("supervisor_pid")
                if supervisor and pid_alive(supervisor):
                    try:
                        import os

                        os.kill(supervisor, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        state["jobs"] = {}
        state.pop("slots", None)
    shutil.rmtree(os.path.join(base, "jobs"), ignore_errors=True)
    print(f"lsfsim state under {base} reset", file=sys.stderr)
    return 0


def show_config() -> int:
    base = home()
    config = ensure_config(base)
    print(f"# {config_path(base)}")
    print(json.dumps(config, indent=2))
    return 0
