"""`pangeo-hpc demo`: JupyterLab with this extension on the bundled LSF emulator, on 127.0.0.1.

The emulator's commands are put on PATH of that one server process (and so of the jobs it
submits); nothing else on the machine sees them."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
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
    try:
        return subprocess.call(
            [sys.executable, "-m", "jupyterlab", f"--config={config}"], cwd=args.notebook_dir
        )
    except KeyboardInterrupt:
        return 0


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
