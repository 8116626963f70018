"""JupyterHub on HPC, end to end: JupyterHub 6.1.1 with batchspawner's SlurmSpawner on the real
Slurm of .ci/slurm.sh, configurable-http-proxy, two Unix users. Each user's JupyterLab is a Slurm
job running as that user; its clusters' workers are further Slurm jobs. Everything goes through the
hub's public URL on 127.0.0.1, as a browser or a script with a JupyterHub token would.

Skipped without root, Slurm or what `.ci/jupyterhub.sh up` installs, unless PANGEO_HPC_REQUIRE_HUB=1
(CI), which makes them fail instead."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from tornado.httpclient import AsyncHTTPClient

from tests.support.dashboard import (
    Server,
    assert_no_secrets,
    bokeh_request,
    bokeh_sessions,
    read_bokeh_message,
)
from tests.support.jupyterhub import (
    SPAWN_TIMEOUT_S,
    Hub,
    parse_time,
    require_hub,
    squeue_user,
    wait_until,
)

ALICE, BOB = "hubalice", "hubbob"
# Short, so that a cull happens within the test; our websocket marks activity every 10 s.
CULL_TIMEOUT_S = 30
# Spawning, two Slurm workers, a restart: several minutes on 2 cores.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    require_hub()
    hub = Hub(tmp_path_factory.mktemp("jupyterhub"))
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(autouse=True)
def no_server_left(hub: Hub) -> Iterator[None]:
    """Whatever a test leaves (it failed half-way), the next one starts with no user server."""
    yield
    hub.stop_all_servers((ALICE, BOB))


class UserServer(Server):
    """A user's JupyterLab behind the hub, with that user's JupyterHub token."""

    def __init__(self, hub: Hub, user: str, token: str, name: str = "") -> None:
        prefix = f"/user/{user}/{name + '/' if name else ''}"
        super().__init__(hub.port, prefix, token)
        self.user = user

    async def call(self, method: str, *path: str, body: Any = None) -> tuple[int, Any]:
        """Our REST API through the hub, as tests/conftest.py's Api calls it on a bare server."""
        response = await AsyncHTTPClient().fetch(
            self.origin + self.base_url + "pangeo-hpc/api/" + "/".join(path),
            method=method,
            headers={**self.auth, "Content-Type": "application/json"},
            body=None if body is None and method not in ("POST", "PATCH") else json.dumps(body),
            follow_redirects=False,
            raise_error=False,
            request_timeout=60,
        )
        text = response.body.decode() if response.body else ""
        try:
            return response.code, json.loads(text) if text else None
        except ValueError:
            return response.code, text

    async def cluster(self, cluster_id: str) -> dict[str, Any]:
        code, body = await self.call("GET", "clusters", cluster_id)
        assert code == 200, body
        return body

    async def clusters(self) -> list[dict[str, Any]]:
        code, body = await self.call("GET", "clusters")
        assert code == 200, body
        return body["clusters"]

    async def wait_workers(self, cluster_id: str, workers: int, timeout: float = 180.0) -> None:
        async def connected() -> bool:
            cluster = await self.cluster(cluster_id)
            running = [j for j in cluster["jobs"] if j["state"] == "running"]
            return cluster["workers"]["connected"] == workers and len(running) == workers

        await wait_until(connected, f"{workers} Slurm workers of {cluster_id} connected", timeout)


async def start_cluster(
    server: UserServer, workers: int, *, keep: bool = False
) -> tuple[dict[str, Any], float]:
    """A Slurm cluster of the user's; with the seconds until its first worker connected."""
    started = time.monotonic()
    code, cluster = await server.call(
        "POST", "clusters", body={"profile": "slurm", "workers": workers, "keep": keep}
    )
    assert code == 201, cluster

    async def one() -> bool:
        return (await server.cluster(cluster["id"]))["workers"]["connected"] >= 1

    await wait_until(one, "a first worker", 180.0)
    first = time.monotonic() - started
    await server.wait_workers(cluster["id"], workers)
    return await server.cluster(cluster["id"]), first


async def dashboard_port(server: UserServer) -> int:
    """The port of the user's cluster dashboard (the API shows only its route): one the user's
    processes listen on that the user's own port route serves."""
    listening = {
        c.laddr.port
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid and user_of(c.pid) == server.user
    }
    for port in sorted(listening):
        response = await server.fetch(f"{server.base_url}pangeo-hpc/dashboards/{port}/status")
        if response.code == 200:
            return port
    raise AssertionError(f"no dashboard port of {server.user}'s among {sorted(listening)}")


