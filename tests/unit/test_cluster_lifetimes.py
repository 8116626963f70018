"""What the core does with clusters that outlive a server: which it leaves running at stop,
how it takes over those an earlier server left, and what a 404 says of a cluster that ended.
Driven by a fake backend and a fake host; the real supervisors are in the integration suite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.backends import Backend, JobEvents
from pangeo_hpc_ext.core.cluster import Phase
from pangeo_hpc_ext.core.handle import (
    AdaptBounds,
    ClusterEvents,
    ClusterHandle,
    ClusterSpec,
    SurvivingCluster,
)
from pangeo_hpc_ext.core.ledger import JobLedger
from pangeo_hpc_ext.core.manager import ClusterManager
from pangeo_hpc_ext.core.profiles import Profile
from pangeo_hpc_ext.errors import ClusterNotFound, ClusterNotReady
from pangeo_hpc_ext.supervisor.runtime import InProcessCluster, InProcessHost
from tests.unit.fake_backend import FakeBackend


class DetachingCluster(InProcessCluster):
    detached = 0

    async def detach(self) -> None:
        DetachingCluster.detached += 1


class FakeHost(InProcessHost):
    """In-process clusters that can be left running, and a list of survivors to hand over."""

    def __init__(self, survivors: list[SurvivingCluster] | None = None) -> None:
        self.survivors = survivors or []

    async def start(
        self, spec: ClusterSpec, backend: Backend, events: ClusterEvents
    ) -> ClusterHandle:
        cluster = await backend.start_cluster(spec.options, name=spec.id, events=events.jobs)
        return DetachingCluster(cluster, backend, events)  # type: ignore[arg-type]

    async def surviving(self) -> list[SurvivingCluster]:
        return self.survivors


def manager_for(
    tmp_path: Path, backend: FakeBackend, host: FakeHost, **settings: Any
) -> ClusterManager:
    return ClusterManager(
        {"fake": Profile("fake", "Fake", backend)},
        ledger=JobLedger(tmp_path / "state"),
        poll_interval=3600,
        host=host,
        **settings,
    )


def spec(cluster_id: str, job_ids: list[str], **fields: Any) -> ClusterSpec:
    return ClusterSpec(
        id=cluster_id,
        name=f"kept-{cluster_id}",
        profile="fake",
        backend="fake",
        options={},
        requested=len(job_ids),
        created="2026-12-01T00:00:00+00:00",
        job_ids=job_ids,
        **fields,
    )


async def until(predicate: Any, what: str) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{what} did not happen")


@pytest.mark.parametrize(
    ("on_server_stop", "keep", "left_running"),
    [("close", False, False), ("close", True, True), ("keep", False, True)],
)
def test_server_stop_closes_or_leaves_running(
    tmp_path: Path, on_server_stop: str, keep: bool, left_running: bool
) -> None:
    async def main() -> None:
        backend, host = FakeBackend(), FakeHost()
        manager = manager_for(tmp_path, backend, host, on_server_stop=on_server_stop)
        await manager.start()
        DetachingCluster.detached = 0
        managed = await manager.create("fake", {}, 2, keep=keep)
        await until(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        assert manager.kept(managed) is left_running
        await manager.stop()
        assert DetachingCluster.detached == (1 if left_running else 0)
        assert backend.clusters[0].closed == (0 if left_running else 1)
        assert backend.killed == ([] if left_running else managed.job_ids)

    asyncio.run(main())


def test_the_next_server_takes_over_live_clusters_and_kills_jobs_of_dead_ones(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        backend = FakeBackend()
        # The live survivor: a cluster with one connected worker, started "before".
        no_events = JobEvents(submitted=lambda job_id: None, submit_failed=lambda text: None)
        before = await backend.start_cluster({}, name="live", events=no_events)
        live_jobs = [backend.submit(before), backend.submit(before)]
        for job_id in live_jobs:
            backend.run(job_id)
        died = await backend.start_cluster({}, name="dead", events=no_events)
        dead_jobs = [backend.submit(died)]
        backend.run(dead_jobs[0])

        async def attach(events: ClusterEvents) -> ClusterHandle:
            handle = InProcessCluster(before, backend, events)  # type: ignore[arg-type]
            backend.connect(live_jobs[0])
            return handle

        survivors = [
            SurvivingCluster(
                spec("live", live_jobs, adapt=AdaptBounds(1, 3), idle_timeout=120.0),
                attach,
                "kept running",
            ),
            SurvivingCluster(
                spec("dead", dead_jobs),
                None,
                "its supervisor process (pid 4242) ended while no server watched it",
            ),
        ]
        manager = manager_for(tmp_path, backend, FakeHost(survivors))
        await manager.start()
        live, dead = manager.get("live"), manager.get("dead")
        assert live.phase is Phase.RUNNING and live.job_ids == live_jobs
        assert live.connected == 1 and live.connected_jobs == {live_jobs[0]}
        assert live.adapt_bounds is not None and live.adapt_bounds.maximum == 3
        # Its own idle timeout came back with it; one recorded before clusters had their own
        # gets the profile's (here the server's default).
        assert live.idle_timeout == 120.0 and dead.idle_timeout == 1800.0
        assert dead.phase is Phase.FAILED and "pid 4242" in (dead.error or "")
        await until(lambda: backend.killed == dead_jobs, "the dead cluster's jobs killed")
        await manager.stop()

    asyncio.run(main())


def test_a_lost_cluster_fails_with_the_cause_and_its_jobs_are_killed(tmp_path: Path) -> None:
    async def main() -> None:
        backend, host = FakeBackend(), FakeHost()
        manager = manager_for(tmp_path, backend, host)
        await manager.start()
        managed = await manager.create("fake", {}, 2)
        await until(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        manager._events(managed).lost("its supervisor process (pid 7) was killed by SIGKILL")
        await until(lambda: sorted(backend.killed) == sorted(managed.job_ids), "jobs killed")
        assert managed.phase is Phase.FAILED and "SIGKILL" in (managed.error or "")
        await manager.stop()

    asyncio.run(main())


def test_a_cluster_that_ended_is_named_in_the_404(tmp_path: Path) -> None:
    async def main() -> None:
        backend = FakeBackend()
        manager = manager_for(tmp_path, backend, FakeHost())
        await manager.start()
        managed = await manager.create("fake", {}, 1, name="nightly")
        await until(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        await manager.close(managed.id)
        with pytest.raises(ClusterNotFound) as ended:
            manager.get(managed.id)
        body = ended.value.to_json()
        assert body["ended"]["name"] == "nightly" and body["ended"]["reason"] == "shut down"
        assert "nightly" in body["message"] and managed.id in body["message"]
        with pytest.raises(ClusterNotFound) as unknown:
            manager.get("never-was")
        assert "ended" not in unknown.value.to_json()
        await manager.stop()

    asyncio.run(main())


def test_a_spec_survives_its_json(tmp_path: Path) -> None:
    original = spec(
        "abc",
        ["1", "2"],
        adapt=AdaptBounds(0, 4),
        keep=True,
        credentials_dir="/x/tls/abc",
        idle_timeout=0.0,
    )
    assert ClusterSpec.from_json(original.to_json()) == original


@pytest.mark.parametrize("records_jobs", [False, True])
def test_jobs_a_cluster_process_cancelled_are_told_to_the_backend(
    tmp_path: Path, records_jobs: bool
) -> None:
    """A scale-down's kill happens where the cluster lives: when that is another process, the
    server's scheduler client must still read those jobs' end as asked for (Grid Engine's
    accounting calls a qdel "failed")."""

    async def main() -> None:
        backend, host = FakeBackend(), FakeHost()
        host.records_jobs = records_jobs
        manager = manager_for(tmp_path, backend, host)
        await manager.start()
        managed = await manager.create("fake", {}, 1)
        await until(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        (job_id,) = managed.job_ids
        manager._events(managed).jobs.cancelled(job_id)
        assert job_id in managed.cancelled_jobs
        assert backend.cancelled_elsewhere == ([job_id] if records_jobs else [])
        await manager.stop()

    asyncio.run(main())


def test_a_cluster_taken_over_elsewhere_is_shown_so_and_left_alone(tmp_path: Path) -> None:
    async def main() -> None:
        backend, host = FakeBackend(), FakeHost()
        manager = manager_for(tmp_path, backend, host)
        await manager.start()
        managed = await manager.create("fake", {}, 2)
        await until(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        why = "attached to another JupyterLab (pid 99 on node1)"
        manager._events(managed).displaced(why)
        assert managed.elsewhere == why and managed.phase is Phase.RUNNING
        with pytest.raises(ClusterNotReady, match="another JupyterLab"):
            await manager.scale(managed.id, 5)
        with pytest.raises(ClusterNotReady, match="another JupyterLab"):
            await manager.close(managed.id)
        # Its jobs are not read (nor replaced) here any more.
        ended = managed.job_ids[0]
        backend.end(ended)
        await manager.refresh()
        assert ended not in managed.jobs or not managed.jobs[ended].finished
        assert len(managed.job_ids) == 2
        await manager.stop()
        assert backend.killed == [] and backend.clusters[0].closed == 0

    asyncio.run(main())
