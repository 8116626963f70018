"""P3: the Dask dashboard through our proxy vs direct, measured in the same run.

Starts a real Jupyter server with the extension (under a JupyterHub-style base_url), a `local`
cluster with one worker through the REST API, and then, interleaving proxy and direct so both
see the same machine load:
- HTTP latency (p50/p90 ms) of dashboard pages and assets, over keep-alive connections;
- websocket messages per second with the Bokeh protocol (SERVER-INFO-REQ -> SERVER-INFO-REPLY),
  one request at a time (round trips) and with a window of requests in flight (throughput).
Targets: proxy latency <= 1.5x direct (median of paired proxy/direct ratios), proxy websocket
rate >= 0.8x direct.
It measures and prints; it asserts nothing. The server and cluster are shut down at the end.

    python benchmarks/p3_proxy.py [--requests 200] [--page-requests 15] [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from harness import percentile

from pangeo_hpc_ext.paths import free_port

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "/user/bench/"
# Plain resources: many samples. Bokeh pages: each GET creates a Bokeh session whose periodic
# updates load the server until it expires, so fewer samples, paced like a user opening pages.
ASSETS = (
    "json/counts.json",
    "individual-plots.json",
    "statics/css/base.css",
    "static/js/bokeh.min.js",
)
BOKEH_PAGES = ("individual-task-stream", "status")
PAGE_PACING_S = 0.5
BOKEH_TOKEN = re.compile(r'"token":\s*"([^"]+)"')
START_TIMEOUT_S = 120.0


def start_server(port: int, token: str, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
    }
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={BASE_URL}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={tmp}",
        '--ServerApp.jpserver_extensions={"pangeo_hpc_ext": True}',
        f"--PangeoHPC.state_dir={tmp / 'state'}",
    ]
    log = (tmp / "server.log").open("wb")
    # cwd=ROOT: `python -m` puts it on sys.path, so the repository's package is the one served.
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


class Bench:
    def __init__(self, session: aiohttp.ClientSession, port: int, token: str) -> None:
        self.session = session
        self.server = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"token {token}"}
        # What a browser in JupyterLab sends with each dashboard request: the login cookie.
        self.browser_headers: dict[str, str] = {}
        # What the dashboard asks of each direct request: the key that only our proxy sends.
        self.direct_headers: dict[str, str] = {}

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.server}{BASE_URL}pangeo-hpc/api/{path}"
        async with self.session.request(method, url, json=body, headers=self.headers) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def wait_for_server(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the Jupyter server exited with {process.returncode}")
            try:
                async with self.session.get(
                    f"{self.server}{BASE_URL}api/status", headers=self.headers
                ) as r:
                    if r.status == 200:
                        login = next(
                            c.split(";", 1)[0]
                            for c in r.headers.getall("Set-Cookie")
                            if c.startswith("username-")
                        )
                        self.browser_headers = {"Cookie": login}
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
        raise SystemExit(f"the Jupyter server did not answer within {START_TIMEOUT_S:.0f} s")

    async def start_cluster(self) -> dict[str, Any]:
        code, cluster = await self.api(
            "POST",
            "clusters",
            {"profile": "local", "workers": 1, "options": {"memory_limit": "1GB"}},
        )
        if code != 201:
            raise SystemExit(f"POST clusters answered {code}: {cluster}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            _, cluster = await self.api("GET", f"clusters/{cluster['id']}")
            if cluster["status"] == "running" and cluster["workers"]["connected"] == 1:
                return cluster
            if cluster["status"] == "failed":
                raise SystemExit(f"the cluster failed: {cluster['error']}")
            await asyncio.sleep(0.2)
        raise SystemExit("the cluster did not reach 1 connected worker in time")

    async def get(self, url: str, *, auth: bool) -> tuple[float, bytes]:
        start = time.perf_counter()
        async with self.session.get(url, headers=self.way_headers(auth)) as r:
            body = await r.read()
            if r.status != 200:
                raise SystemExit(f"GET {url} answered {r.status}")
        return (time.perf_counter() - start) * 1000, body

    def way_headers(self, auth: bool) -> dict[str, str]:
        return self.browser_headers if auth else self.direct_headers


def scheduler_dashboard_key(dask_scheduler: Any) -> str | None:
    from pangeo_hpc_ext.dashboard_access import key_of

    return key_of(dask_scheduler)


async def direct_dashboard(scheduler_address: str, credentials: Path) -> tuple[int, dict[str, str]]:
    """The dashboard's port and the headers a direct request needs (its key), as a user's Client
    learns them; the Cluster JSON deliberately has only the proxied link. The cluster speaks TLS
    with the credentials the server keeps under state_dir/tls/<id>/."""
    from distributed import Client

    from pangeo_hpc_ext.backends.tls import ClusterCredentials
    from pangeo_hpc_ext.dashboard_access import KEY_HEADER

    security = ClusterCredentials(credentials).security()
    async with Client(scheduler_address, asynchronous=True, security=security) as client:
        port = client.scheduler_info()["services"]["dashboard"]
        key = await client.run_on_scheduler(scheduler_dashboard_key)
    return port, ({KEY_HEADER: key} if key else {})


async def http_latency(
    bench: Bench, bases: dict[str, str], pages: tuple[str, ...], requests: int, pacing: float
) -> dict[str, dict[str, list[float]]]:
    timings: dict[str, dict[str, list[float]]] = {page: {w: [] for w in bases} for page in pages}
    for page in pages:
        for way, base in bases.items():  # warm-up: connections, Bokeh's first render
            await bench.get(f"{base}/{page}", auth=way == "proxy")
        for _ in range(requests):
            for way, base in bases.items():
                elapsed, _ = await bench.get(f"{base}/{page}", auth=way == "proxy")
                timings[page][way].append(elapsed)
                if pacing:
                    await asyncio.sleep(pacing)
    return timings


def print_latency(title: str, timings: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n{title} (target <= 1.5x)")
    print(f"  {'page':<26}{'direct p50/p90 ms':>20}{'proxy p50/p90 ms':>20}{'ratio':>11}")
    for page, ways in timings.items():
        d, p = ways["direct"], ways["proxy"]
        # Median of paired ratios: each proxy request ran right after its direct twin, so load
        # that drifts during the run (other processes, Bokeh sessions) cancels out.
        ratio = statistics.median(pi / di for pi, di in zip(p, d, strict=True))
        print(
            f"  {page:<26}{statistics.median(d):>11.2f} /{percentile(d, 0.9):>6.2f}"
            f"{statistics.median(p):>13.2f} /{percentile(p, 0.9):>6.2f}{ratio:>10.2f}x"
        )


async def bokeh_socket(bench: Bench, base: str, *, auth: bool) -> aiohttp.ClientWebSocketResponse:
    _, page = await bench.get(f"{base}/individual-cpu", auth=auth)
    token = BOKEH_TOKEN.search(page.decode())
    if token is None:
        raise SystemExit(f"no Bokeh session token in {base}/individual-cpu")
    ws = await bench.session.ws_connect(
        f"{base}/individual-cpu/ws".replace("http://", "ws://"),
        protocols=("bokeh", token[1]),
        headers=bench.way_headers(auth),
        max_msg_size=0,
    )
    for _ in range(3):  # ACK: header, metadata, content
        await ws.receive()
    return ws


async def send_info_request(ws: aiohttp.ClientWebSocketResponse, msgid: str) -> None:
    await ws.send_str(json.dumps({"msgid": msgid, "msgtype": "SERVER-INFO-REQ"}))
    await ws.send_str("{}")
    await ws.send_str("{}")


async def receive_reply(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Reads messages (3 frames each) until a reply; periodic document patches are skipped."""
    while True:
        header = json.loads((await ws.receive()).data)
        await ws.receive()
        await ws.receive()
        if "reqid" in header:
            return