async def measure_dashboard(hub: Hub, server: UserServer, path: str, rounds: int = 5) -> None:
    """The dashboard page (a new Bokeh session each time) through the hub's proxy and straight
    from the user's server in its job, alternating, same run. Printed, not asserted."""
    direct = Server(server_port(server.user), server.base_url, server.token)
    times: dict[str, list[float]] = {"through the hub": [], "direct to JupyterLab": []}
    for _ in range(rounds):
        for what, client in (("through the hub", server), ("direct to JupyterLab", direct)):
            started = time.monotonic()
            response = await client.fetch(path)
            times[what].append(time.monotonic() - started)
            assert response.code == 200, (what, response.code)
    for what, seconds in times.items():
        print(
            f"MEASURE dashboard /status page {what}: first {seconds[0] * 1000:.0f} ms, "
            f"median of {rounds} {sorted(seconds)[rounds // 2] * 1000:.0f} ms"
        )


def server_port(user: str) -> int:
    """The port of the user's jupyterhub-singleuser (batchspawner picks it in the job)."""
    for process in psutil.process_iter(["username", "cmdline", "name"]):
        cmdline = process.info["cmdline"] or []
        # Not srun (it runs the server as a job step and listens for its I/O): the Python.
        if (
            process.info["username"] == user
            and cmdline
            and Path(cmdline[0]).name.startswith("python")
            and any("jupyterhub-singleuser" in a for a in cmdline)
        ):
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN:
                    return int(connection.laddr.port)
    raise AssertionError(f"no listening jupyterhub-singleuser of {user}'s")


def user_of(pid: int) -> str | None:
    try:
        return psutil.Process(pid).username()
    except psutil.Error:
        return None


def job_ids(cluster: dict[str, Any]) -> set[str]:
    return {j["job_id"] for j in cluster["jobs"] if j["state"] in ("running", "pending")}


def user_job_ids(user: str) -> set[str]:
    return {job_id for job_id, _, _ in squeue_user(user)}


async def spawn_with_token(hub: Hub, user: str, name: str = "") -> tuple[UserServer, float]:
    """The user's server, spawned by the hub; with seconds from the spawn request to our API
    answering through the hub (what the sidebar waits for to list profiles)."""
    token = await hub.user_token(user)
    started = time.monotonic()
    await hub.spawn(user, name)
    server = UserServer(hub, user, token, name)

    async def profiles() -> dict[str, Any] | None:
        code, body = await server.call("GET", "profiles")
        return body if code == 200 else None

    await wait_until(profiles, f"{user}'s profiles through the hub", SPAWN_TIMEOUT_S)
    return server, time.monotonic() - started


