"""The cluster core's decisions and races, driven by a fake backend: no Dask, no server."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.core.cluster import AdaptBounds, ManagedCluster, Phase, Status
from pangeo_hpc_ext.core.ledger import JobLedger
from pangeo_hpc_ext.core.manager import ClusterManager
from pangeo_hpc_ext.core.profiles import IDLE_TIMEOUT_CEILING_S, Profile
from pangeo_hpc_ext.errors import (
    ClusterNotFound,
    ClusterNotReady,
    InvalidOptions,
    ProfileNotFound,
    TooManyClusters,
)
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.supervisor.runtime import InProcessHost
from tests.unit.fake_backend import FakeBackend

Scenario = Callable[[ClusterManager, FakeBackend, list[tuple[str, str, str]]], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, tls: bool = False, **limits: Any) -> None:
    async def main() -> None:
        backend = FakeBackend()
        manager = ClusterManager(
            {"fake": Profile("fake", "Fake", backend, tls=tls)},
            ledger=JobLedger(tmp_path / "state"),
            poll_interval=3600,
            host=InProcessHost(),
            **limits,
        )
        seen: list[tuple[str, str, str]] = []
        manager.add_listener(lambda *event: seen.append(event))
        await manager.start()
        try:
            await asyncio.wait_for(scenario(manager, backend, seen), 30)
        finally:
            # Bounded: a stop that hangs (a poller that missed its cancel) is a failure.
            try:
                await asyncio.wait_for(manager.stop(), 10)
            except asyncio.TimeoutError:
                raise AssertionError("ClusterManager.stop() did not return within 10 s") from None

    asyncio.run(main())


async def settled(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{what} did not happen")


def test_create_scale_close_and_notifications(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 2)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        assert len(managed.job_ids) == 2
        assert managed.status is Status.SCALING  # 2 requested, none connected
        await manager.scale(managed.id, 3)
        assert backend.clusters[0].scaled == [2, 3] and len(managed.job_ids) == 3
        await manager.close(managed.id)
        assert sorted(backend.killed) == sorted(managed.job_ids)
        assert backend.clusters[0].closed == 1
        with pytest.raises(ClusterNotFound):
            manager.get(managed.id)
        actions = [action for action, cid, _ in seen if cid == managed.id]
        assert actions[0] == "created" and actions[-1] == "deleted"
        assert ("updated", managed.id, "running") not in seen  # never had its workers

    run(tmp_path, scenario)


def test_close_while_starting_submits_nothing(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        backend.start_gate = asyncio.Event()
        managed = await manager.create("fake", {}, 4)
        closing = asyncio.create_task(manager.close(managed.id))
        await settled(lambda: managed.phase is Phase.CLOSING, "close marking the cluster")
        backend.start_gate.set()
        await closing
        assert managed.phase is Phase.CLOSED
        assert backend.clusters[0].scaled == [] and backend.states == {}
        assert backend.clusters[0].closed == 1

    run(tmp_path, scenario)


def test_concurrent_closes_close_once(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 1)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        results = await asyncio.gather(
            *(manager.close(managed.id) for _ in range(3)), return_exceptions=True
        )
        assert all(r is None or isinstance(r, ClusterNotFound) for r in results), results
        assert backend.clusters[0].closed == 1
        assert [a for a, cid, _ in seen if cid == managed.id].count("deleted") == 1

    run(tmp_path, scenario)


def test_refused_submission_fails_and_releases_the_cluster(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        backend.refuse = "No such queue. Job not submitted."
        managed = await manager.create("fake", {}, 2)
        await settled(lambda: managed.handle is None and managed.phase is Phase.FAILED, "release")
        assert managed.error == "fake: No such queue. Job not submitted."
        assert backend.clusters[0].closed == 1
        with pytest.raises(ClusterNotReady):
            await manager.scale(managed.id, 1)
        # Still counted until deleted.
        with pytest.raises(TooManyClusters):
            await manager.create("fake", {}, 0)
        await manager.close(managed.id)
        await manager.create("fake", {}, 0)

    run(tmp_path, scenario, max_clusters=1)


def test_a_start_error_fails_the_cluster_with_its_message(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        backend.start_error = ValueError("interface 'ib0' does not exist")
        managed = await manager.create("fake", {}, 1)
        await settled(lambda: managed.phase is Phase.FAILED, "the start failing")
        assert managed.error == "ValueError: interface 'ib0' does not exist"
        assert (("updated", managed.id, "failed")) in seen

    run(tmp_path, scenario)


def test_bounds_and_unknowns(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        with pytest.raises(ProfileNotFound):
            await manager.create("nope", {}, 0)
        with pytest.raises(InvalidOptions):
            await manager.create("fake", {}, 5)
        managed = await manager.create("fake", {}, 0)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        with pytest.raises(InvalidOptions):
            await manager.scale(managed.id, -1)
        with pytest.raises(InvalidOptions):
            await manager.adapt(managed.id, AdaptBounds(3, 2))
        await manager.adapt(managed.id, AdaptBounds(0, 4))
        assert managed.adapt_bounds == AdaptBounds(0, 4)
        adaptive = managed.handle.adaptive
        await manager.scale(managed.id, 2)  # manual scaling ends adaptive mode
        assert adaptive.stopped and managed.adapt_bounds is None

    run(tmp_path, scenario, max_workers=4)


def test_jobs_that_ended_are_read_in_one_call_and_forgotten_on_scale(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 2)
        await settled(lambda: len(managed.job_ids) == 2, "two jobs submitted")
        first = managed.job_ids[0]
        backend.end(first)
        await manager.refresh()
        assert managed.jobs[first].reason == "TERM_RUNLIMIT"
        assert managed.unfinished_job_ids() == managed.job_ids[1:]
        await manager.scale(managed.id, 2)
        assert backend.forgotten[-1] == {first}
        assert len(managed.unfinished_job_ids()) == 2  # a new job replaced the ended one

    run(tmp_path, scenario)


def test_stop_right_after_a_submission_returns(tmp_path: Path) -> None:
    """A submission wakes the poller as stop cancels it; on Python 3.11 wait_for could swallow
    that cancel and the server's stop hung for a whole poll interval."""

    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 0)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        await manager.scale(managed.id, 1)  # sets the poller's wake-up event

    for _ in range(5):
        run(tmp_path, scenario)


