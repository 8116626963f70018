"""ClusterManager: the async core that owns clusters by opaque id. It knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from distributed.deploy import SpecCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from ..backends import Backend, JobEvents
from ..backends.script_safety import shorten
from ..errors import (
    ClusterNotFound,
    ClusterNotReady,
    FieldError,
    InvalidOptions,
    PangeoHPCError,
    ProfileNotFound,
    SchedulerCommandFailed,
    TooManyClusters,
)
from .cluster import AdaptBounds, ManagedCluster
from .ledger import JobLedger
from .profiles import Profile

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 60.0
# After a kill, how long DELETE waits for the scheduler to report the jobs finished.
KILL_CONFIRM_TIMEOUT_S = 15.0
KILL_CONFIRM_POLL_S = 0.25

ChangeListener = Callable[[str, str, str], None]  # (action, cluster_id, status)


class WorkerChangeListener(SchedulerPlugin):
    """Tells the manager the moment a worker joins or leaves, instead of at the next refresh."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self._changed = changed

    def add_worker(self, scheduler: Any, worker: str) -> None:
        self._changed()

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        self._changed()


class ClusterManager:
    def __init__(
        self,
        profiles: dict[str, Profile],
        *,
        ledger: JobLedger,
        max_clusters: int = 10,
        max_workers: int = 100,
        poll_interval: float = 2.0,
    ) -> None:
        self.profiles = profiles
        self.ledger = ledger
        self.max_clusters = max_clusters
        self.max_workers = max_workers
        self.poll_interval = poll_interval
        self._clusters: dict[str, ManagedCluster] = {}
        self._listeners: list[ChangeListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._fingerprints: dict[str, tuple[Any, ...]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._kill_leftovers()
        self._poller = asyncio.create_task(self._poll_jobs_forever())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await asyncio.gather(
            *(self.close(cid) for cid in list(self._clusters)), return_exceptions=True
        )
        for task in list(self._tasks):
            task.cancel()

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    # -- queries -------------------------------------------------------------------------------

    def get(self, cluster_id: str) -> ManagedCluster:
        try:
            return self._clusters[cluster_id]
        except KeyError:
            raise ClusterNotFound(f"no cluster with id {cluster_id!r}") from None

    def list(self) -> list[ManagedCluster]:
        return list(self._clusters.values())

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ProfileNotFound(
                f"no profile named {shorten(name)}; known profiles: {known}"
            ) from None

    # -- commands ------------------------------------------------------------------------------

    async def create(
        self, profile_name: str, options: dict[str, Any], workers: int, name: str | None = None
    ) -> ManagedCluster:
        profile = self.profile(profile_name)
        self._check_workers("workers", workers)
        resolved = await profile.resolve_options(options)
        # Failed clusters count until the user deletes them: they hold no scheduler any more, but
        # a client retrying a refused job must not be able to pile up failed clusters.
        if len(self._clusters) >= self.max_clusters:
            raise TooManyClusters(
                f"{len(self._clusters)} clusters exist (failed ones included), the limit is "
                f"{self.max_clusters}; shut one down first"
            )
        cluster_id = secrets.token_hex(8)
        managed = ManagedCluster(
            cluster_id, name or f"{profile.name}-{cluster_id[:6]}", profile, resolved, workers
        )
        self._clusters[cluster_id] = managed
        self._spawn(self._start(managed))
        self._notify("created", managed)
        return managed

    async def scale(self, cluster_id: str, workers: int) -> ManagedCluster:
        managed = self.get(cluster_id)
        self._check_workers("workers", workers)
        async with managed.lock:
            cluster = self._running(managed)
            self._stop_adaptive(managed)
            managed.requested = workers
            managed.error = None
            managed.backend.forget_ended_workers(cluster, managed.ended_job_ids())
            cluster.scale(workers)
        self._notify("updated", managed)
        return managed

    async def adapt(self, cluster_id: str, bounds: AdaptBounds | None) -> ManagedCluster:
        managed = self.get(cluster_id)
        if bounds is not None:
            self._check_workers("adapt.minimum", bounds.minimum)
            self._check_workers("adapt.maximum", bounds.maximum)
            if bounds.minimum > bounds.maximum:
                raise InvalidOptions(
                    "adapt.minimum must not exceed adapt.maximum",
                    [FieldError("adapt.minimum", "adapt.minimum must not exceed adapt.maximum")],
                )
        async with managed.lock:
            cluster = self._running(managed)
            if bounds is None:
                # Back to manual: hold the size adaptive mode had reached.
                target = managed.target
                self._stop_adaptive(managed)
                managed.requested = target
                cluster.scale(target)
            else:
                self._stop_adaptive(managed)
                managed.adaptive = cluster.adapt(minimum=bounds.minimum, maximum=bounds.maximum)
                managed.adapt_bounds = bounds
        self._notify("updated", managed)
        return managed

    async def close(self, cluster_id: str) -> None:
        """Close the cluster and kill every batch job it submitted before returning."""
        managed = self.get(cluster_id)
        managed.phase = "closing"
        self._notify("updated", managed)
        async with managed.lock:
            if managed.phase == "closed":  # a concurrent DELETE got here first
                return
            self._stop_adaptive(managed)
            if managed.cluster is not None:
                try:
                    await asyncio.wait_for(managed.cluster.close(), CLOSE_TIMEOUT_S)
                except Exception:
                    log.exception("closing dask cluster %s", cluster_id)
            await self._kill_unfinished_jobs(managed)
            managed.phase = "closed"
        self._clusters.pop(cluster_id, None)
        self.ledger.forget(cluster_id)
        self._notify("deleted", managed)

    # -- internals -------------------------------------------------------------------------------

    def _check_workers(self, field: str, value: int) -> None:
        if not 0 <= value <= self.max_workers:
            raise InvalidOptions(
                f"{field} must be between 0 and {self.max_workers}, got {value}",
                [FieldError(field, f"{field} must be between 0 and {self.max_workers}")],
            )

    def _running(self, managed: ManagedCluster) -> SpecCluster:
        if managed.phase != "running" or managed.cluster is None:
            raise ClusterNotReady(f"cluster {managed.id} is {managed.phase}, not running")
        return managed.cluster

    @staticmethod
    def _stop_adaptive(managed: ManagedCluster) -> None:
        if managed.adaptive is not None:
            managed.adaptive.stop()
        managed.adaptive = None
        managed.adapt_bounds = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify(self, action: str, managed: ManagedCluster) -> None:
        for listener in self._listeners:
            try:
                listener(action, managed.id, managed.status)
            except Exception:
                log.exception("cluster change listener failed")

    async def _start(self, managed: ManagedCluster) -> None:
        events = JobEvents(
            submitted=lambda job_id: self._job_submitted(managed, job_id),
            submit_failed=lambda message: self._submit_failed(managed, message),
        )
        async with managed.lock:
            if managed.phase != "starting":
                return
            try:
                managed.cluster = await managed.backend.start_cluster(
                    managed.options, name=managed.id, events=events
                )
            except PangeoHPCError as error:
                self._fail(managed, error.message)
                return
            except Exception as error:  # dask's own errors, e.g. an interface this host lacks
                log.warning("cluster %s failed to start: %s", managed.id, error)
                self._fail(managed, f"{type(error).__name__}: {error}")
                return
            if managed.phase == "closing":  # deleted while starting: close() takes it from here
                return
            managed.phase = "running"
            managed.cluster.scheduler.add_plugin(
                WorkerChangeListener(lambda: self._notify("updated", managed)),
                name="pangeo-hpc-worker-changes",
            )
            if managed.requested:
                managed.cluster.scale(managed.requested)
        self._notify("updated", managed)

    def _fail(self, managed: ManagedCluster, message: str) -> None:
        managed.phase = "failed"
        managed.error = message
        self._spawn(self._release(managed))
        self._notify("updated", managed)

    async def _release(self, managed: ManagedCluster) -> None:
        """A failed cluster gives back its scheduler, ports and jobs at once; its record stays
        (with the error) until the user deletes it."""
        async with managed.lock:
            if managed.phase != "failed":
                return
            self._stop_adaptive(managed)
            cluster, managed.cluster = managed.cluster, None
            if cluster is not None:
                try:
                    await asyncio.wait_for(cluster.close(), CLOSE_TIMEOUT_S)
                except Exception:
                    log.exception("closing failed dask cluster %s", managed.id)
            await self._kill_unfinished_jobs(managed)
        self._notify("updated", managed)

    def _job_submitted(self, managed: ManagedCluster, job_id: str) -> None:
        managed.job_ids.append(job_id)
        self.ledger.record(managed.id, managed.backend.name, managed.job_ids)
        self._poll_now.set()
        self._notify("updated", managed)

    def _submit_failed(self, managed: ManagedCluster, message: str) -> None:
        managed.error = message
        if not managed.job_ids and managed.phase == "running":
            # Nothing was ever accepted: the scheduler refuses this cluster's jobs outright.
            self._fail(managed, message)
            return
        self._notify("updated", managed)

    async def _kill_unfinished_jobs(self, managed: ManagedCluster) -> None:
        """bkill every job still unfinished, then wait (bounded) until the scheduler agrees they
        ended, so that a DELETE's answer means the allocation is really given back."""
        if not managed.job_ids:
            return
        try:
            managed.jobs.update(await managed.backend.job_states(managed.job_ids))
            doomed = managed.unfinished_job_ids()
        except SchedulerCommandFailed as error:
            log.warning("could not read job states, killing all jobs of %s: %s", managed.id, error)
            await managed.backend.kill_jobs(list(managed.job_ids))
            return
        await managed.backend.kill_jobs(doomed)
        deadline = asyncio.get_running_loop().time() + KILL_CONFIRM_TIMEOUT_S
        while doomed and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(KILL_CONFIRM_POLL_S)
            with contextlib.suppress(SchedulerCommandFailed):
                managed.jobs.update(await managed.backend.job_states(doomed))
            doomed = managed.unfinished_job_ids(among=doomed)
        if doomed:
            log.warning("jobs %s of %s still not finished after bkill", doomed, managed.id)

    async def _kill_leftovers(self) -> None:
        backends = {p.backend.name: p.backend for p in self.profiles.values()}
        reconciled = True
        for backend_name, job_ids in self.ledger.orphaned_jobs().items():
            backend = backends.get(backend_name)
            if backend is None or not job_ids:
                continue
            try:
                states = await backend.job_states(job_ids)
                doomed = [j for j in job_ids if j in states and not states[j].finished]
                if doomed:
                    log.warning(
                        "killing %d %s jobs left by a server that died", len(doomed), backend_name
                    )
                    await backend.kill_jobs(doomed)
            except SchedulerCommandFailed as error:
                log.warning("could not reconcile leftover %s jobs: %s", backend_name, error)
                reconciled = False
        if reconciled:  # otherwise keep the ledgers and try again at the next start
            self.ledger.remove_orphaned()

    async def _poll_jobs_forever(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), self.poll_interval)
            self._poll_now.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing cluster state")

    async def refresh(self) -> None:
        """Read the state of every unfinished job with one scheduler call per backend, and tell
        listeners about clusters whose jobs or workers changed."""
        by_backend: dict[str, tuple[Backend, list[str]]] = {}
        for managed in self._clusters.values():
            if managed.backend.has_jobs and managed.phase in ("running", "failed"):
                entry = by_backend.setdefault(managed.backend.name, (managed.backend, []))
                entry[1].extend(managed.unfinished_job_ids())
        for backend, job_ids in by_backend.values():
            if not job_ids:
                continue
            try:
                states = await backend.job_states(job_ids)
            except SchedulerCommandFailed as error:
                log.warning("job states unavailable: %s", error.message)
                continue
            for managed in self._clusters.values():
                if managed.backend is backend:
                    managed.jobs.update({j: s for j, s in states.items() if j in managed.job_ids})
        # Compared with the previous refresh, not the start of this one: workers connect between
        # two refreshes, without any job changing.
        seen: dict[str, tuple[Any, ...]] = {}
        for managed in list(self._clusters.values()):
            seen[managed.id] = self._fingerprint(managed)
            if self._fingerprints.get(managed.id) != seen[managed.id]:
                self._notify("updated", managed)
        self._fingerprints = seen

    @staticmethod
    def _fingerprint(managed: ManagedCluster) -> tuple[Any, ...]:
        jobs = tuple((j.job_id, j.native_state, j.hosts) for j in managed.jobs.values())
        return (managed.status, managed.connected, managed.error, jobs)