async def test_two_users_on_slurm_through_the_hub(hub: Hub) -> None:
    await hub.wait_up()
    (alice, alice_s), (bob, bob_s) = await asyncio.gather(
        spawn_with_token(hub, ALICE), spawn_with_token(hub, BOB)
    )
    print(f"\nMEASURE spawn -> profiles answering: alice {alice_s:.1f} s, bob {bob_s:.1f} s")

    # Each JupyterLab is a Slurm job of its own user.
    for user in (ALICE, BOB):
        jobs = squeue_user(user)
        assert [state for _, _, state in jobs] == ["RUNNING"], jobs

    code, body = await alice.call("GET", "profiles")
    assert code == 200 and [p["name"] for p in body["profiles"]] == ["slurm"], body

    cluster, first_worker_s = await start_cluster(alice, 2)
    cid = cluster["id"]
    print(f"MEASURE POST 2-worker Slurm cluster -> first worker connected: {first_worker_s:.1f} s")
    workers = job_ids(cluster)
    assert len(workers) == 2 and workers <= user_job_ids(ALICE), (workers, squeue_user(ALICE))

    code, body = await alice.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200, body
    await alice.wait_workers(cid, 3)

    # The dashboard: hub -> proxy -> alice's server in its job -> our proxy -> Bokeh. No JupyterHub
    # credential reaches Bokeh, whichever way the request carried it.
    status = alice.dashboard(cid, "/status")
    page = await alice.fetch(status + f"?token={alice.token}")
    assert page.code == 200, page.code
    # Framed by her JupyterLab on a stock hub, whose servers default to frame-ancestors 'none'.
    policy = page.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'self'" in policy, policy
    html = page.body.decode()
    assert_no_secrets("dashboard through the hub", html, [alice.token, hub.token])
    sessions = bokeh_sessions(html)
    assert sessions, "no Bokeh session in the dashboard page"
    for _, payload in sessions:
        assert payload["cookies"] == {}
        forwarded = {h.lower() for h in payload["headers"]}
        assert not {"authorization", "cookie", "referer"} & forwarded, forwarded
        assert "token" not in payload["arguments"]
    await measure_dashboard(hub, alice, status)

    # Bokeh's websocket through the hub's proxy too.
    [(session_token, _)] = bokeh_sessions(
        (await alice.fetch(alice.dashboard(cid, "/individual-task-stream"))).body.decode()
    )
    ws = await alice.websocket(
        alice.dashboard(cid, "/individual-task-stream/ws"), subprotocols=["bokeh", session_token]
    )
    try:
        header, _, _ = await read_bokeh_message(ws)
        assert header["msgtype"] == "ACK", header
        _, document = await bokeh_request(ws, "PULL-DOC-REQ", "PULL-DOC-REPLY", "pull-1")
        assert document["doc"]["roots"]
    finally:
        ws.close()

    # Isolation: bob's token opens nothing of alice's; bob's server knows nothing of hers.
    bob_on_alice = Server(hub.port, alice.base_url, bob.token)
    for path in ("pangeo-hpc/api/clusters", f"pangeo-hpc/api/clusters/{cid}", "lab"):
        response = await bob_on_alice.fetch(alice.base_url + path)
        assert response.code == 403, (path, response.code)
    response = await bob_on_alice.fetch(status)
    assert response.code == 403, response.code
    assert await bob_on_alice.websocket_refused(alice.dashboard(cid, "/status/ws")) == 403
    code, _ = await bob.call("GET", "clusters", cid)
    assert code == 404
    port = await dashboard_port(alice)
    response = await bob.fetch(f"{bob.base_url}pangeo-hpc/dashboards/{port}/status")
    assert response.code == 404, response.code
    assert await bob.clusters() == []

    # A browser: login form, the hub's OAuth to alice's server, then a PATCH that must carry
    # X-XSRFToken (the _xsrf cookie's value) as JupyterLab sends it.
    code = await asyncio.to_thread(cookie_login_patch, hub, ALICE, alice.base_url, cid)
    assert code == 200

    # The hub stops alice's server (what the idle culler does too): on_server_stop=close closes
    # her clusters and cancels their jobs; nothing of hers is left in Slurm.
    await hub.stop_server(ALICE)

    async def no_jobs() -> bool:
        return not squeue_user(ALICE)

    await wait_until(no_jobs, "no Slurm job of alice's after the hub stopped her server")
    assert [s for _, _, s in squeue_user(BOB)] == ["RUNNING"]
    await hub.stop_server(BOB)


def cookie_login_patch(hub: Hub, user: str, prefix: str, cluster_id: str) -> int:
    """Log in with the hub's form, follow its OAuth to the user's server, PATCH a cluster with
    the browser's cookies; returns the PATCH's status. Without X-XSRFToken it must be refused."""
    with requests.Session() as browser:
        login = browser.get(f"{hub.url}/hub/login", timeout=60)
        assert login.status_code == 200
        xsrf = browser.cookies.get("_xsrf", path="/hub/")
        form = {"username": user, "password": hub.token, "_xsrf": xsrf}
        done = browser.post(f"{hub.url}/hub/login?next={prefix}lab", data=form, timeout=60)
        assert done.status_code == 200 and done.url.endswith(f"{prefix}lab"), done.url
        url = f"{hub.url}{prefix}pangeo-hpc/api/clusters/{cluster_id}"
        assert browser.get(url, timeout=60).status_code == 200
        refused = browser.patch(url, json={"workers": 2}, timeout=60)
        assert refused.status_code == 403, refused.status_code
        server_xsrf = browser.cookies.get("_xsrf", path=prefix)
        assert server_xsrf, browser.cookies
        patched = browser.patch(
            url, json={"workers": 2}, headers={"X-XSRFToken": server_xsrf}, timeout=60
        )
        return patched.status_code


