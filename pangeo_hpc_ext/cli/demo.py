"""`pangeo-hpc demo`: JupyterLab with this extension on the bundled LSF emulator, on 127.0.0.1.

The emulator's commands are put on PATH of that one server process (and so of the jobs it
submits); nothing else on the machine sees them."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..paths import default_data_dir, free_port

# Small jobs so that a laptop or a CI machine can run several; loopback only.
DEMO_LSF_DEFAULTS = {
    "queue": "normal",
    "cores": 1,
    "memory": "1GB",
    "processes": 1,
    "walltime": "01:00",
    "interface": "lo",
}
DEMO_LOCAL_DEFAULTS = {"threads_per_worker": 1, "memory_limit": "1GB"}


def configure_demo_server(c: Any, *, slots: int | None = None, home: Path | None = None) -> None:
    """Configure a Jupyter server (its traitlets config `c`) for the demo and the UI tests."""
    base = home or default_data_dir() / "demo"
    os.environ.update(emulator_environment(base / "lsfsim", base / "bin", slots=slots))
    c.ServerApp.ip = "127.0.0.1"
    c.ServerApp.jpserver_extensions.update({"pangeo_hpc_ext": True})
    c.PangeoHPC.profiles = {
        "lsf": {
            "backend": "lsf",
            "label": "LSF (emulated): Dask workers as batch jobs",
            "defaults": DEMO_LSF_DEFAULTS,
        },
        "local": {
            "backend": "local",
            "label": "Local: Dask workers on this node",
            "defaults": DEMO_LOCAL_DEFAULTS,
        },
    }


def emulator_environment(home: Path, shim_dir: Path, *, slots: int | None) -> dict[str, str]:
    """The LSF emulator's shims on PATH, as a user would put them there: through its command."""
    argv = [sys.executable, "-m", "pangeo_hpc_ext.cli", "lsfsim", "shims", str(shim_dir)]
    argv += ["--home", str(home), "--json"] + (["--slots", str(slots)] if slots else [])
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the LSF emulator's shims could not be written: {result.stderr}")
    return dict(json.loads(result.stdout))


DEMO_CONFIG = """\
from pangeo_hpc_ext.cli.demo import configure_demo_server

configure_demo_server(c, slots={slots!r})
c.ServerApp.port = {port}
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_root = {allow_root}
c.IdentityProvider.token = {token!r}
"""


def run_demo(args: argparse.Namespace) -> int:
    base = default_data_dir() / "demo"
    base.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    token = secrets.token_hex(24)
    config = base / "jupyter_demo_config.py"
    config.write_text(
        DEMO_CONFIG.format(slots=args.slots, port=port, token=token, allow_root=os.geteuid() == 0)
    )
    config.chmod(0o600)  # it holds the token
    print(
        f"pangeo-hpc demo: JupyterLab with the LSF emulator ({args.slots or 'default'} job slots)"
    )
    print(f"  open  http://127.0.0.1:{port}/lab?token={token}")
    print("  stop  Ctrl-C (every cluster is closed and every emulated job killed)", flush=True)
    return run_until_stopped(
        [sys.executable, "-m", "jupyterlab", f"--config={config}"], cwd=args.notebook_dir
    )


# Signals that end the demo. Each becomes one SIGTERM to JupyterLab: jupyter_server's clean stop,
# which closes every cluster and kills every job, and which never asks "Shut down this Jupyter
# server (y/[n])?" as its SIGINT handler does when stdin is a terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Longer than the server's own worst case (closing a cluster, then confirming its jobs ended).
STOP_TIMEOUT_S = 120.0


def run_until_stopped(
    argv: Sequence[str], *, cwd: str | None = None, stop_timeout: float = STOP_TIMEOUT_S
) -> int:
    """Run the server until it exits; a stop signal to this process is forwarded as SIGTERM and
    its clean stop awaited, for `stop_timeout` seconds at most, then its process group is killed."""
    child: subprocess.Popen[bytes] | None = None
    stop_requested: float | None = None

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        if stop_requested is not None:
            print(f"pangeo-hpc demo: still stopping (at most {stop_timeout:.0f} s)", flush=True)
            return
        stop_requested = time.monotonic()
        name = signal.Signals(signum).name
        print(f"pangeo-hpc demo: {name}: closing every cluster, then stopping", flush=True)
        if child is not None:
            child.send_signal(signal.SIGTERM)

    # A signal ignored at start (nohup, `&` in a script) stays ignored, here and in the server.
    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in STOP_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        # Its own session: a terminal's Ctrl-C or hangup reaches this process only, and the
        # server stops once, cleanly, when told to, rather than dying mid-stop. No stdin either:
        # how it stops must not depend on whether a terminal is attached.
        child = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
        if stop_requested is not None:  # a signal came while it was being started
            child.send_signal(signal.SIGTERM)
        while True:
            try:
                return child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if stop_requested is not None and time.monotonic() - stop_requested > stop_timeout:
                break
        print(
            f"pangeo-hpc demo: JupyterLab did not stop within {stop_timeout:.0f} s: killed it. "
            "Jobs it submitted may still be queued or running; the next `pangeo-hpc demo` "
            "kills them.",
            file=sys.stderr,
            flush=True,
        )
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="JupyterLab with the extension on the bundled LSF emulator (127.0.0.1 only)",
        description="JupyterLab on 127.0.0.1 with an emulated LSF cluster and a local profile.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--slots", type=int, default=8, help="emulated job slots (default 8)")
    parser.add_argument(
        "--notebook-dir", default=os.getcwd(), help="directory JupyterLab serves (default: here)"
    )
    parser.set_defaults(func=run_demo)
