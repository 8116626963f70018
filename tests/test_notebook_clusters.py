"""Clusters started in notebooks: a real kernel runs the seed's cell, the cluster is listed with
origin "notebook", its printed link opens the dashboard through our route with no Jupyter
credential in the page, JupyterLab can close it, and it goes away with its kernel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pangeo_hpc_ext.notebook.clusters import CLOSE_TIMEOUT_S
from tests.conftest import WAIT_TIMEOUT_S, Api
from tests.support.dashboard import Server, assert_no_secrets, bokeh_sessions, read_bokeh_message
from tests.support.kernel import Kernel

SEED_LOCAL = """
import json
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="1GB", host="127.0.0.1",
                       dashboard_address="127.0.0.1:0", name="seed-local")
client = Client(cluster)
print(client)
print(json.dumps({"link": client.dashboard_link, "address": cluster.scheduler_address,
                  "port": cluster.scheduler.http_server.port}))
"""
SEED_LSF = """
import json
from dask_jobqueue import LSFCluster
from distributed import Client
cluster = LSFCluster(cores=1, memory="1GB", queue="normal", walltime="00:30", interface="lo",
                     scheduler_options={"dashboard_address": "127.0.0.1:0"}, name="seed-lsf")
cluster.scale(2)
client = Client(cluster)
client.wait_for_workers(2, timeout=120)
print(json.dumps({"link": client.dashboard_link, "address": cluster.scheduler_address,
                  "jobs": sorted(str(job.job_id) for job in cluster.workers.values())}))
"""


def notebook_cluster(address: str, **conditions: Any) -> Callable[[list[dict[str, Any]]], Any]:
    def find(clusters: list[dict[str, Any]]) -> dict[str, Any] | None:
        for cluster in clusters:
            if cluster["origin"] == "notebook" and cluster["scheduler_address"] == address:
                if all(check(cluster) for check in conditions.values()):
                    return cluster
        return None

    return find


def gone(address: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda clusters: all(c["scheduler_address"] != address for c in clusters)


async def test_seed_local_cluster_listed_proxied_and_gone_with_its_kernel(
    kernel: Kernel, api: Api, server: Server, jp_fetch: Any, jp_base_url: str
) -> None:
    await kernel.start()
    seen = await kernel.run_json(SEED_LOCAL)
    route = f"{jp_base_url}pangeo-hpc/dashboards/{seen['port']}"
    assert seen["link"] == f"{route}/status"

    cluster = await api.wait_for_listing(
        notebook_cluster(seen["address"], workers=lambda c: c["workers"]["connected"] == 1),
        "the notebook's LocalCluster listed with its worker",
    )
    assert cluster["id"].startswith("nb-")
    assert cluster["name"] == "seed-local"
    assert cluster["status"] == "running"
    assert cluster["dashboard_url"] == seen["link"]
    assert cluster["notebook"]["cluster_class"] == "LocalCluster"
    assert cluster["notebook"]["kernel_id"] == kernel.kernel_id
    assert cluster["cores"] == 1 and cluster["memory"] == 10**9
    assert cluster["jobs"] == []  # local workers run in no batch job
    code, single = await api.call("GET", "clusters", cluster["id"])
    assert code == 200 and single["scheduler_address"] == seen["address"]
    code, refused = await api.call("PATCH", "clusters", cluster["id"], body={"workers": 3})
    assert code == 409 and "notebook" in refused["message"]

    # Clicking the link: the dashboard, through our route, with no Jupyter credential in it.
    login = await jp_fetch("api", "status")
    login_cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    secrets = [server.token, login_cookie.split("=", 1)[1].strip('"')]
    for what, page in {
        "token in header, query and Referer": await server.fetch(
            f"{seen['link']}?token={server.token}",
            Referer=f"{server.origin}/lab?token={server.token}",
        ),
        "login cookie only": await server.fetch(seen["link"], auth=False, Cookie=login_cookie),
    }.items():
        assert page.code == 200, (what, page.code)
        html = page.body.decode()
        sessions = bokeh_sessions(html)
        assert sessions, f"{what}: no Bokeh session in the page"
        assert_no_secrets(what, html, secrets)
        for _, payload in sessions:
            assert payload["cookies"] == {}, what
            assert not {"authorization", "cookie", "referer"} & {
                h.lower() for h in payload["headers"]
            }
    # The page's websocket, through the same route.
    [(session_token, _)] = bokeh_sessions(page.body.decode())[:1]
    ws = await server.websocket(f"{route}/status/ws", subprotocols=["bokeh", session_token])
    try:
        header, _, _ = await read_bokeh_message(ws)
        assert header["msgtype"] == "ACK", header
    finally:
        ws.close()

    await kernel.shutdown()
    await api.wait_for_listing(gone(seen["address"]), "the cluster leaving with its kernel")
    assert (await server.fetch(seen["link"])).code == 404
    code, _ = await api.call("GET", "clusters", cluster["id"])
    assert code == 404


async def test_lsf_cluster_jobs_listed_and_closed_from_jupyterlab(
    lsf_env: Any, kernel: Kernel, api: Api, server: Server
) -> None:
    await kernel.start()
    seen = await kernel.run_json(SEED_LSF, timeout=180)
    assert len(seen["jobs"]) == 2

    def jobs_running(cluster: dict[str, Any]) -> bool:
        jobs = {j["job_id"]: j for j in cluster["jobs"]}
        return sorted(jobs) == seen["jobs"] and all(
            j["native_state"] == "RUN" and j["state"] == "running" and j["hosts"]
            for j in jobs.values()
        )

    cluster = await api.wait_for_listing(
        notebook_cluster(
            seen["address"],
            workers=lambda c: c["workers"] == {"requested": 2, "connected": 2},
            jobs=jobs_running,
        ),
        "the notebook's LSFCluster listed with its 2 jobs running (as bjobs says)",
    )
    assert cluster["notebook"]["cluster_class"] == "LSFCluster"
    assert cluster["name"] == "seed-lsf"
    for job in cluster["jobs"]:
        assert 0 < job["walltime_left_s"] <= 30 * 60
    assert cluster["dashboard_url"] == seen["link"]
    assert (await server.fetch(seen["link"])).code == 200

    # Shutdown from the sidebar asks the scheduler to close: its cluster closes, jobs killed.
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204
    code, _ = await api.call("GET", "clusters", cluster["id"])
    assert code == 404
    records = {r["JOBID"]: r["STAT"] for r in lsf_env.records(*map(int, seen["jobs"]))}
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while any(stat not in ("DONE", "EXIT") for stat in records.values()):
        assert time.monotonic() < deadline, f"LSF jobs still unfinished after the close: {records}"
        await asyncio.sleep(0.5)
        records = {r["JOBID"]: r["STAT"] for r in lsf_env.records(*map(int, seen["jobs"]))}
    status = await kernel.run_json("print(json.dumps(str(cluster.status)))")
    assert status == "Status.closed"


STUCK_CLOSE_TIMEOUT_S = 2.0
SEED_ASYNC = """
import json
from distributed import LocalCluster
cluster = await LocalCluster(n_workers=0, asynchronous=True, host="127.0.0.1",
                             dashboard_address="127.0.0.1:0", name="seed-async")
