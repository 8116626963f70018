"""The dashboard route by port proxies only to a registered scheduler's dashboard: the entry's
process must still be the one that registered, run in one of this server's kernels, belong to
this user and listen on the port itself. Entries are forged here (as a buggy or hostile notebook
of this user could) to show each check on its own; a well-formed one is proxied, as a control."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import pytest

from pangeo_hpc_ext.kernel.registry import FORMAT_VERSION, entry_path, new_entry_id
from pangeo_hpc_ext.paths import free_port, write_json_atomic
from tests.conftest import Api
from tests.support.dashboard import Canary, Server
from tests.support.kernel import Kernel
from tests.support.server_process import wait_until

# A web server started by the kernel, optionally as another user; its stderr logs each request.
# Another user runs the system's Python: this one may live in root's private home.
SYSTEM_PYTHON = "/usr/bin/python3"
WEB_SERVER_CELL = """
import json, socket, subprocess, sys, time
log = open({log!r}, "wb")
process = subprocess.Popen(
    [{python!r}, "-m", "http.server", "--bind", "127.0.0.1", "{port}"],
    stdout=log, stderr=log, cwd="/", user={user!r}, group={user!r},
)
deadline = time.monotonic() + 60
while True:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        break
    except OSError:
        assert time.monotonic() < deadline and process.poll() is None, "http.server did not start"
        time.sleep(0.1)
print(json.dumps(process.pid))
"""


def registry(jp_serverapp: Any) -> Path:
    return jp_serverapp.web_app.settings["pangeo_hpc_ext"].notebook_clusters.directory


def forge(directory: Path, pid: int, port: int) -> str:
    """An entry in the registry's format claiming that process `pid` serves a dashboard on port."""
    entry_id = new_entry_id()
    write_json_atomic(
        entry_path(directory, entry_id),
        {
            "version": FORMAT_VERSION,
            "id": entry_id,
            "host": socket.gethostname(),
            "pid": pid,
            "create_time": psutil.Process(pid).create_time(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "address": f"tcp://127.0.0.1:{free_port()}",
            "dashboard_port": port,
            "name": f"forged-{entry_id}",
            "cluster_class": "LocalCluster",
            "workers": [],
            "jobs": [],
            "requested": None,
            "adapt": None,
            "tls": None,
        },
    )
    return entry_id


@pytest.fixture
def outside_process(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A web server of this user that no kernel started: (pid, port)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        wait_until(lambda: accepts(port), f"a web server listening on {port}")
        yield process.pid, port
    finally:
        process.terminate()
        process.wait(30)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


async def test_only_registered_listening_processes_of_this_user_are_proxied(
    kernel: Kernel,
    api: Api,
    server: Server,
    canary: Canary,
    jp_serverapp: Any,
    tmp_path: Path,
    outside_process: tuple[int, int],
) -> None:
    directory = registry(jp_serverapp)
    route = f"{server.base_url}pangeo-hpc/dashboards"
    await canary.start()
    await kernel.start()
    kernel_pid = await kernel.run_json("import os, json; print(json.dumps(os.getpid()))")

    # Unregistered: a port nothing registered, even though this user's process listens there.
    assert (await server.fetch(f"{route}/{canary.port}/status")).code == 404
    # Registered by a kernel's process that does not listen on the port.
    forge(directory, kernel_pid, canary.port)
    assert (await server.fetch(f"{route}/{canary.port}/status")).code == 404
    assert await server.websocket_refused(f"{route}/{canary.port}/status/ws") == 404
    assert canary.connections == 0, "the proxy connected to an unregistered port"

    # A process of this user that listens on its port, but runs in no kernel of this server.
    outside_pid, outside_port = outside_process
    forge(directory, outside_pid, outside_port)
    assert (await server.fetch(f"{route}/{outside_port}/")).code == 404

    # The control: a kernel's own child listening on the registered port is proxied.
    ours_port = free_port()
    ours_log = tmp_path / "ours.log"
    cell = WEB_SERVER_CELL.format(
        python=sys.executable, log=str(ours_log), port=ours_port, user=None
    )
    ours_pid = await kernel.run_json(cell)
    forge(directory, ours_pid, ours_port)
    response = await server.fetch(f"{route}/{ours_port}/")
    assert response.code == 200, response.code
    assert b"Directory listing" in response.body
    assert b"GET / " in ours_log.read_bytes()

    # The same kernel child after it ended (a pid may be reused): its entry is dropped.
    await kernel.run("process.terminate(); process.wait(30)")
    assert (await server.fetch(f"{route}/{ours_port}/")).code == 404


NOBODY = 65534  # uid and gid


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason=f"starting another user's process needs root and {SYSTEM_PYTHON}",
)
async def test_another_users_port_is_never_proxied(
    kernel: Kernel, api: Api, server: Server, jp_serverapp: Any, tmp_path: Path
) -> None:
    directory = registry(jp_serverapp)
    route = f"{server.base_url}pangeo-hpc/dashboards"
    await kernel.start()
    kernel_pid = await kernel.run_json("import os, json; print(json.dumps(os.getpid()))")
    theirs_port, theirs_log = free_port(), tmp_path / "theirs.log"
    cell = WEB_SERVER_CELL.format(
        python=SYSTEM_PYTHON, log=str(theirs_log), port=theirs_port, user=NOBODY
    )
    theirs_pid = await kernel.run_json(cell)
    assert psutil.Process(theirs_pid).username() == "nobody"

    # Registered as itself (it runs in the kernel, but belongs to another user) ...
    forge(directory, theirs_pid, theirs_port)
    assert (await server.fetch(f"{route}/{theirs_port}/")).code == 404
    # ... or claimed by this user's kernel process, which does not listen there.
    forge(directory, kernel_pid, theirs_port)
    assert (await server.fetch(f"{route}/{theirs_port}/")).code == 404
    assert await server.websocket_refused(f"{route}/{theirs_port}/ws") == 404
    assert b"GET " not in theirs_log.read_bytes(), "a request reached another user's port"
    await kernel.run("process.terminate(); process.wait(30)")
