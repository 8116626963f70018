"""The manager's refresh loop: every poll interval (or at once when a job was submitted), the
state of every unfinished job with one scheduler call per backend, then what follows from it:
ended workers replaced, idle clusters closed, unconfirmed closes completed, listeners told of
clusters that changed. The commands (create, scale, close) stay with the manager."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from ..backends import Backend
from ..errors import SchedulerCommandFailed
from ..schedulers.base import JobState
from .cluster import ManagedCluster
from .handle import ClusterHandle
from .lifecycle import Phase, Status


class RefreshedClusters(Protocol):
    """What the loop needs of the manager that owns it (ClusterManager), and no more."""

    def list(self) -> list[ManagedCluster]: ...
    def ours(self) -> list[ManagedCluster]: ...
    def drop_ended_elsewhere(self) -> None: ...
    def close_unconfirmed(self, cluster_id: str) -> bool: ...
    async def complete_close(self, cluster_id: str) -> None: ...
    async def close_quietly(self, cluster_id: str, reason: str) -> None: ...
    def spawn(self, coro: Any) -> None: ...
    def notify(self, action: str, managed: ManagedCluster, reason: str | None = None) -> None: ...


log = logging.getLogger(__name__)


class JobRefresh:
    """One loop for all of a manager's clusters."""

    def __init__(self, manager: RefreshedClusters, poll_interval: float) -> None:
        self._manager = manager
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._now = asyncio.Event()
        self._stopping = False
        self._fingerprints: dict[str, tuple[Any, ...]] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        # Python 3.11's wait_for can swallow a cancel that lands as the event is set (a job was
        # just submitted): the flag ends the loop all the same.
        self._stopping = True
        self._now.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def soon(self) -> None:
        """Refresh now rather than at the next interval (a job was just submitted)."""
        self._now.set()

    async def _forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._now.wait(), self._next_poll_s())
            if self._stopping:
                return
            self._now.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing cluster state")

    async def refresh(self) -> None:
        """Read the state of every unfinished job with one scheduler call per backend, and tell
        listeners about clusters whose jobs or workers changed."""
        manager = self._manager
        manager.drop_ended_elsewhere()
        by_backend: dict[str, tuple[Backend, list[str]]] = {}
        for managed in manager.ours():
            unconfirmed = manager.close_unconfirmed(managed.id)
            if managed.backend.has_jobs and (
                managed.phase in (Phase.RUNNING, Phase.FAILED) or unconfirmed
            ):
                entry = by_backend.setdefault(managed.backend.name, (managed.backend, []))
                entry[1].extend(managed.unfinished_job_ids())
        for backend, job_ids in by_backend.values():
            if not job_ids:
                continue
            clusters = [m for m in manager.ours() if m.backend is backend]
            try:
                states = await backend.job_states(job_ids)
            except SchedulerCommandFailed as error:
                # Keep what we knew, say it may be stale, and try again at the next refresh.
                log.warning("job states unavailable: %s", error.message)
                for managed in clusters:
                    managed.warning = f"job states may be stale: {error.message}"
                continue
            for managed in clusters:
                managed.warning = None
                managed.jobs.update({j: s for j, s in states.items() if j in managed.job_ids})
                managed.note_run_times()
        for managed in manager.ours():
            if managed.backend.has_jobs and managed.phase is Phase.RUNNING:
                await replace_ended_jobs(managed)
            elif manager.close_unconfirmed(managed.id) and not managed.unfinished_job_ids():
                manager.spawn(manager.complete_close(managed.id))
        self._close_idle()
        # Compared with the previous refresh, not the start of this one: workers connect between
        # two refreshes, without any job changing.
        seen: dict[str, tuple[Any, ...]] = {}
        for managed in manager.list():
            seen[managed.id] = managed.fingerprint()
            if self._fingerprints.get(managed.id) != seen[managed.id]:
                manager.notify("updated", managed)
        self._fingerprints = seen

    def _next_poll_s(self) -> float:
        """Until the next refresh: the poll interval, or sooner when an idle cluster's time is
        up before then (its close is on time, not up to a poll interval late)."""
        now = time.time()
        due = [c for c in (m.closes_at() for m in self._manager.list()) if c is not None]
        return max(0.05, min([self.poll_interval, *(c - now for c in due)]))

    def _close_idle(self) -> None:
        """Start or stop each running cluster's idle clock, and close those whose time is up.
        The clock runs once the cluster has the workers it asked for; an adaptive cluster with
        nothing to do is idle at its minimum like any other."""
        manager = self._manager
        now = time.time()
        for managed in manager.list():
            handle = managed.handle
            # A cluster another JupyterLab took over is that server's to close.
            if (
                managed.elsewhere
                or not managed.idle_timeout
                or managed.phase is not Phase.RUNNING
                or handle is None
            ):
                managed.idle_since = None
                continue
            # A cluster still waiting for its workers waits for the scheduler, not for its user.
            if handle.clients() or handle.tasks() or managed.status is Status.SCALING:
                if managed.idle_since is not None:
                    managed.idle_since = None
                    manager.notify("updated", managed)
                continue
            if managed.idle_since is None:
                managed.idle_since = now
                manager.notify("updated", managed)  # the card's countdown starts
            closes_at = managed.closes_at()
            if closes_at is not None and now >= closes_at:
                reason = (
                    f"idle: no client and no task for {managed.idle_timeout:g} s "
                    f"(idle_timeout); its jobs were killed"
                )
                log.info("closing cluster %s (%s): %s", managed.id, managed.name, reason)
                managed.idle_since = None
                manager.spawn(manager.close_quietly(managed.id, reason))