print(json.dumps({"address": cluster.scheduler_address}))
"""


async def test_a_scheduler_that_cannot_act_answers_502_and_is_not_closed_later(
    kernel: Kernel, api: Api, started_server: Any, tmp_path: Path
) -> None:
    """A scheduler on the kernel's own event loop cannot act while a cell blocks that loop: the
    DELETE answers 502 (never 500) within the wait, and the request is withdrawn, so the cluster
    is still there once the cell ends."""
    notebooks = started_server.web_app.settings["pangeo_hpc_ext"].notebook_clusters
    notebooks.close_timeout = STUCK_CLOSE_TIMEOUT_S
    await kernel.start()
    seen = await kernel.run_json(SEED_ASYNC)
    cluster = await api.wait_for_listing(
        notebook_cluster(seen["address"]), "the kernel's asynchronous LocalCluster listed"
    )

    started = tmp_path / "cell-started"
    blocked = asyncio.ensure_future(
        kernel.run(
            f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); "
            f"time.sleep({3 * STUCK_CLOSE_TIMEOUT_S})"
        )
    )
    try:
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while not started.exists():  # from here on the kernel's loop sleeps with the cell
            assert time.monotonic() < deadline, "the blocking cell never started"
            await asyncio.sleep(0.05)
        code, refused = await api.call("DELETE", "clusters", cluster["id"])
    finally:
        await blocked
    assert code == 502, (code, refused)
    assert "did not close within 2 s" in refused["message"]

    status = await kernel.run_json("print(json.dumps(str(cluster.status)))")
    assert status == "Status.running"
    code, still = await api.call("GET", "clusters", cluster["id"])
    assert code == 200 and still["status"] == "running"
    # Once the kernel is free, the same request closes it, and 204 means the kernel's cluster
    # object is closed too (not still closing).
    notebooks.close_timeout = CLOSE_TIMEOUT_S
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204
    assert await kernel.run_json("print(json.dumps(str(cluster.status)))") == "Status.closed"
