"""Clusters live in supervisor processes of their own: they outlive a server restart when asked
to (or a server crash), close with the server by default, close themselves when nobody uses them,
and a supervisor that dies leaves no job behind. Real server processes, real Dask, the LSF
emulator."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from distributed import Client
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.dask_client import cluster_security
from tests.support.kernel import Kernel
from tests.support.lsfsim import element_id
from tests.support.server_process import ServerProcess, wait_until
from tests.test_lsf_cluster import LSF_OPTIONS, unfinished_records

WAIT_S = 90.0
REPO_ROOT = str(Path(__file__).resolve().parents[1])
LOCAL_OPTIONS = {"threads_per_worker": 1, "memory_limit": "1GB"}


def supervisor_pids(state_dir: Path) -> list[int]:
    pids = []
    for path in (state_dir / "clusters").glob("*.json"):
        try:
            pids.append(int(json.loads(path.read_text())["pid"]))
        except (OSError, ValueError, KeyError):
            continue
    return pids


def alive(pid: int) -> bool:
    """Running, not a zombie that nobody reaped (a container's pid 1 may not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    # Whatever a failed test left: supervisors close their cluster and kill its jobs on SIGTERM.
    for pid in supervisor_pids(state):
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    for pid in supervisor_pids(state):
        wait_until(lambda p=pid: not alive(p), f"supervisor {pid} ending on SIGTERM", 60)


@pytest.fixture
def servers(tmp_path: Path, lsf_env, state_dir: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, **config: Any) -> ServerProcess:
        server = ServerProcess(
            tmp_path / "server",
            env={**lsf_env.env, "PYTHONPATH": REPO_ROOT, **(env or {})},
            pangeo_config={"state_dir": str(state_dir), "job_poll_interval": 0.25, **config},
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def listed(server: ServerProcess, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The clusters once all of `ids` are listed: a new server reattaches them as it starts,
    which may finish after its API first answers."""
    clusters = wait_until(
        lambda: (
            (found := {c["id"]: c for c in server.api("GET", "clusters")[1]["clusters"]})
            and ids <= set(found)
            and found
        ),
        f"clusters {sorted(ids)} listed by the new server",
    )
    return clusters


def get(server: ServerProcess, cid: str) -> dict[str, Any]:
    code, cluster = server.api("GET", f"clusters/{cid}")
    assert code == 200, cluster
    return cluster


def start(server: ServerProcess, profile: str, workers: int, **body: Any) -> dict[str, Any]:
    options = LSF_OPTIONS if profile == "lsf" else LOCAL_OPTIONS
    code, cluster = server.api(
        "POST", "clusters", {"profile": profile, "workers": workers, "options": options, **body}
    )
    assert code == 201, cluster
    return wait_until(
        lambda: (c := get(server, cluster["id"]))["workers"]["connected"] == workers and c,
        f"{workers} {profile} workers connecting",
    )


def dashboard_status(server: ServerProcess, cluster: dict[str, Any]) -> int:
    request = urllib.request.Request(
        server.url.rstrip("/") + cluster["dashboard_url"],
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_a_clean_stop_kills_every_job(servers, lsf_env, state_dir) -> None:
    server = servers()
    start(server, "lsf", 2)
    start(server, "local", 1)
    assert len(unfinished_records(lsf_env)) == 2
    assert server.proc is not None
    # Two clusters' supervisors, and a spare one if it is waiting for the next cluster.
    supervisors = [
        child.pid
        for child in psutil.Process(server.proc.pid).children()
        if "pangeo_hpc_ext.supervisor" in child.cmdline()
    ]
    assert set(supervisor_pids(state_dir)) <= set(supervisors), supervisors
    assert len(supervisor_pids(state_dir)) == 2
    server.signal(signal.SIGTERM)
    server.wait(timeout=WAIT_S)
    records = lsf_env.records()
    assert [r for r in records if r["STAT"] not in ("DONE", "EXIT")] == [], server.log_tail()
    assert {r["EXIT_REASON"] for r in records} == {"TERM_OWNER: job killed by owner"}
    assert supervisor_pids(state_dir) == []
    for pid in supervisors:
        wait_until(lambda p=pid: not alive(p), f"supervisor {pid} ending with the server", 30)


def test_kept_clusters_outlive_a_restart_and_close_with_the_next_stop(
    servers, lsf_env, state_dir
) -> None:
    first = servers(on_server_stop="keep")
    lsf = start(first, "lsf", 2)
    local = start(first, "local", 1)
    lsf_jobs = sorted(j["job_id"] for j in lsf["jobs"])
    with Client(lsf["scheduler_address"], security=cluster_security(lsf), timeout=30) as client:
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3
        first.stop()
        assert first.proc is not None and first.proc.returncode == 0, first.log_tail()
        # The server is gone; the cluster is not.
        assert client.submit(sum, [3, 4]).result(timeout=60) == 7
        assert sorted(element_id(r) for r in unfinished_records(lsf_env)) == lsf_jobs

        second = servers()  # on_server_stop="close": this one closes them at its stop
        clusters = listed(second, {lsf["id"], local["id"]})
        assert set(clusters) == {lsf["id"], local["id"]}, clusters
        again = clusters[lsf["id"]]
        assert again["status"] == "running" and again["name"] == lsf["name"]
        assert again["workers"] == {"requested": 2, "connected": 2}
        assert sorted(j["job_id"] for j in again["jobs"]) == lsf_jobs
        assert again["scheduler_address"] == lsf["scheduler_address"]
        assert clusters[local["id"]]["workers"]["connected"] == 1
        # The held client computes on, and the dashboards open through the new server.
        assert client.submit(sum, [5, 6]).result(timeout=60) == 11
        assert dashboard_status(second, again) == 200
        assert dashboard_status(second, clusters[local["id"]]) == 200

        code, _ = second.api("PATCH", f"clusters/{lsf['id']}", {"workers": 1})
        assert code == 200
        wait_until(lambda: len(unfinished_records(lsf_env)) == 1, "scaling the reattached down")
        second.stop()
    assert unfinished_records(lsf_env) == []
    assert supervisor_pids(state_dir) == []


def test_a_cluster_started_with_keep_outlives_a_closing_server(servers, lsf_env) -> None:
    first = servers()
    kept = start(first, "lsf", 1, keep=True)
    closed = start(first, "lsf", 1)
    assert kept["keep"] is True and closed["keep"] is False
    first.stop()
    assert [element_id(r) for r in unfinished_records(lsf_env)] == [kept["jobs"][0]["job_id"]]
    second = servers()
    assert list(listed(second, {kept["id"]})) == [kept["id"]]
    code, _ = second.api("DELETE", f"clusters/{kept['id']}")
    assert code == 204
    assert unfinished_records(lsf_env) == []


def test_a_server_crash_loses_nothing(servers, lsf_env) -> None:
    crashed = servers()
    cluster = start(crashed, "lsf", 2)
    crashed.signal(signal.SIGKILL)
    crashed.wait(timeout=WAIT_S)
    assert len(unfinished_records(lsf_env)) == 2
    second = servers()
    again = listed(second, {cluster["id"]})[cluster["id"]]
    assert again["status"] == "running" and again["workers"]["connected"] == 2
    second.stop()
    assert unfinished_records(lsf_env) == []


def test_a_killed_supervisor_leaves_no_job_and_says_why(servers, lsf_env, state_dir) -> None:
    server = servers()
    cluster = start(server, "lsf", 2)
    local = start(server, "local", 1)
    (pid,) = [
        p
        for p in supervisor_pids(state_dir)
        if json.loads((state_dir / "clusters" / f"{cluster['id']}.json").read_text())["pid"] == p
    ]
    os.kill(pid, signal.SIGKILL)
    failed = wait_until(
        lambda: (c := get(server, cluster["id"]))["status"] == "failed" and c,
        "the cluster shown failed after its supervisor was killed",
    )
    assert f"pid {pid}" in failed["error"] and "SIGKILL" in failed["error"], failed["error"]
    wait_until(lambda: not unfinished_records(lsf_env), "the dead supervisor's jobs killed")
    # The other cluster is untouched.
    assert get(server, local["id"])["workers"]["connected"] == 1


def test_jobs_of_a_supervisor_that_died_with_the_server_are_killed_at_next_start(
    servers, lsf_env, state_dir
) -> None:
    crashed = servers()
    cluster = start(crashed, "lsf", 2)
    crashed.signal(signal.SIGKILL)
    crashed.wait(timeout=WAIT_S)
    for pid in supervisor_pids(state_dir):
        os.kill(pid, signal.SIGKILL)
    assert len(unfinished_records(lsf_env)) == 2
    second = servers()
    wait_until(lambda: not unfinished_records(lsf_env), "the next server killing the jobs")
    failed = get(second, cluster["id"])
    assert failed["status"] == "failed" and "no server watched it" in failed["error"], failed


def test_a_second_server_takes_a_cluster_over_and_the_first_kills_nothing(servers, lsf_env) -> None:
    """Two JupyterLabs of one user on one host with the same state_dir: the one started second
    reattaches the first one's cluster; the first shows it attached elsewhere and leaves it."""
    first = servers()
    cluster = start(first, "lsf", 2)
    cid, jobs = cluster["id"], sorted(j["job_id"] for j in cluster["jobs"])
    second = servers()
    assert second.proc is not None
    again = listed(second, {cid})[cid]
    assert again["status"] == "running" and again["workers"]["connected"] == 2, again
    shown = wait_until(
        lambda: (c := get(first, cid))["warning"] and c,
        "the first server showing the cluster attached elsewhere",
    )
    assert shown["status"] != "failed" and shown["error"] is None, shown
    assert f"attached to another JupyterLab (pid {second.proc.pid} on " in shown["warning"]
    assert sorted(element_id(r) for r in lsf_env.records() if r["STAT"] == "RUN") == jobs
    code, refused = first.api("PATCH", f"clusters/{cid}", {"workers": 1})
    assert code == 409 and "another JupyterLab" in refused["message"], refused
    # The cluster keeps working from the second server, and the first one's stop leaves it.
    code, _ = second.api("PATCH", f"clusters/{cid}", {"workers": 3})
    assert code == 200
    wait_until(lambda: get(second, cid)["workers"]["connected"] == 3, "scaling from the second")
    first.stop()
    assert len([r for r in lsf_env.records() if r["STAT"] == "RUN"]) == 3
    assert get(second, cid)["status"] == "running"
    code, _ = second.api("DELETE", f"clusters/{cid}")
    assert code == 204
    assert unfinished_records(lsf_env) == []


def test_a_kept_cluster_nobody_uses_closes_itself(servers, lsf_env, state_dir) -> None:
    server = servers(on_server_stop="keep", idle_timeout=3)
    cluster = start(server, "lsf", 1)
    server.stop()
    wait_until(lambda: not unfinished_records(lsf_env), "the idle cluster killing its job", 60)
    wait_until(lambda: not supervisor_pids(state_dir), "the idle supervisor ending", 30)
    # Killed by its supervisor for idleness, not closed by the server that stopped.
    (record,) = lsf_env.records()
    assert record["EXIT_REASON"] == "TERM_OWNER: job killed by owner", record
    supervisor_log = (state_dir / "clusters" / f"{cluster['id']}.log").read_text()
    assert "idle for 3 s with no server and no client" in supervisor_log, supervisor_log


KEPT_BY_NAME = """
import json
from pangeo_hpc_ext.kernel import clusters, connect
listed = [(c.name, c.origin, c.status, c.workers) for c in clusters()]
client = connect("kept-one")
answer = client.submit(sum, [40, 2]).result(timeout=60)
print(json.dumps({"listed": listed, "answer": answer}))
client.close()
"""


def process_fetchers(server: ServerProcess) -> tuple[Any, Any]:
    """jp_fetch and jp_ws_fetch for a server in a child process."""
    headers = {"Authorization": f"token {server.token}"}

    async def fetch(*parts: str, method: str = "GET", body: str | None = None) -> Any:
        return await AsyncHTTPClient().fetch(
            server.url + "/".join(parts), method=method, body=body, headers=headers
        )

    async def ws_fetch(*parts: str) -> Any:
        url = server.url.replace("http://", "ws://") + "/".join(parts)
        return await websocket_connect(HTTPRequest(url, headers=headers))

    return fetch, ws_fetch


def test_a_kernel_of_the_next_server_lists_and_uses_a_kept_cluster(servers, lsf_env) -> None:
    first = servers(on_server_stop="keep")
    start(first, "lsf", 1, name="kept-one")
    first.stop()
    second = servers()

    async def in_a_kernel() -> Any:
        kernel = Kernel(*process_fetchers(second))
        await kernel.start()
        try:
            return await kernel.run_json(KEPT_BY_NAME)
        finally:
            await kernel.shutdown()

    seen = asyncio.run(in_a_kernel())
    assert seen == {"listed": [["kept-one", "jupyterlab", "running", 1]], "answer": 42}


def planted_record(
    state_dir: Path, cluster_id: str, pid: int, started: float, sockets: Path, **spec: Any
) -> Path:
    """A record as a supervisor leaves it, naming processes, jobs and directories at will."""
    path = state_dir / "clusters" / f"{cluster_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "id": cluster_id,
        "name": f"left-{cluster_id[:4]}",
        "profile": "lsf",
        "backend": "lsf",
        "options": LSF_OPTIONS,
        "requested": 1,
        "created": "2026-12-01T00:00:00+00:00",
        "credentials_dir": None,
        "keep": False,
        "adapt": None,
        "job_ids": [],
        **spec,
    }
    record = {
        "spec": body,
        "pid": pid,
        "started": started,
        "host": socket.gethostname(),
        "socket": str(sockets / f"{cluster_id}.sock"),
    }
    path.write_text(json.dumps(record))
    return path


def test_leftover_records_touch_nothing_that_is_not_theirs(
    servers, lsf_env, state_dir, tmp_path
) -> None:
    """A record left by a dead supervisor (or planted) whose pid now belongs to an unrelated
    process, whose job id is an unrelated job of the user, or whose credentials_dir points into
    the user's home: nothing of those is signalled, killed or removed."""
    reused, foreign = "0123456789abcdef", "fedcba9876543210"
    sleeper = subprocess.Popen(["setsid", "sleep", "600"])
    try:
        # setsid execs sleep in place (it is not a group leader): the pid is the sleep's.
        wait_until(lambda: psutil.Process(sleeper.pid).name() == "sleep", "setsid exec'ing sleep")
        unrelated = str(lsf_env.submit("-J", "sleep", stdin="sleep 600\n"))
        lsf_env.wait_stat(int(unrelated), "RUN")
        precious = tmp_path / "home" / "precious"
        precious.mkdir(parents=True)
        (precious / "thesis.tex").write_text("years of work")
        sockets = tmp_path / "sockets"
        sockets.mkdir(mode=0o700)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(sockets / f"{reused}.sock"))  # what a killed supervisor leaves
        stale.close()
        earlier = psutil.Process(sleeper.pid).create_time() - 1000
        planted_record(state_dir, reused, sleeper.pid, earlier, sockets, job_ids=[unrelated])
        planted_record(
            state_dir, foreign, sleeper.pid, earlier, sockets, credentials_dir=str(precious)
        )

        server = servers()
        failed = listed(server, {reused})[reused]
        assert failed["status"] == "failed" and "no server watched it" in failed["error"]
        assert foreign not in listed(server, set()), "a foreign record was taken in"
        (moved,) = (state_dir / "quarantine").iterdir()
        assert moved.name.startswith(f"{foreign}.json")
        wait_until(
            lambda: (
                f"job {unrelated} (recorded for cluster {reused}) is not killed"
                in server.log_tail(400)
            ),
            "the server saying why it leaves the unrelated job alone",
        )
        assert not (sockets / f"{reused}.sock").exists(), "the stale socket is still there"

        code, _ = server.api("DELETE", f"clusters/{reused}")
        assert code == 204
        assert server.api("DELETE", f"clusters/{foreign}")[0] == 404
        assert not (state_dir / "clusters" / f"{reused}.json").exists()
        assert sleeper.poll() is None, "the process that reused the pid was killed"
        assert lsf_env.record(int(unrelated))["STAT"] == "RUN"
        assert (precious / "thesis.tex").read_text() == "years of work"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_create_delete_cycles_leave_no_files(servers, lsf_env, state_dir, request) -> None:
    """Each deleted cluster takes its record, ledger, socket and log with it, whether its
    supervisor closed it or was killed; here with the usual socket directory squatted by
    another user, so the server's private fallback is used."""
    # Short, as /run/user/<uid> is: a socket's path holds at most 107 bytes.
    runtime = Path(tempfile.mkdtemp(prefix="run-"))
    request.addfinalizer(lambda: shutil.rmtree(runtime, ignore_errors=True))
    squatted = runtime / f"pangeo-hpc-{os.getuid()}"
    squatted.mkdir(mode=0o777)
    os.chown(squatted, 65534, 65534)  # nobody got there first
    server = servers(env={"XDG_RUNTIME_DIR": str(runtime)})
    for _ in range(3):
        cluster = start(server, "local", 0)
        ready = wait_until(
            lambda c=cluster: (g := get(server, c["id"]))["status"] in ("running", "failed") and g,
            "the local cluster starting",
        )
        assert ready["status"] == "running", ready["error"]
        record = json.loads((state_dir / "clusters" / f"{cluster['id']}.json").read_text())
        assert Path(record["socket"]).parent.parent == runtime
        assert Path(record["socket"]).parent != squatted
        assert server.api("DELETE", f"clusters/{cluster['id']}")[0] == 204
    killed = start(server, "lsf", 1)
    record = json.loads((state_dir / "clusters" / f"{killed['id']}.json").read_text())
    os.kill(record["pid"], signal.SIGKILL)
    wait_until(lambda: get(server, killed["id"])["status"] == "failed", "the cluster failing")
    assert server.api("DELETE", f"clusters/{killed['id']}")[0] == 204
    assert unfinished_records(lsf_env) == []
    # The running server's own files aside (its kernels' registry, the spare supervisor's log).
    left = sorted(
        str(p.relative_to(state_dir))
        for p in state_dir.rglob("*")
        if p.is_file() and p.parts[len(state_dir.parts)] != "notebooks"
    )
    assert left == ["clusters/supervisor-start.log"], left
    sockets = [p for p in runtime.rglob("*") if p.is_socket()]
    assert sockets == [], sockets
    assert list(squatted.iterdir()) == []