def test_stop_closes_every_cluster_and_kills_every_job(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        for _ in range(3):
            await manager.create("fake", {}, 1)
        await settled(lambda: len(backend.states) == 3, "three jobs submitted")
        await manager.stop()
        assert sorted(backend.killed) == sorted(backend.states)
        assert manager.list() == []

    run(tmp_path, scenario)


def test_a_job_that_ended_after_its_worker_connected_is_replaced_at_once(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 1)
        await settled(lambda: len(managed.job_ids) == 1, "the first job")
        first = managed.job_ids[0]
        backend.run(first)
        backend.connect(first)
        backend.end(first)  # walltime, or an external bkill
        await manager.refresh()
        assert len(managed.job_ids) == 2 and managed.unfinished_job_ids() == managed.job_ids[1:]
        assert backend.forgotten[-1] == {first}
        assert managed.status is Status.SCALING and managed.error is None

    run(tmp_path, scenario)


def test_jobs_about_to_reach_their_walltime_get_a_replacement_ahead(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        backend.ahead_s = 150
        managed = await manager.create("fake", {}, 2)
        await settled(lambda: len(managed.job_ids) == 2, "two jobs")
        a, b = managed.job_ids
        backend.run(a, walltime_left_s=3600)
        backend.run(b, walltime_left_s=100)
        await manager.refresh()
        assert len(managed.unfinished_job_ids()) == 3  # one ahead, for b
        for job_id in managed.job_ids[2:]:
            backend.run(job_id, walltime_left_s=100)
        await manager.refresh()
        # Never more than one extra per requested worker, even if every job is close to its end.
        backend.run(a, walltime_left_s=100)
        await manager.refresh()
        await manager.refresh()
        assert len(managed.unfinished_job_ids()) == 4

    run(tmp_path, scenario)


def test_jobs_failing_before_their_worker_connects_back_off_then_degrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pangeo_hpc_ext.core import replacement

    monkeypatch.setattr(replacement, "FIRST_BACKOFF_S", 0.0)

    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 1)
        await settled(lambda: len(managed.job_ids) == 1, "the first job")
        for _ in range(replacement.FAILURES_BEFORE_GIVING_UP):
            backend.end(managed.job_ids[-1], reason="TERM_EXTERNAL_SIGNAL: node lost")
            await manager.refresh()
        assert managed.status is Status.DEGRADED
        assert "TERM_EXTERNAL_SIGNAL" in managed.error
        submitted = len(managed.job_ids)
        await manager.refresh()
        assert len(managed.job_ids) == submitted  # no submit storm
        await manager.scale(managed.id, 1)  # the user asks again: a fresh start
        assert managed.status is Status.SCALING and managed.error is None
        assert len(managed.job_ids) == submitted + 1

    run(tmp_path, scenario)


def test_jobs_we_cancel_are_not_failures(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 1)
        await settled(lambda: len(managed.job_ids) == 1, "the first job")
        for _ in range(6):
            managed.cancelled_jobs.add(managed.job_ids[-1])
            backend.end(managed.job_ids[-1], reason="TERM_OWNER")
            await manager.refresh()
        assert managed.status is not Status.DEGRADED

    run(tmp_path, scenario)


def test_jobs_we_ended_on_purpose_say_why_and_failures_do_not(tmp_path: Path) -> None:
    """The sidebar shows a scaled-down or replaced job as routine, not as a red EXIT."""

    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        backend.ahead_s = 150
        managed = await manager.create("fake", {}, 3)
        await settled(lambda: len(managed.job_ids) == 3, "three jobs")
        expiring, failing, retired = managed.job_ids
        backend.run(expiring, walltime_left_s=100)
        backend.run(failing, walltime_left_s=3600)
        await manager.refresh()  # a replacement goes ahead for `expiring`
        await manager.scale(managed.id, 2)  # closes the newest live job
        retired = managed.job_ids[-1]
        backend.end(expiring, reason="TERM_RUNLIMIT")
        backend.end(failing, reason="TERM_EXTERNAL_SIGNAL: node lost")
        await manager.refresh()
        by_job = {job.job_id: managed.ended_by(job) for job in managed.visible_jobs()}
        assert by_job[expiring] == "walltime-replacement"
        assert by_job[retired] == "scale-down"
        assert by_job[failing] is None
        assert all(by_job[j] is None for j in managed.unfinished_job_ids())

    run(tmp_path, scenario)


def test_tls_credentials_are_private_and_go_with_the_cluster(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 0)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        credentials = managed.credentials
        assert backend.security.require_encryption
        assert backend.security.tls_client_cert == str(credentials.cert_file)
        assert stat.S_IMODE(credentials.directory.stat().st_mode) == 0o700
        for path in (credentials.ca_file, credentials.cert_file, credentials.key_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        await manager.close(managed.id)
        assert not credentials.directory.exists()

    run(tmp_path, scenario, tls=True)


# -- idle shutdown -------------------------------------------------------------------------------


def run_idle(tmp_path: Path, scenario: Scenario, **limits: Any) -> None:
    """A manager that polls often, so that idle clocks start and end within the test."""

    async def main() -> None:
        backend = FakeBackend()
        manager = ClusterManager(
            {"fake": Profile("fake", "Fake", backend, tls=False)},
            ledger=JobLedger(tmp_path / "state"),
            poll_interval=0.02,
            host=InProcessHost(),
            **limits,
        )
        seen: list[tuple[str, ...]] = []
        manager.add_listener(lambda *event: seen.append(event))
        await manager.start()
        try:
            await asyncio.wait_for(scenario(manager, backend, seen), 30)
        finally:
            await asyncio.wait_for(manager.stop(), 10)

    asyncio.run(main())


async def gone(manager: ClusterManager, cluster_id: str, what: str) -> None:
    for _ in range(2000):
        try:
            manager.get(cluster_id)
        except ClusterNotFound:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{what} did not happen within 10 s")


def test_an_idle_cluster_closes_and_says_why(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 2, idle_timeout=0.2)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        for job_id in managed.job_ids:
            backend.connect(job_id)
        await settled(lambda: managed.idle_json()["closes_at"] is not None, "the idle clock")
        assert managed.idle_json()["timeout_s"] == 0.2
        job_ids = list(managed.job_ids)
        await gone(manager, managed.id, "the idle cluster closing")
        assert sorted(backend.killed) == sorted(job_ids)
        deleted = [e for e in seen if e[0] == "deleted" and e[1] == managed.id]
        assert len(deleted) == 1 and deleted[0][3].startswith("idle: no client and no task")
        with pytest.raises(ClusterNotFound, match=r"idle: no client and no task for 0\.2 s"):
            manager.get(managed.id)

    run_idle(tmp_path, scenario)


def test_a_client_a_task_or_timeout_0_keep_a_cluster(tmp_path: Path) -> None:
    """Five clusters with the same short timeout: only the unused one closes. One still
    waiting for its worker is waiting for the scheduler, not idle."""

    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        idle = await manager.create("fake", {}, 1, idle_timeout=0.3)
        client = await manager.create("fake", {}, 1, idle_timeout=0.3)
        task = await manager.create("fake", {}, 1, idle_timeout=0.3)
        never = await manager.create("fake", {}, 1, idle_timeout=0)
        waiting = await manager.create("fake", {}, 1, idle_timeout=0.3)
        everyone = (idle, client, task, never, waiting)
        await settled(lambda: all(m.phase is Phase.RUNNING for m in everyone), "starting")
        backend.owner[client.job_ids[0]].scheduler.clients["Client-1"] = None
        backend.owner[task.job_ids[0]].scheduler.queued.add("inc-1")
        for managed in (idle, client, task, never):
            backend.connect(managed.job_ids[0])
        await gone(manager, idle.id, "the idle cluster closing")
        for managed in (client, task, never, waiting):
            assert manager.get(managed.id).phase is Phase.RUNNING
            assert managed.idle_json()["closes_at"] is None
        # The client leaves: the clock starts, and the cluster closes in its turn.
        backend.owner[client.job_ids[0]].scheduler.clients.pop("Client-1")
        await gone(manager, client.id, "the cluster closing once its client left")

    run_idle(tmp_path, scenario)


def test_idle_timeout_limits(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        for bad in (0, -1, 601):
            with pytest.raises(InvalidOptions) as raised:
                await manager.create("fake", {}, 0, idle_timeout=bad)
            assert [e.field for e in raised.value.errors] == ["idle_timeout"]
        assert manager.list() == []
        # The server's default (1800) is above the maximum: the maximum it is.
        managed = await manager.create("fake", {}, 0)
        assert managed.idle_timeout == 600
        manager.profiles["fake"].idle_timeout = 120
        assert (await manager.create("fake", {}, 0)).idle_timeout == 120
        assert (await manager.create("fake", {}, 0, idle_timeout=600)).idle_timeout == 600

    run(tmp_path, scenario, max_idle_timeout=600)


def test_idle_timeout_has_a_ceiling_even_with_no_maximum(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        for bad in (6.4e16, float("nan"), float("inf"), IDLE_TIMEOUT_CEILING_S + 1):
            with pytest.raises(InvalidOptions) as raised:
                await manager.create("fake", {}, 0, idle_timeout=bad)
            assert [e.field for e in raised.value.errors] == ["idle_timeout"], bad
        assert manager.list() == []
        # At the ceiling the cluster's deadline is still a date its card can show.
        managed = await manager.create("fake", {}, 0, idle_timeout=IDLE_TIMEOUT_CEILING_S)
        managed.idle_since = time.time()
        assert managed.idle_json()["closes_at"] is not None

    run(tmp_path, scenario)


def test_core_hours_and_cores_held_from_our_own_records(tmp_path: Path) -> None:
    backend = FakeBackend()
    profile = Profile("fake", "Fake", backend, tls=False)
    managed = ManagedCluster.create(profile, "c1", "c1", {"cores": 4}, 2)
    managed.job_ids = ["1", "2", "3"]
    t0 = 1_800_000_000.0
    started = datetime.fromtimestamp(t0 - 1800, timezone.utc).isoformat()
    managed.jobs = {
        # Started half an hour before we first saw it: the scheduler's start counts.
        "1": JobInfo("1", JobState.RUNNING, "RUN", started=started),
        "2": JobInfo("2", JobState.RUNNING, "RUN"),
        "3": JobInfo("3", JobState.PENDING, "PEND"),
    }
    managed.note_run_times(now=t0)
    assert managed.cores_held() == 8
    assert managed.core_hours(now=t0) == 2.0  # 4 cores x 0.5 h
    managed.jobs["2"] = JobInfo("2", JobState.FINISHED, "DONE")
    managed.note_run_times(now=t0 + 3600)
    assert managed.cores_held() == 4
    # Job 1: 1.5 h, job 2: 1 h (seen running at t0, ended at t0 + 1 h), 4 cores each.
    assert managed.core_hours(now=t0 + 3600) == 10.0
    assert managed.core_hours(now=t0 + 7200) == 14.0  # 2.5 h + 1 h: job 2 stopped counting
