"""Runs inside the lab batch job on the compute node.

Picks a free port, starts JupyterLab with the session's token, and writes `connection.json`
into the session directory once the server answers. The job script runs this file by its path
with the same Python as the CLI that wrote the script, so the node imports this very tree.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by path: sys.path[0] is this file's directory; import the package it belongs to
    # instead, whatever the job's working directory and PYTHONPATH are.
    sys.path[0] = str(Path(__file__).resolve().parents[3])

import argparse
import errno
import os
import signal
import socket
import subprocess
import time

from pangeo_hpc_ext.cli.lab.options import NODE_ADDRESS
from pangeo_hpc_ext.cli.lab.session import Connection, Session, answers

PORT_TRIES = 50


def bind_address(requested: str, host_variable: str | None) -> str:
    if requested != NODE_ADDRESS:
        return requested
    # The ssh line tunnels to the host name the scheduler reports for the job (named by
    # host_variable on the node, a list whose first word counts), so bind what that name
    # resolves to; the node's own host name is the fallback.
    listed = (os.environ.get(host_variable or "") or "").split()
    for name in (listed[0] if listed else "", socket.gethostname()):
        if not name:
            continue
        try:
            return socket.gethostbyname(name)
        except OSError:
            continue
    raise SystemExit("pangeo-hpc: cannot resolve this node's name; give `pangeo-hpc lab --ip`")


def pick_port(ip: str, first: int) -> int:
    for port in range(first, first + PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((ip, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise SystemExit(
                    f"pangeo-hpc: cannot bind {ip}:{port} on this node: {exc}"
                ) from exc
            return port
    raise SystemExit(f"pangeo-hpc: no free port in {first}-{first + PORT_TRIES - 1} on {ip}")


def jupyterlab_command(ip: str, port: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        # We checked the port; a silent jump to another one would break the printed ssh line.
        "--ServerApp.port_retries=0",
        # Undo the seed's hand-made `allow_origin='*'` if it is still in the user's config.
        "--ServerApp.allow_origin=",
    ]
    if os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pangeo-hpc-lab-node")
    parser.add_argument("session_dir", type=Path)
    parser.add_argument("--ip", default=NODE_ADDRESS)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--host-variable", default=None)
    args = parser.parse_args(argv)

    job_started = time.time()
    session = Session(args.session_dir)
    token = session.token()
    ip = bind_address(args.ip, args.host_variable)
    port = pick_port(ip, args.port)
    if port != args.port:
        print(f"pangeo-hpc: port {args.port} is taken on this node, using {port}", flush=True)
    # The token travels in the environment (readable only by this user), never on a command line
    # that `ps` or the scheduler would show.
    env = dict(os.environ, JUPYTER_TOKEN=token)
    server = subprocess.Popen(jupyterlab_command(ip, port), env=env, stdin=subprocess.DEVNULL)

    def forward(signum: int, _frame: object) -> None:
        server.send_signal(signal.SIGTERM if signum == signal.SIGUSR2 else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
        signal.signal(signum, forward)

    while server.poll() is None:
        if answers(ip, port, token):
            connection = Connection(
                node=socket.gethostname(), ip=ip, port=port, pid=server.pid, job_started=job_started
            )
            session.write_connection(connection)
            print(f"pangeo-hpc: JupyterLab answers on {ip}:{port}", flush=True)
            break
        time.sleep(0.5)
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
