"""ClusterManager: the async core that owns clusters by opaque id. It knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed.deploy import SpecCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from ..backends import Backend, JobEvents
from ..backends.option_types import log_directory_path
from ..backends.tls import ClusterCredentials
from ..errors import (
    ClusterNotFound,
    ClusterNotReady,
    FieldError,
    InvalidOptions,
    JobLogNotFound,
    PangeoHPCError,
    ProfileNotFound,
    SchedulerCommandFailed,
    TooManyClusters,
)
from ..schedulers.base import JobState
from ..script_safety import shorten
from .cluster import AdaptBounds, ManagedCluster, Phase
from .job_log import LogTail, read_tail, within
from .ledger import JobLedger, job_alive_from
from .profiles import Profile

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 60.0
# After a kill, how long DELETE waits for the scheduler to report the jobs finished.
KILL_CONFIRM_TIMEOUT_S = 15.0
KILL_CONFIRM_POLL_S = 0.25

ChangeListener = Callable[[str, str, str], None]  # (action, cluster_id, status)


class WorkerChangeListener(SchedulerPlugin):
    """Tells the manager the moment a worker joins or leaves, instead of at the next refresh."""

    def __init__(self, joined: Callable[[str], None], left: Callable[[], None]) -> None:
        self._joined = joined
        self._left = left

    def add_worker(self, scheduler: Any, worker: str) -> None:
        state = scheduler.workers.get(worker)
        self._joined(str(state.name) if state is not None else "")

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        self._left()


class ClusterManager:
    def __init__(
        self,
        profiles: dict[str, Profile],
        *,
        ledger: JobLedger,
        max_clusters: int = 10,
        max_workers: int = 100,
        poll_interval: float = 2.0,
        credentials_dir: Path | None = None,
    ) -> None:
        self.profiles = profiles
        self.ledger = ledger
        # Per-cluster TLS credentials, one private directory each.
        self.credentials_dir = credentials_dir or ledger.state_dir / "tls"
        self.max_clusters = max_clusters
        self.max_workers = max_workers
        self.poll_interval = poll_interval
        self._clusters: dict[str, ManagedCluster] = {}
        self._listeners: list[ChangeListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._stopping = False
        self._fingerprints: dict[str, tuple[Any, ...]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._kill_leftovers()
        self._poller = asyncio.create_task(self._poll_jobs_forever())

    async def stop(self) -> None:
        # Python 3.11's wait_for can swallow a cancel that lands as the event is set (a job was
        # just submitted): the flag ends the poller all the same.
        self._stopping = True
        self._poll_now.set()
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

    async def job_log(self, cluster_id: str, job_id: str) -> list[LogTail]:
        """The tails of a job's output files: only jobs this cluster submitted, only files in its
        log directory."""
        managed = self.get(cluster_id)
        if job_id not in managed.job_ids:
            raise JobLogNotFound(f"cluster {cluster_id} has no job {shorten(job_id)}")
        files = await asyncio.to_thread(
            managed.backend.job_log_files, managed.options, managed.id, job_id
        )
        directory = log_directory_path(managed.options.get("log_directory") or "/nonexistent")
        tails = [
            await asyncio.to_thread(read_tail, path)
            for path in files
            if within(path, directory) and await asyncio.to_thread(path.is_file)
        ]
        if not tails:
            raise JobLogNotFound(f"job {job_id} has written no output file (yet)")
        return tails

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
            managed.replacement.reset()
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
        managed.phase = Phase.CLOSING
        self._notify("updated", managed)
        async with managed.lock:
            if managed.phase is Phase.CLOSED:  # a concurrent DELETE got here first
                return
            self._stop_adaptive(managed)
            if managed.cluster is not None:
                try:
                    await asyncio.wait_for(managed.cluster.close(), CLOSE_TIMEOUT_S)
                except Exception:
                    log.exception("closing dask cluster %s", cluster_id)
            await self._kill_unfinished_jobs(managed)
            managed.phase = Phase.CLOSED
            if managed.credentials is not None:
                managed.credentials.remove()
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
        if managed.phase is not Phase.RUNNING or managed.cluster is None:
            raise ClusterNotReady(f"cluster {managed.id} is {managed.phase.value}, not running")
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
                listener(action, managed.id, managed.status.value)
            except Exception:
                log.exception("cluster change listener failed")

    async def _start(self, managed: ManagedCluster) -> None:
        events = JobEvents(
            submitted=lambda job_id: self._job_submitted(managed, job_id),
            submit_failed=lambda message: self._submit_failed(managed, message),
            cancelled=managed.cancelled_jobs.add,
        )
        async with managed.lock:
            if managed.phase is not Phase.STARTING:
                return
            try:
                if managed.profile.tls:
                    managed.credentials = ClusterCredentials.create(
                        self.credentials_dir / managed.id
                    )
                managed.cluster = await managed.backend.start_cluster(
                    managed.options,
                    name=managed.id,
                    events=events,
                    security=managed.credentials.security() if managed.credentials else None,
                )
            except PangeoHPCError as error:
                self._fail(managed, error.message)
                return
            except Exception as error:  # dask's own errors, e.g. an interface this host lacks
                log.warning("cluster %s failed to start: %s", managed.id, error)
                self._fail(managed, f"{type(error).__name__}: {error}")
                return
            if managed.phase is Phase.CLOSING:  # deleted while starting: close() takes it from here
                return
            managed.phase = Phase.RUNNING
            managed.cluster.scheduler.add_plugin(
                WorkerChangeListener(
                    joined=lambda name: self._worker_joined(managed, name),
                    left=lambda: self._notify("updated", managed),
                ),
                name="pangeo-hpc-worker-changes",
            )
            if managed.requested:
                managed.cluster.scale(managed.requested)
        self._notify("updated", managed)

    def _worker_joined(self, managed: ManagedCluster, worker_name: str) -> None:
        if managed.cluster is not None:
            job_id = managed.backend.job_of_worker(managed.cluster, worker_name)
            if job_id is not None:
                managed.connected_jobs.add(job_id)
        self._notify("updated", managed)

    def _fail(self, managed: ManagedCluster, message: str) -> None:
        managed.phase = Phase.FAILED
        managed.error = message
        self._spawn(self._release(managed))
        self._notify("updated", managed)

    async def _release(self, managed: ManagedCluster) -> None:
        """A failed cluster gives back its scheduler, ports and jobs at once; its record stays
        (with the error) until the user deletes it."""
        async with managed.lock:
            if managed.phase is not Phase.FAILED:
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
        if not managed.job_ids and managed.phase is Phase.RUNNING:
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
        orphans = await self.ledger.orphans(job_alive_from(backends))
        for backend_name, job_ids in orphans.job_ids.items():
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
            orphans.remove()

    async def _poll_jobs_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), self.poll_interval)
            if self._stopping:
                return
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
            if managed.backend.has_jobs and managed.phase in (Phase.RUNNING, Phase.FAILED):
                entry = by_backend.setdefault(managed.backend.name, (managed.backend, []))
                entry[1].extend(managed.unfinished_job_ids())
        for backend, job_ids in by_backend.values():
            if not job_ids:
                continue
            clusters = [m for m in self._clusters.values() if m.backend is backend]
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
        for managed in list(self._clusters.values()):
            if managed.backend.has_jobs and managed.phase is Phase.RUNNING:
                await self._replace_ended_jobs(managed)
        # Compared with the previous refresh, not the start of this one: workers connect between
        # two refreshes, without any job changing.
        seen: dict[str, tuple[Any, ...]] = {}
        for managed in list(self._clusters.values()):
            seen[managed.id] = self._fingerprint(managed)
            if self._fingerprints.get(managed.id) != seen[managed.id]:
                self._notify("updated", managed)
        self._fingerprints = seen

    async def _replace_ended_jobs(self, managed: ManagedCluster) -> None:
        """Keep `requested` live jobs: resubmit for jobs that ended by themselves, and submit
        ahead for jobs about to reach their walltime (at most one extra per requested worker).
        Failures back off, and after a few in a row the cluster is degraded (replacement.py)."""
        policy = managed.replacement
        policy.judge(managed.ended_jobs(), managed.connected_jobs | managed.cancelled_jobs)
        if policy.gave_up is not None:
            managed.error = policy.gave_up
            return
        cluster = managed.cluster
        if cluster is None or managed.adaptive is not None:
            if cluster is not None and managed.ended_job_ids():
                # Adaptive mode replaces workers itself once the ended ones are forgotten.
                managed.backend.forget_ended_workers(cluster, managed.ended_job_ids())
            return
        ahead_s = managed.backend.replace_ahead_s(managed.options)
        live = [managed.jobs.get(j) for j in managed.unfinished_job_ids()]
        expiring = sum(
            1
            for job in live
            if job is not None
            and job.state is JobState.RUNNING
            and job.walltime_left_s is not None
            and ahead_s is not None
            and job.walltime_left_s <= ahead_s
        )
        wanted = managed.requested + min(expiring, managed.requested)
        now = asyncio.get_running_loop().time()
        if len(live) >= wanted or not policy.may_submit(now):
            return
        async with managed.lock:
            if managed.phase is not Phase.RUNNING or managed.cluster is not cluster:
                return
            managed.backend.forget_ended_workers(cluster, managed.ended_job_ids())
            # Only ever up: specs beyond `live` are submissions still in flight.
            if len(cluster.worker_spec) < wanted:
                log.info(
                    "cluster %s: %d live jobs, submitting up to %d", managed.id, len(live), wanted
                )
                cluster.scale(wanted)
                policy.submitted(now)

    @staticmethod
    def _fingerprint(managed: ManagedCluster) -> tuple[Any, ...]:
        jobs = tuple((j.job_id, j.native_state, j.hosts, j.reason) for j in managed.jobs.values())
        return (managed.status, managed.connected, managed.error, managed.warning, jobs)
