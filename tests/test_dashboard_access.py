"""Nobody but our proxy reaches a cluster's dashboard: another local Unix user, who can connect to
every loopback port, gets 403 from every HTTP route and websocket of a cluster's scheduler (ours
and those started in a notebook), and nothing from its workers, while the proxy, acting for the
Jupyter user, still serves the dashboard, its worker pages and Bokeh's websocket. And the
dashboard routes say who may frame them, whatever the server's own policy is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psutil
import pytest

from pangeo_hpc_ext.dashboard_access import KEY_HEADER
from tests.conftest import Api
from tests.support.dashboard import Server, bokeh_sessions, read_bokeh_message
from tests.support.kernel import Kernel

# The attacker runs the system's Python: the test's own may live in root's private home.
ATTACKER_PYTHON = "/usr/bin/python3"
ATTACK_TIMEOUT_S = 120.0
# Run as the attacker: each target is (port, path, websocket); prints what each one answered:
# an HTTP status, or the name of the error that stopped the request.
ATTACK = r"""
import http.client, json, sys
results = []
for port, path, websocket, key in json.loads(sys.argv[1]):
    headers = {"Host": f"127.0.0.1:{port}"}
    if websocket:
        headers.update({"Upgrade": "websocket", "Connection": "Upgrade",
                        "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    if key:
        headers[key[0]] = key[1]
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path, headers=headers)
        results.append(connection.getresponse().status)
        connection.close()
    except Exception as error:
        results.append(type(error).__name__)
print(json.dumps(results))
"""
# Paths of a scheduler's HTTP server that tell about the cluster: Bokeh's pages and websockets,
# distributed's JSON, info pages and metrics, static files.
SCHEDULER_PATHS = (
    "/json/identity.json",
    "/info/main/workers.html",
    "/metrics",
    "/status",
    "/individual-plots.json",
    "/statics/css/base.css",
    "/health",
    "/sitemap.json",
)
WEBSOCKETS = ("/status/ws", "/individual-task-stream/ws")
# What a worker's HTTP server would serve with its defaults.
WORKER_PATHS = ("/metrics", "/health", "/status", "/individual-plots.json", "/statics/css/base.css")


@pytest.fixture(scope="session")
def attacker() -> Iterator[str]:
    """A throwaway second Unix user, removed at the end of the session."""
    if os.geteuid() != 0:
        pytest.skip("running the attacker as a second Unix user needs root (useradd, runuser)")
    missing = [tool for tool in ("useradd", "userdel", "runuser") if shutil.which(tool) is None]
    if missing or not os.access(ATTACKER_PYTHON, os.X_OK):
        pytest.skip(f"a second Unix user needs {', '.join(missing) or ATTACKER_PYTHON}")
    name = f"pangeo-attacker-{os.getpid()}"[:32]
    subprocess.run(
        ["useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


Target = tuple[int, str, bool, tuple[str, str] | None]


def attack(user: str, targets: list[Target]) -> dict[Target, Any]:
    """What each target answered the attacker."""
    result = subprocess.run(
        ["runuser", "-u", user, "--", ATTACKER_PYTHON, "-c", ATTACK, json.dumps(targets)],
        capture_output=True,
        text=True,
        timeout=ATTACK_TIMEOUT_S,
        cwd="/",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(zip(targets, json.loads(result.stdout), strict=True))


def scheduler_targets(port: int) -> list[Target]:
    """Every path plainly, then with a guessed key, and the websockets likewise."""
    plain = [(port, path, False) for path in SCHEDULER_PATHS]
    plain += [(port, path, True) for path in WEBSOCKETS]
    guessed = (KEY_HEADER, "guessed")
    return [(*t, None) for t in plain] + [(*t, guessed) for t in plain]


def listening_ports(pid: int) -> dict[int, set[str]]:
    """TCP ports that a process and its descendants listen on, with their addresses."""
    pids = {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    ports: dict[int, set[str]] = {}
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.pid in pids:
            ports.setdefault(connection.laddr.port, set()).add(connection.laddr.ip)
    return ports


async def test_another_user_reaches_no_dashboard_of_our_clusters(
    api: Api, server: Server, jp_serverapp: Any, attacker: str
) -> None:
    code, cluster = await api.call(
        "POST", "clusters", body={"profile": "local", "workers": 1, "options": {}}
    )
    assert code == 201, cluster
    cluster = await api.wait_for(
        cluster["id"],
        lambda c: c["status"] == "running" and c["workers"]["connected"] == 1,
        "a local cluster with 1 worker running",
    )
    managed = jp_serverapp.web_app.settings["pangeo_hpc_ext"].manager.get(cluster["id"])
    port, supervisor_pid = managed.dashboard_port, managed.handle.pid

    # Through the proxy: the dashboard, the scheduler's pages about its workers, and Bokeh.
    identity = await server.fetch(server.dashboard(cluster["id"], "/json/identity.json"))
    assert identity.code == 200, identity.code
    [worker] = json.loads(identity.body)["workers"]
    for path in ("/info/main/workers.html", f"/info/worker/{quote(worker, safe='')}.html"):
        response = await server.fetch(server.dashboard(cluster["id"], path))
        assert response.code == 200, (path, response.code)
    page = await server.fetch(server.dashboard(cluster["id"], "/individual-task-stream"))
    assert page.code == 200
    [(session_token, payload)] = bokeh_sessions(page.body.decode())
    assert KEY_HEADER.lower() not in {h.lower() for h in payload["headers"]}, "key in the page"
    ws = await server.websocket(
        server.dashboard(cluster["id"], "/individual-task-stream/ws"),
        subprotocols=["bokeh", session_token],
    )
    try:
        header, _, _ = await read_bokeh_message(ws)
        assert header["msgtype"] == "ACK", header
    finally:
        ws.close()

    # Directly, as another user: the scheduler's dashboard refuses every route.
    answers = attack(attacker, scheduler_targets(port))
    assert set(answers.values()) == {403}, answers

    # The workers run no dashboard and no HTTP routes; whatever the cluster's processes listen
    # on is loopback only, and no port of theirs serves anything over plain HTTP.
    ports = listening_ports(supervisor_pid)
    assert ports and all(addresses == {"127.0.0.1"} for addresses in ports.values()), ports
    others: list[Target] = [
        (p, path, False, None) for p in ports if p != port for path in WORKER_PATHS
    ]
    answers = attack(attacker, others)
    assert not [target for target, answer in answers.items() if answer == 200], answers


async def test_batch_workers_serve_nothing_to_another_user(
    api: Api, server: Server, attacker: str
) -> None:
    # dask-jobqueue's workers would run a dashboard on 0.0.0.0, whatever the interface.
    code, cluster = await api.call(
        "POST",
        "clusters",
        body={
            "profile": "lsf",
            "workers": 1,
            "options": {"cores": 1, "memory": "1GB", "walltime": "00:30", "interface": "lo"},
        },
    )
    assert code == 201, cluster
    await api.wait_for(
        cluster["id"], lambda c: c["workers"]["connected"] == 1, "an LSF worker connected"
    )
    identity = await server.fetch(server.dashboard(cluster["id"], "/json/identity.json"))
    [(address, worker)] = json.loads(identity.body)["workers"].items()
    assert "dashboard" not in worker["services"], worker["services"]
    # The scheduler's pages about the worker, its logs included, through the proxy.
    for page in ("worker", "logs"):
        path = f"/info/{page}/{quote(address, safe='')}.html"
        response = await server.fetch(server.dashboard(cluster["id"], path))
        assert response.code == 200, (path, response.code)
    table = await server.fetch(server.dashboard(cluster["id"], "/info/main/workers.html"))
    assert b"/proxy/" not in table.body, "the worker table links to a worker dashboard"

    # The job's processes: the one serving the worker's comm port, its parent (the nanny or the
    # job script) and their children.
    comm_port = int(address.rsplit(":", 1)[1])
    [serving] = {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == comm_port
    }
    ports = listening_ports(psutil.Process(serving).parent().pid)
    assert all(addresses == {"127.0.0.1"} for addresses in ports.values()), ports
    targets: list[Target] = [(p, path, False, None) for p in ports for path in WORKER_PATHS]
    answers = attack(attacker, targets)
    assert not [target for target, answer in answers.items() if answer == 200], answers


NOTEBOOK_CELL = """
import json
from distributed import LocalCluster
cluster = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0")
print(json.dumps(cluster.scheduler.http_server.port))
"""


async def test_another_user_reaches_no_dashboard_of_notebook_clusters(
    kernel: Kernel, api: Api, server: Server, attacker: str
) -> None:
    await kernel.start()
    port = await kernel.run_json(NOTEBOOK_CELL)
    route = f"{server.base_url}pangeo-hpc/dashboards/{port}"
    for path in ("/json/identity.json", "/status"):
        response = await server.fetch(route + path)
        assert response.code == 200, (path, response.code)
    answers = attack(attacker, scheduler_targets(port))
    assert set(answers.values()) == {403}, answers
    await kernel.run("cluster.close()")


class TestFramingOnAStockHub:
    """JupyterHub's single-user server makes frame-ancestors 'none' the server's policy."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config: dict[str, Any]) -> dict[str, Any]:
        jp_server_config["ServerApp"]["tornado_settings"] = {
            "headers": {"Content-Security-Policy": "frame-ancestors 'none'"}
        }
        return jp_server_config

    async def test_dashboard_is_framed_by_this_origin_only(self, api: Api, server: Server) -> None:
        code, cluster = await api.call(
            "POST", "clusters", body={"profile": "local", "workers": 0, "options": {}}
        )
        assert code == 201, cluster
        cluster = await api.wait_for(
            cluster["id"], lambda c: c["status"] == "running", "a local cluster running"
        )
        in_frame = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate"}
        for path in ("/status", "/individual-task-stream", "/statics/css/base.css"):
            response = await server.fetch(
                server.dashboard(cluster["id"], path), Sec_Fetch_Site="same-origin", **in_frame
            )
            assert response.code == 200, (path, response.code)
            assert response.headers.get_list("Content-Security-Policy") == [
                "frame-ancestors 'self'"
            ], path
        # A closed or unknown cluster's answer shows in the tab too.
        missing = await server.fetch(server.dashboard("0123456789abcdef", "/status"))
        assert missing.code == 404
        assert missing.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
        # The rest of Jupyter keeps the server's policy.
        lab = await server.fetch(f"{server.base_url}api/status")
        assert lab.headers["Content-Security-Policy"].startswith("frame-ancestors 'none'")
        # A page of another site (or a sibling subdomain) framing the dashboard is refused
        # before anything reaches the dashboard, whatever a front proxy does to our policy.
        for site in ("cross-site", "same-site"):
            response = await server.fetch(
                server.dashboard(cluster["id"], "/status"), Sec_Fetch_Site=site, **in_frame
            )
            assert response.code == 403, (site, response.code)
