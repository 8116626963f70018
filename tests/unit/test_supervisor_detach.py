"""A server that stops leaves a kept cluster's supervisor running, and does not wait for it to
end: it never does (a real supervisor, spawned as a server spawns it)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil

from pangeo_hpc_ext.backends import BACKENDS, JobEvents
from pangeo_hpc_ext.cli.demo import DEMO_LOCAL_DEFAULTS
from pangeo_hpc_ext.core.handle import ClusterEvents, ClusterSpec
from pangeo_hpc_ext.supervisor.host import SupervisorHost

# Far below the 10 s the server waited for a detached supervisor to end, far above a detach's
# one round trip on a socket.
DETACH_WAIT_S = 5.0
START_WAIT_S = 120.0


def test_detaching_a_supervisor_leaves_it_running_without_waiting_for_its_end(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[int, bool, bool]:
        backend = BACKENDS["local"]()
        options = {**backend.default_options(), **DEMO_LOCAL_DEFAULTS}
        spec = ClusterSpec("0123456789abcdef", "n", "local", "local", options, 0, "2026-12-01")
        events = ClusterEvents(
            jobs=JobEvents(submitted=lambda job_id: None, submit_failed=lambda text: None),
            worker_joined=lambda job_id: None,
            worker_left=lambda: None,
        )
        host = SupervisorHost(tmp_path / "state", idle_timeout=60)
        await host.open()
        try:
            handle = await asyncio.wait_for(host.start(spec, backend, events), START_WAIT_S)
            try:
                await asyncio.wait_for(handle.detach(), DETACH_WAIT_S)
                detached = True
            except asyncio.TimeoutError:
                detached = False
            return handle.pid, detached, handle.running()
        finally:
            await host.close()

    pid, detached, running = asyncio.run(main())
    try:
        assert detached, f"detach waited {DETACH_WAIT_S:.0f} s for a supervisor that lives on"
        assert running, "the detached supervisor ended"
    finally:
        process = psutil.Process(pid)
        os.killpg(pid, signal.SIGKILL)  # ours: its own session, spawned by this test
        process.wait(30)
