"""Shared setup of the benchmarks: an emulated LSF cluster and a real server process, all on
127.0.0.1, in a temporary directory that is removed afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pangeo_hpc_ext.cli.demo import DEMO_LSF_DEFAULTS  # noqa: E402
from pangeo_hpc_ext.lsfsim import environment  # noqa: E402
from tests.support.server_process import ServerProcess, wait_until  # noqa: E402, F401

# The demo's small jobs, on loopback.
LSF_OPTIONS = DEMO_LSF_DEFAULTS


@contextlib.contextmanager
def emulated_lsf(**knobs: Any) -> Iterator[tuple[Path, dict[str, str]]]:
    with tempfile.TemporaryDirectory(prefix="pangeo-bench-") as tmp:
        root = Path(tmp)
        env = environment(root / "lsfsim", root / "bin", **knobs)
        try:
            yield root, env
        finally:
            import os
            import subprocess

            subprocess.run(
                ["bkill", "-u", "all", "0"], env={**os.environ, **env}, capture_output=True
            )


@contextlib.contextmanager
def server(root: Path, env: dict[str, str], **pangeo_config: Any) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        root / "server",
        env={**env, "PYTHONPATH": str(REPO)},
        pangeo_config={"state_dir": str(root / "state"), **pangeo_config},
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` (0.99 for p99) of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


async def seconds_to_running(proc: ServerProcess, body: dict[str, Any], workers: int) -> float:
    """POST `body`, then wait for the push event that says the cluster is running (all workers
    in), the way the sidebar learns it; the cluster is deleted afterwards."""
    request = HTTPRequest(
        f"ws://127.0.0.1:{proc.port}/api/events/subscribe",
        headers={"Authorization": f"token {proc.token}"},
    )
    ws = await websocket_connect(request)
    t0 = time.perf_counter()
    code, cluster = await asyncio.to_thread(proc.api, "POST", "clusters", body)
    assert code == 201, cluster
    while True:
        message = await asyncio.wait_for(ws.read_message(), 120)
        assert message is not None, "event stream closed"
        event = json.loads(message)
        if event.get("cluster_id") == cluster["id"] and event.get("status") == "running":
            break
    elapsed = time.perf_counter() - t0
    ws.close()
    code, answer = await asyncio.to_thread(proc.api, "GET", f"clusters/{cluster['id']}")
    assert answer["workers"]["connected"] == workers, answer
    await asyncio.to_thread(proc.api, "DELETE", f"clusters/{cluster['id']}")
    return elapsed