async def websocket_rates(
    bench: Bench, bases: dict[str, str], messages: int, window: int
) -> dict[str, dict[str, float]]:
    rates: dict[str, dict[str, float]] = {"round trips": {}, f"window {window}": {}}
    sockets = {
        way: await bokeh_socket(bench, base, auth=way == "proxy") for way, base in bases.items()
    }
    try:
        for rounds in range(2):  # interleave twice; keep the better of two per way
            for way, ws in sockets.items():
                start = time.perf_counter()
                for i in range(messages // 4):
                    await send_info_request(ws, f"rt-{rounds}-{i}")
                    await receive_reply(ws)
                rate = (messages // 4) / (time.perf_counter() - start)
                rates["round trips"][way] = max(rate, rates["round trips"].get(way, 0.0))

                start = time.perf_counter()
                for i in range(window):
                    await send_info_request(ws, f"w-{rounds}-{i}")
                for i in range(window, messages):
                    await receive_reply(ws)
                    await send_info_request(ws, f"w-{rounds}-{i}")
                for _ in range(window):
                    await receive_reply(ws)
                rate = messages / (time.perf_counter() - start)
                key = f"window {window}"
                rates[key][way] = max(rate, rates[key].get(way, 0.0))
    finally:
        for ws in sockets.values():
            await ws.close()
    return rates


async def run(args: argparse.Namespace) -> None:
    port, token = free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="p3-proxy-") as tmp:
        process = start_server(port, token, Path(tmp))
        try:
            connector = aiohttp.TCPConnector(limit=4)
            async with aiohttp.ClientSession(connector=connector) as session:
                bench = Bench(session, port, token)
                await bench.wait_for_server(process)
                cluster = await bench.start_cluster()
                direct_port, bench.direct_headers = await direct_dashboard(
                    cluster["scheduler_address"], Path(tmp) / "state" / "tls" / cluster["id"]
                )
                bases = {
                    "direct": f"http://127.0.0.1:{direct_port}",
                    "proxy": bench.server + cluster["dashboard_url"].removesuffix("/status"),
                }
                print(f"P3 dashboard proxy vs direct (base_url {BASE_URL}, 1 local worker)")
                print(f"  proxy:  {bases['proxy']}\n  direct: {bases['direct']}")
                # Websockets first, while only their two Bokeh sessions exist.
                rates = await websocket_rates(bench, bases, args.messages, args.window)
                print("\nBokeh websocket, SERVER-INFO-REQ -> REPLY messages/s (target >= 0.8x)")
                print(f"  {'mode':<26}{'direct':>12}{'proxy':>12}{'ratio':>10}")
                for mode, ways in rates.items():
                    ratio = ways["proxy"] / ways["direct"]
                    print(
                        f"  {mode:<26}{ways['direct']:>12.0f}{ways['proxy']:>12.0f}{ratio:>9.2f}x"
                    )
                assets = await http_latency(bench, bases, ASSETS, args.requests, 0.0)
                print_latency(f"HTTP latency, {args.requests} requests each, keep-alive", assets)
                # Jupyter's own cost per authenticated request, which every proxied one pays too.
                floor = [
                    (await bench.get(f"{bench.server}{BASE_URL}api/status", auth=True))[0]
                    for _ in range(args.requests)
                ]
                print(
                    f"  {'(Jupyter api/status)':<26}{'':>20}"
                    f"{statistics.median(floor):>13.2f} /{percentile(floor, 0.9):>6.2f}"
                )
                pages = await http_latency(
                    bench, bases, BOKEH_PAGES, args.page_requests, PAGE_PACING_S
                )
                print_latency(
                    f"Bokeh pages, {args.page_requests} requests each, {PAGE_PACING_S} s apart",
                    pages,
                )
                await bench.api("DELETE", f"clusters/{cluster['id']}")
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per page and way")
    parser.add_argument("--page-requests", type=int, default=15, help="Bokeh pages per way")
    parser.add_argument("--messages", type=int, default=2000, help="websocket replies per way")
    parser.add_argument("--window", type=int, default=32, help="requests in flight (throughput)")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
