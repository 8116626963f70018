"""Runs inside the lab batch job on the compute node.

Picks a free port, starts JupyterLab with the session's token, and writes `connection.json`
into the session directory once the server answers. It is run as a plain script
(`python .../labjob_node.py SESSION_DIR ...`) and uses only the standard library, so it works
whatever the job's working directory and sys.path are.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PORT_TRIES = 50
# "node" binds the address this node's name resolves to: what `ssh -L ...:<node>:<port>` reaches.
NODE_ADDRESS = "node"


def bind_address(requested: str) -> str:
    if requested != NODE_ADDRESS:
        return requested
    # The ssh line tunnels to the host name LSF reports (EXEC_HOST, first of LSB_HOSTS), so bind
    # what that name resolves to; the node's own host name is the fallback.
    lsf_host = (os.environ.get("LSB_HOSTS") or "").split(" ")[0]
    for name in (lsf_host, socket.gethostname()):
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


def write_json(path: Path, data: dict) -> None:
    # Atomic: the CLI on the login node polls this file and must never read half of it.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def answers(ip: str, port: int, token: str, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(
        f"http://{ip}:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


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
    parser = argparse.ArgumentParser(prog="labjob_node")
    parser.add_argument("session_dir", type=Path)
    parser.add_argument("--ip", default=NODE_ADDRESS)
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args(argv)

    job_started = time.time()
    session: Path = args.session_dir
    token = (session / "token").read_text().strip()
    ip = bind_address(args.ip)
    port = pick_port(ip, args.port)
    if port != args.port:
        print(f"pangeo-hpc: port {args.port} is taken on this node, using {port}", flush=True)
    # The token travels in the environment (readable only by this user), never on a command line
    # that `ps` or bjobs would show.
    env = dict(os.environ, JUPYTER_TOKEN=token)
    server = subprocess.Popen(jupyterlab_command(ip, port), env=env, stdin=subprocess.DEVNULL)

    def forward(signum: int, _frame: object) -> None:
        server.send_signal(signal.SIGTERM if signum == signal.SIGUSR2 else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
        signal.signal(signum, forward)

    while server.poll() is None:
        if answers(ip, port, token):
            write_json(
                session / "connection.json",
                {
                    "node": socket.gethostname(),
                    "lsf_host": (os.environ.get("LSB_HOSTS") or "").split(" ")[0],
                    "job_id": os.environ.get("LSB_JOBID", ""),
                    "ip": ip,
                    "port": port,
                    "base_url": "/",
                    "pid": server.pid,
                    "job_started": job_started,
                    "answered": time.time(),
                },
            )
            print(f"pangeo-hpc: JupyterLab answers on {ip}:{port}", flush=True)
            break
        time.sleep(0.5)
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
