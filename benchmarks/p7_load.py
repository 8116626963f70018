"""P7: load. A real server with 20 clusters (local backend, 0 workers each: every one a real
scheduler with its dashboard), then
1. 50 concurrent pollers of GET api/clusters and GET api/clusters/{id}, plus listeners on the
   event stream (/api/events/subscribe) and a cluster toggling adaptive mode every few seconds so
   that events flow, for --duration seconds: errors, p50/p99 latency, server RSS before/after;
2. 200 dashboard websocket sessions through our proxy (a Bokeh app's /ws, as the dashboard page
   opens them), opened, answered (Bokeh's ACK) and closed, 10 at a time: errors, server fds and
   RSS before/after.
Everything is on 127.0.0.1, bounded in count and time, and shut down at the end. It prints
figures; it asserts nothing.

    python benchmarks/p7_load.py [--clusters 20] [--pollers 50] [--listeners 10]
                                 [--duration 60] [--sessions 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from harness import median, percentile, server

START_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_S = 30.0
SETTLE_S = 10.0
SESSION_BATCH = 10
BOKEH_TOKEN = re.compile(r'"token":\s*"([^"]+)"')


class Load:
    def __init__(self, session: aiohttp.ClientSession, port: int, token: str) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}/"
        self.headers = {"Authorization": f"token {token}"}
        self.errors: Counter[str] = Counter()

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method,
            f"{self.base}pangeo-hpc/api/{path}",
            json=body,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def timed_get(self, path: str, latencies: list[float]) -> None:
        start = time.perf_counter()
        try:
            code, _ = await self.api("GET", path)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.errors[f"GET {path.split('/')[0]}: {type(error).__name__}"] += 1
            return
        latencies.append((time.perf_counter() - start) * 1000)
        if code != 200:
            self.errors[f"GET {path.split('/')[0]}: {code}"] += 1


def server_figures(pid: int) -> tuple[float, int]:
    """RSS in MiB and open fds of the server process (its clusters' schedulers run in it)."""
    process = psutil.Process(pid)
    return process.memory_info().rss / 2**20, process.num_fds()


async def settled_figures(pid: int) -> tuple[float, int]:
    """Figures once closing connections are gone: fds stop falling, or SETTLE_S passes."""
    deadline = time.monotonic() + SETTLE_S
    figures = server_figures(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = server_figures(pid)
        if now[1] >= figures[1]:
            return now
        figures = now
    return figures


async def start_clusters(load: Load, count: int) -> list[dict[str, Any]]:
    ids = []
    for _ in range(count):
        code, cluster = await load.api("POST", "clusters", {"profile": "local", "workers": 0})
        if code != 201:
            raise SystemExit(f"POST clusters answered {code}: {cluster}")
        ids.append(cluster["id"])
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        _, listing = await load.api("GET", "clusters")
        ours = [c for c in listing["clusters"] if c["id"] in ids]
        if all(c["status"] == "running" for c in ours):
            return ours
        if failed := [c for c in ours if c["status"] == "failed"]:
            raise SystemExit(f"a cluster failed: {failed[0]['error']}")
        await asyncio.sleep(0.5)
    raise SystemExit(f"{count} clusters were not running within {START_TIMEOUT_S:.0f} s")


async def poll_phase(
    load: Load, clusters: list[dict[str, Any]], pollers: int, listeners: int, duration: float
) -> tuple[list[float], list[float], int]:
    listing: list[float] = []
    single: list[float] = []
    events = 0
    stop = time.monotonic() + duration

    async def poller(offset: int) -> None:
        ids = itertools.cycle(c["id"] for c in clusters[offset:] + clusters[:offset])
        while time.monotonic() < stop:
            await load.timed_get("clusters", listing)
            await load.timed_get(f"clusters/{next(ids)}", single)

    async def listener() -> None:
        nonlocal events
        try:
            async with load.session.ws_connect(
                f"{load.base}api/events/subscribe".replace("http://", "ws://"),
                headers=load.headers,
            ) as ws:
                while (left := stop - time.monotonic()) > 0:
                    try:
                        message = await ws.receive(timeout=left)
                    except TimeoutError:
                        break
                    if message.type != aiohttp.WSMsgType.TEXT:
                        load.errors[f"event stream: {message.type.name}"] += 1
                        return
                    events += 1
        except aiohttp.ClientError as error:
            load.errors[f"event stream: {type(error).__name__}"] += 1

    async def churn() -> None:
        """Adaptive mode on and off on one cluster: every change is an event to everyone."""
        cid = clusters[0]["id"]
        for adapt in itertools.cycle(({"minimum": 0, "maximum": 1}, None)):
            if time.monotonic() >= stop:
                return
            code, _ = await load.api("PATCH", f"clusters/{cid}", {"adapt": adapt})
            if code != 200:
                load.errors[f"PATCH adapt: {code}"] += 1
            await asyncio.sleep(2.5)

    await asyncio.gather(
        *(poller(i % len(clusters)) for i in range(pollers)),
        *(listener() for _ in range(listeners)),
        churn(),
    )
    return listing, single, events


async def dashboard_sessions(load: Load, cluster: dict[str, Any], sessions: int) -> int:
    """Opens, reads Bokeh's ACK on, and closes `sessions` websockets; the count that worked."""
    page_url = (
        load.base.rstrip("/") + cluster["dashboard_url"].removesuffix("status") + ("individual-cpu")
    )
    async with load.session.get(page_url, headers=load.headers) as response:
        page = await response.text()
    token = BOKEH_TOKEN.search(page)
    if token is None:
        raise SystemExit(f"no Bokeh session token in {page_url} ({response.status})")
    ws_url = page_url.replace("http://", "ws://") + "/ws"
    worked = 0

    async def one() -> None:
        nonlocal worked
        try:
            async with load.session.ws_connect(
                ws_url,
                protocols=("bokeh", token[1]),
                headers=load.headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=REQUEST_TIMEOUT_S),
            ) as ws:
                ack = await ws.receive(timeout=REQUEST_TIMEOUT_S)
                if ack.type == aiohttp.WSMsgType.TEXT and "ACK" in ack.data:
                    worked += 1
                else:
                    load.errors[f"dashboard websocket: {ack.type.name}"] += 1
        except (aiohttp.ClientError, TimeoutError) as error:
            load.errors[f"dashboard websocket: {type(error).__name__}"] += 1

    for start in range(0, sessions, SESSION_BATCH):
        await asyncio.gather(*(one() for _ in range(min(SESSION_BATCH, sessions - start))))
    return worked


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<24} no answers"
    return (
        f"  {name:<24} n={len(values):6d}  p50 {median(values):7.1f} ms"
        f"  p99 {percentile(values, 0.99):7.1f} ms  max {max(values):7.1f} ms"
    )


