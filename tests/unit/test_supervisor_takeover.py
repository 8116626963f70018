"""One server drives a supervisor at a time, and a closed channel is never proof of death: the
decision, and a real supervisor's channel taken over by a second server."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest

from pangeo_hpc_ext.backends import JobEvents
from pangeo_hpc_ext.core.handle import ClusterEvents, ClusterSpec
from pangeo_hpc_ext.supervisor.host import SupervisorHost
from pangeo_hpc_ext.supervisor.process import Supervisor
from pangeo_hpc_ext.supervisor.protocol import Detach, LaunchSettings
from pangeo_hpc_ext.supervisor.supervised import judge_channel_end


@pytest.mark.parametrize(
    ("taken_over_by", "running", "dead", "said"),
    [
        ("pid 12 on node1", True, False, "attached to another JupyterLab (pid 12 on node1)"),
        # Died right after the takeover: its new server deals with that, not this one.
        ("pid 12 on node1", False, False, "attached to another JupyterLab (pid 12 on node1)"),
        (None, True, False, "while the supervisor still runs"),
        (None, False, True, "its supervisor process (pid 7) ended unexpectedly"),
    ],
)
def test_only_a_supervisor_that_is_gone_is_dead(
    taken_over_by: str | None, running: bool, dead: bool, said: str
) -> None:
    end = judge_channel_end(7, taken_over_by, running)
    assert end.dead is dead and said in end.why


def events(seen: dict[str, list[str]]) -> ClusterEvents:
    return ClusterEvents(
        jobs=JobEvents(submitted=lambda job_id: None, submit_failed=lambda text: None),
        worker_joined=lambda job_id: None,
        worker_left=lambda: None,
        lost=seen["lost"].append,
        displaced=seen["displaced"].append,
    )


def takeover(state_dir: Path, results: Any) -> None:
    """A supervisor's channel (in this process) and two servers saying hello in turn. Run in a
    session of its own: were the displaced server to take the supervisor for dead, the process
    group it kills is this one, not the test runner's."""
    os.setsid()

    async def main() -> dict[str, Any]:
        path = state_dir / "c.sock"
        spec = ClusterSpec("0123456789abcdef", "n", "local", "local", {}, 1, "2026-12-01")
        supervisor = Supervisor(
            LaunchSettings(spec.to_json(), str(state_dir), str(state_dir / "log"), str(path))
        )
        server = await asyncio.start_unix_server(supervisor._serve, path=str(path))
        host = SupervisorHost(state_dir, idle_timeout=60)
        me = psutil.Process()
        first: dict[str, list[str]] = {"lost": [], "displaced": []}
        second: dict[str, list[str]] = {"lost": [], "displaced": []}
        a = await host._connect(str(path), me.pid, me.create_time(), events(first))
        b = await host._connect(str(path), me.pid, me.create_time(), events(second))
        for _ in range(200):
            if first["displaced"] or first["lost"]:
                break
            await asyncio.sleep(0.05)
        await a.close()  # the displaced server stops: nothing is sent, nothing killed
        answer = await b.call(Detach())  # the new one drives it
        await b.detach()
        server.close()
        return {"first": first, "second": second, "answered": answer.ok, "pid": me.pid}

    results.put(asyncio.run(main()))


def test_a_second_server_takes_the_supervisor_over_and_the_first_kills_nothing(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=takeover, args=(tmp_path, results))
    child.start()
    child.join(60)
    assert child.exitcode == 0, f"the supervisor's process ended with {child.exitcode}"
    seen = results.get(timeout=5)
    host = socket.gethostname()
    assert seen["first"] == {
        "lost": [],
        "displaced": [f"attached to another JupyterLab (pid {seen['pid']} on {host})"],
    }
    assert seen["second"] == {"lost": [], "displaced": []}
    assert seen["answered"] is True