async def forget_ended(managed: ManagedCluster, handle: ClusterHandle) -> None:
    """Tell the cluster, once each, which of its jobs ended, so scaling replaces them."""
    ended = managed.unforgotten_ended()
    if ended:
        await handle.forget_ended(set(ended))
        managed.forgotten_jobs |= ended


async def replace_ended_jobs(managed: ManagedCluster) -> None:
    """Keep `requested` live jobs: resubmit for jobs that ended by themselves, and submit ahead
    for jobs about to reach their walltime (at most one extra per requested worker). Failures
    back off, and after a few in a row the cluster is degraded (replacement.py)."""
    policy = managed.replacement
    policy.judge(managed.ended_jobs(), managed.connected_jobs | managed.cancelled_jobs)
    if policy.gave_up is not None:
        managed.error = policy.gave_up
        return
    handle = managed.handle
    if handle is None or managed.adapt_bounds is not None:
        if handle is not None:
            # Adaptive mode replaces workers itself once the ended ones are forgotten.
            await forget_ended(managed, handle)
        return
    ahead_s = managed.backend.replace_ahead_s(managed.options)
    live = [managed.jobs.get(j) for j in managed.unfinished_job_ids()]
    expiring = [
        job.job_id
        for job in live
        if job is not None
        and job.state is JobState.RUNNING
        and job.walltime_left_s is not None
        and ahead_s is not None
        and job.walltime_left_s <= ahead_s
    ][: managed.requested]
    # Their end is routine from now on: a job of the right size takes over.
    managed.replaced_jobs.update(expiring)
    wanted = managed.requested + len(expiring)
    now = asyncio.get_running_loop().time()
    if len(live) >= wanted or not policy.may_submit(now):
        return
    async with managed.lock:
        taken = managed.handle is not handle or managed.elsewhere
        if managed.phase is not Phase.RUNNING or taken:
            return
        await forget_ended(managed, handle)
        # Only ever up: specs beyond `live` are submissions still in flight.
        if handle.submissions() < wanted:
            log.info("cluster %s: %d live jobs, submitting up to %d", managed.id, len(live), wanted)
            await handle.scale(wanted)
            policy.submitted(now)