def client(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))


async def run(args: argparse.Namespace, port: int, token: str, pid: int) -> None:
    # One client per phase, closed before the figures after it: its keep-alive connections
    # are fds of the server too.
    idle = server_figures(pid)
    async with client(4) as session:
        clusters = await start_clusters(Load(session, port, token), args.clusters)
    before = await settled_figures(pid)
    print(
        f"P7 load: {args.clusters} local clusters (0 workers), server RSS {idle[0]:.0f} MiB "
        f"idle, {before[0]:.0f} MiB with the clusters ({before[1]} fds)"
    )
    async with client(args.pollers + args.listeners + 1) as session:
        load = Load(session, port, token)
        listing, single, events = await poll_phase(
            load, clusters, args.pollers, args.listeners, args.duration
        )
    after = await settled_figures(pid)
    rate = (len(listing) + len(single)) / args.duration
    print(
        f"\n1. {args.pollers} pollers + {args.listeners} event listeners, {args.duration:.0f} s"
        f" ({rate:.0f} requests/s, {events} events received)"
    )
    print(line("GET api/clusters", listing))
    print(line("GET api/clusters/{id}", single))
    print(f"  server RSS {before[0]:.0f} -> {after[0]:.0f} MiB, fds {before[1]} -> {after[1]}")
    print(f"  errors: {dict(load.errors) or 'none'}")

    before = after
    async with client(SESSION_BATCH + 1) as session:
        load = Load(session, port, token)
        worked = await dashboard_sessions(load, clusters[0], args.sessions)
    after = await settled_figures(pid)
    print(
        f"\n2. {args.sessions} dashboard websocket sessions through the proxy, "
        f"{SESSION_BATCH} at a time: {worked} answered (Bokeh ACK) and closed"
    )
    # The proxy keeps idle connections to a dashboard for the next request (closed after 30 s).
    print(
        f"  server RSS {before[0]:.0f} -> {after[0]:.0f} MiB, fds {before[1]} -> {after[1]}"
        " (idle keep-alive connections to the dashboard included)"
    )
    print(f"  errors: {dict(load.errors) or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--listeners", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of polling")
    parser.add_argument("--sessions", type=int, default=200, help="dashboard websockets")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="p7-load-") as tmp:
        root = Path(tmp)
        config = {"max_clusters": max(20, args.clusters), "job_poll_interval": 1.0}
        with server(root, {}, **config) as proc:
            assert proc.proc is not None
            asyncio.run(run(args, proc.port, proc.token, proc.proc.pid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