async def test_named_servers_keep_their_own_clusters(hub: Hub) -> None:
    """Two servers of one user, started one after the other: the second neither lists nor
    reattaches the first's cluster, and stopping the first leaves the second's running."""
    await hub.wait_up()
    one, _ = await spawn_with_token(hub, ALICE, "one")
    first, _ = await start_cluster(one, 1)
    two, _ = await spawn_with_token(hub, ALICE, "two")
    second, _ = await start_cluster(two, 1)
    assert [c["id"] for c in await one.clusters()] == [first["id"]]
    assert [c["id"] for c in await two.clusters()] == [second["id"]]
    data = Path(f"/home/{ALICE}/.local/share/pangeo-hpc/jupyterhub")
    for name, cluster in (("one", first), ("two", second)):
        records = {p.stem for p in (data / name / "clusters").glob("*.json")}
        assert records == {cluster["id"]}, (name, records)

    await hub.stop_server(ALICE, "one")

    async def first_jobs_gone() -> bool:
        return not job_ids(first) & user_job_ids(ALICE)

    await wait_until(first_jobs_gone, "server one's worker job cancelled when it stopped")
    assert job_ids(second) <= user_job_ids(ALICE), squeue_user(ALICE)
    cluster = await two.cluster(second["id"])
    assert cluster["status"] == "running" and cluster["workers"]["connected"] == 1, cluster
    await hub.stop_server(ALICE, "two")

    async def none_left() -> bool:
        return not squeue_user(ALICE)

    await wait_until(none_left, "no Slurm job of alice's once both servers stopped")


async def test_idle_culler_spares_a_dashboard_watcher_then_culls(hub: Hub) -> None:
    """The hub's last_activity advances while a dashboard websocket is open through our proxy
    and nothing else happens, so jupyterhub-idle-culler leaves the server alone; once the user
    is idle everywhere it is culled: her clusters close and no job of hers is left. Under
    batchspawner a kept cluster closes too (docs/jupyterhub.md says why)."""
    await hub.wait_up()
    alice, _ = await spawn_with_token(hub, ALICE)
    closing, _ = await start_cluster(alice, 1)
    kept, _ = await start_cluster(alice, 1, keep=True)
    page = await alice.fetch(alice.dashboard(closing["id"], "/individual-task-stream"))
    [(session_token, _)] = bokeh_sessions(page.body.decode())
    ws = await alice.websocket(
        alice.dashboard(closing["id"], "/individual-task-stream/ws"),
        subprotocols=["bokeh", session_token],
    )
    culler = hub.start_culler(timeout_s=CULL_TIMEOUT_S)
    try:
        header, _, _ = await read_bokeh_message(ws)
        assert header["msgtype"] == "ACK"
        # Nothing passes from here on (no document pulled), and nothing else reaches her server.
        opened = time.time()

        async def active_past_timeout() -> float | None:
            server = await hub.server(ALICE)
            assert server is not None, "culled while a dashboard websocket was open"
            seen = parse_time(server["last_activity"])
            return seen if seen > opened + CULL_TIMEOUT_S + 5 else None

        seen = await wait_until(
            active_past_timeout,
            "the hub's last_activity advancing past the culler's timeout while watching",
            CULL_TIMEOUT_S * 4,
        )
        print(f"\nMEASURE hub last_activity {seen - opened:.0f} s after the websocket opened")
        ws.close()

        async def culled() -> bool:
            return await hub.server(ALICE) is None

        await wait_until(culled, "alice culled once idle everywhere", CULL_TIMEOUT_S * 6)
    finally:
        ws.close()
        hub.stop_culler(culler)

    # Both clusters close, the kept one too: the hub's stop is scancel of her server's job, and
    # Slurm signals every process of that job, the kept cluster's supervisor included, which
    # then closes its cluster and cancels its worker jobs (its log says "signal").
    async def none_left() -> bool:
        return not squeue_user(ALICE)

    await wait_until(none_left, "no Slurm job of alice's after the cull, the kept cluster's too")
    records = Path(f"/home/{ALICE}/.local/share/pangeo-hpc/jupyterhub/default/clusters")
    assert "closing cluster" in (records / f"{kept['id']}.log").read_text()
    assert not (records / f"{kept['id']}.json").exists(), "a record left for a closed cluster"
