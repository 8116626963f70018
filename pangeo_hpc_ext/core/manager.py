"""ClusterManager: the async core that owns clusters by opaque id. It knows nothing of HTTP, and
nothing of where a cluster's scheduler runs: it drives each through a handle from its host (a
supervisor process per cluster in the server)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..backends import JobEvents
from ..backends.tls import ClusterCredentials
from ..errors import (
    ClusterNotFound,
    ClusterNotReady,
    PangeoHPCError,
    ProfileNotFound,
    SchedulerCommandFailed,
    StateNotWritable,
    TooManyClusters,
)
from ..script_safety import shorten
from .cluster import ManagedCluster
from .handle import AdaptBounds, ClusterEvents, ClusterHandle, ClusterHost
from .job_kill import kill_cluster_jobs, kill_leftovers
from .job_log import LogTail, job_log_tails
from .ledger import JobLedger
from .lifecycle import Phase
from .limits import check_adapt, check_idle_timeout, check_workers, default_idle_timeout
from .profiles import Profile, profile_of
from .refresh import JobRefresh

log = logging.getLogger(__name__)

# Clusters that ended, remembered (in this server) so that a page still showing one can say so.
ENDED_REMEMBERED = 200
ON_SERVER_STOP = ("close", "keep")
# A cluster nobody uses (no client, no task) is closed after this long unless its profile or
# its request says otherwise.
DEFAULT_IDLE_TIMEOUT_S = 1800.0

ChangeListener = Callable[[str, str, str], None]  # (action, cluster_id, status)


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
        host: ClusterHost,
        on_server_stop: str = "close",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S,
        max_idle_timeout: float = 0.0,
    ) -> None:
        if on_server_stop not in ON_SERVER_STOP:
            raise ValueError(
                f"on_server_stop must be one of {ON_SERVER_STOP}, not {on_server_stop!r}"
            )
        self.profiles = profiles
        self.host = host
        self.on_server_stop = on_server_stop
        self.ledger = ledger
        # Per-cluster TLS credentials, one private directory each.
        self.credentials_dir = credentials_dir or ledger.state_dir / "tls"
        self.max_clusters = max_clusters
        self.max_workers = max_workers
        # Every cluster's default idle timeout, and the admin's ceiling (0: none).
        self.idle_timeout = idle_timeout
        self.max_idle_timeout = max_idle_timeout
        self._clusters: dict[str, ManagedCluster] = {}
        self._listeners: list[ChangeListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # Clusters whose close could not confirm that their jobs ended, with the error each had
        # before (the close's own error stands in until then).
        self._unconfirmed_closes: dict[str, str | None] = {}
        self._refresh = JobRefresh(self, poll_interval)
        self._ended: OrderedDict[str, dict[str, str]] = OrderedDict()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        # Reattach first: the leftovers are then only the jobs of processes that are gone.
        await self._reattach()
        await kill_leftovers(self.ledger, self.profiles)
        await self.host.open()
        self._refresh.start()

    async def stop(self) -> None:
        await self._refresh.stop()
        clusters = list(self._clusters.values())
        # A cluster driven elsewhere is not this server's to close: it is only let go.
        await asyncio.gather(
            *(
                self._detach(m) if self._kept(m) or m.elsewhere else self.close(m.id)
                for m in clusters
            ),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            task.cancel()
        await self.host.close()

    def kept(self, managed: ManagedCluster) -> bool:
        """Whether the cluster is to outlive this server."""
        return self.on_server_stop == "keep" or managed.keep

    def _kept(self, managed: ManagedCluster) -> bool:
        return self.kept(managed) and managed.phase in (Phase.STARTING, Phase.RUNNING)

    async def _detach(self, managed: ManagedCluster) -> None:
        """Leave a kept cluster running for the next server (after its start, if it is starting)."""
        async with managed.lock:
            if managed.handle is not None:
                await managed.handle.detach()
                managed.handle = None

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    # -- queries -------------------------------------------------------------------------------

    def get(self, cluster_id: str) -> ManagedCluster:
        try:
            return self._clusters[cluster_id]
        except KeyError:
            ended = self._ended.get(cluster_id)
            if ended is not None:
                raise ClusterNotFound(
                    f"cluster {ended['name']} ({cluster_id}) ended at {ended['ended']}: "
                    f"{ended['reason']}",
                    ended,
                ) from None
            raise ClusterNotFound(f"no cluster with id {shorten(cluster_id)}") from None

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
        return await job_log_tails(self.get(cluster_id), job_id)

    # -- commands ------------------------------------------------------------------------------

    async def create(
        self,
        profile_name: str,
        options: dict[str, Any],
        workers: int,
        name: str | None = None,
        *,
        keep: bool = False,
        idle_timeout: float | None = None,
    ) -> ManagedCluster:
        profile = self.profile(profile_name)
        check_workers("workers", workers, self.max_workers)
        if idle_timeout is None:
            idle_timeout = self.default_idle_timeout(profile)
        else:
            check_idle_timeout(idle_timeout, self.max_idle_timeout)
        resolved = await profile.resolve_options(options)
        # Failed clusters count until the user deletes them: they hold no scheduler any more, but
        # a client retrying a refused job must not be able to pile up failed clusters. Those
        # another JupyterLab drives count there.
        counted = sum(1 for m in self._clusters.values() if not m.elsewhere)
        if counted >= self.max_clusters:
            raise TooManyClusters(
                f"{counted} clusters exist (failed ones included), the limit is "
                f"{self.max_clusters}; shut one down first"
            )
        cluster_id = secrets.token_hex(8)
        managed = ManagedCluster.create(
            profile,
            cluster_id,
            name or f"{profile.name}-{cluster_id[:6]}",
            resolved,
            workers,
            keep=keep,
            idle_timeout=idle_timeout,
        )
        self._clusters[cluster_id] = managed
        self.spawn(self._start(managed))
        self.notify("created", managed)
        return managed

    async def scale(self, cluster_id: str, workers: int) -> ManagedCluster:
        managed = self.get(cluster_id)
        check_workers("workers", workers, self.max_workers)
        async with managed.lock:
            handle = self._running(managed)
            managed.adapt_bounds = None
            managed.requested = workers
            managed.error = None
            managed.replacement.reset()
            # One message: adaptive mode off, ended workers dropped, the size kept for a later
            # server.
            ended = managed.unforgotten_ended()
            await handle.scale(workers, requested=workers, ended=ended)
            managed.forgotten_jobs |= ended
        self.notify("updated", managed)
        return managed

    async def adapt(self, cluster_id: str, bounds: AdaptBounds | None) -> ManagedCluster:
        managed = self.get(cluster_id)
        if bounds is not None:
            check_adapt(bounds, self.max_workers)
        async with managed.lock:
            handle = self._running(managed)
            if bounds is None:
                # Back to manual: hold the size adaptive mode had reached.
                target = managed.target
                managed.adapt_bounds = None
                managed.requested = target
                await handle.scale(target, requested=target)
            else:
                await handle.adapt(bounds.minimum, bounds.maximum)
                managed.adapt_bounds = bounds
        self.notify("updated", managed)
        return managed

    async def close(self, cluster_id: str, reason: str | None = None) -> None:
        """Close the cluster and kill every batch job it submitted before returning. When the
        scheduler cannot confirm that they all ended, SchedulerCommandFailed: the cluster stays
        listed as closing with the scheduler's error, and a later DELETE or job refresh that
        sees them ended completes the close. `reason`, when we close it on our own, is told to
        listeners and kept with the ended cluster."""
        managed = self.get(cluster_id)
        self._check_ours(managed)
        managed.phase = Phase.CLOSING
        self.notify("updated", managed, reason)
        async with managed.lock:
            if managed.phase is Phase.CLOSED:  # a concurrent DELETE got here first
                return
            await self._close_handle(managed)
            unconfirmed = await kill_cluster_jobs(managed)
            if unconfirmed is not None:
                self._unconfirmed_closes.setdefault(cluster_id, reason or managed.error)
                managed.error = f"closing, jobs not yet confirmed ended: {unconfirmed.message}"
                self.notify("updated", managed)
                raise unconfirmed
            managed.error = self._unconfirmed_closes.pop(cluster_id, managed.error)
            ended_why = reason or managed.error or "shut down"
            managed.phase = Phase.CLOSED
            if managed.credentials is not None:
                managed.credentials.remove()
            await self.host.forget(managed.id)
        self._clusters.pop(cluster_id, None)
        self.ledger.forget(cluster_id)
        self._remember_ended(managed, ended_why)
        self.notify("deleted", managed, reason)

    async def complete_close(self, cluster_id: str) -> None:
        """A close left unconfirmed, now that a refresh saw every job ended."""
        with contextlib.suppress(SchedulerCommandFailed, ClusterNotFound):
            await self.close(cluster_id)

    def _remember_ended(self, managed: ManagedCluster, reason: str) -> None:
        ended = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._ended[managed.id] = {"name": managed.name, "ended": ended, "reason": reason}
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    @staticmethod
    async def _close_handle(managed: ManagedCluster) -> None:
        # Each handle bounds its own close: a supervisor gets longer (it kills and confirms
        # every job) and is killed itself if it does not answer in time.
        handle, managed.handle = managed.handle, None
        if handle is None:
            return
        try:
            await handle.close()
        except Exception:
            log.exception("closing dask cluster %s", managed.id)

    # -- internals -------------------------------------------------------------------------------

    def default_idle_timeout(self, profile: Profile) -> float:
        """The idle timeout of a profile's clusters when the request names none (limits.py)."""
        return default_idle_timeout(profile, self.idle_timeout, self.max_idle_timeout)

    @staticmethod
    def _check_ours(managed: ManagedCluster) -> None:
        if managed.elsewhere:
            raise ClusterNotReady(
                f"cluster {managed.id} is {managed.elsewhere}: change or shut it down there"
            )

    def _running(self, managed: ManagedCluster) -> ClusterHandle:
        self._check_ours(managed)
        if managed.phase is not Phase.RUNNING or managed.handle is None:
            raise ClusterNotReady(f"cluster {managed.id} is {managed.phase.value}, not running")
        return managed.handle

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def notify(self, action: str, managed: ManagedCluster, reason: str | None = None) -> None:
        # The reason only when there is one: listeners take (action, id, status[, reason]).
        extra = (reason,) if reason else ()
        for listener in self._listeners:
            try:
                listener(action, managed.id, managed.status.value, *extra)
            except Exception:
                log.exception("cluster change listener failed")

    def _events(self, managed: ManagedCluster) -> ClusterEvents:
        return ClusterEvents(
            jobs=JobEvents(
                submitted=lambda job_id: self._job_submitted(managed, job_id),
                submit_failed=lambda message: self._submit_failed(managed, message),
                cancelled=lambda job_id: self._job_cancelled(managed, job_id),
            ),
            worker_joined=lambda job_id: self._worker_joined(managed, job_id),
            worker_left=lambda: self.notify("updated", managed),
            lost=lambda why: self._lost(managed, why),
            displaced=lambda why: self._displaced(managed, why),
        )

    async def _start(self, managed: ManagedCluster) -> None:
        async with managed.lock:
            if managed.phase is not Phase.STARTING:
                return
            try:
                if managed.profile.tls:
                    # Off the loop: the files may be on a slow shared home.
                    managed.credentials = await asyncio.to_thread(
                        ClusterCredentials.create, self.credentials_dir / managed.id
                    )
                managed.handle = await self.host.start(
                    managed.spec, managed.backend, self._events(managed)
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
            if managed.requested:
                await managed.handle.scale(managed.requested)
        self.notify("updated", managed)

    def _worker_joined(self, managed: ManagedCluster, job_id: str | None) -> None:
        if job_id is not None:
            managed.connected_jobs.add(job_id)
        self.notify("updated", managed)

    def _lost(self, managed: ManagedCluster, why: str) -> None:
        """The cluster's process is gone: its jobs are killed now, not at the next start."""
        if not managed.elsewhere and managed.phase in (Phase.STARTING, Phase.RUNNING):
            self._fail(managed, why)

    def _displaced(self, managed: ManagedCluster, why: str) -> None:
        """Another JupyterLab drives the cluster now: shown as such, and left alone."""
        log.warning("cluster %s is %s; this server leaves it alone", managed.id, why)
        managed.elsewhere = why
        managed.adapt_bounds = None
        self.notify("updated", managed)

    def drop_ended_elsewhere(self) -> None:
        """Clusters driven elsewhere whose process has ended leave this server's list: the
        server that drove them dealt with their end (or the next one will, from the record)."""
        for managed in list(self._clusters.values()):
            if managed.elsewhere and (managed.handle is None or not managed.handle.running()):
                self._clusters.pop(managed.id, None)
                self._remember_ended(managed, f"it ended while {managed.elsewhere}")
                self.notify("deleted", managed)

    def _fail(self, managed: ManagedCluster, message: str) -> None:
        managed.phase = Phase.FAILED
        managed.error = message
        self.spawn(self._release(managed))
        self.notify("updated", managed)

    async def _release(self, managed: ManagedCluster) -> None:
        """A failed cluster gives back its scheduler, ports and jobs at once; its record stays
        (with the error) until the user deletes it."""
        async with managed.lock:
            if managed.phase is not Phase.FAILED:
                return
            managed.adapt_bounds = None
            await self._close_handle(managed)
            await kill_cluster_jobs(managed)
        self.notify("updated", managed)

    def _job_submitted(self, managed: ManagedCluster, job_id: str) -> None:
        managed.job_ids.append(job_id)
        managed.submitted_here.add(job_id)
        if not self.host.records_jobs:  # a supervisor records its own (and fails likewise)
            try:
                self.ledger.record(managed.id, managed.backend.name, managed.job_ids)
            except StateNotWritable as error:  # a job no restarted server could find: kill it
                self._fail(managed, error.message)
                return
        self._refresh.soon()
        self.notify("updated", managed)

    def _job_cancelled(self, managed: ManagedCluster, job_id: str) -> None:
        managed.cancelled_jobs.add(job_id)
        if self.host.records_jobs:  # ended by the cluster's own process, not by our backend
            managed.backend.jobs_cancelled([job_id])

    def _submit_failed(self, managed: ManagedCluster, message: str) -> None:
        managed.error = message
        if not managed.job_ids and managed.phase is Phase.RUNNING:
            # Nothing was ever accepted: the scheduler refuses this cluster's jobs outright.
            self._fail(managed, message)
            return
        self.notify("updated", managed)

    async def _reattach(self) -> None:
        """Take over the clusters an earlier server left running (same ids, same workers); those
        whose process died are shown failed, with the cause, and their jobs killed."""
        for found in await self.host.surviving():
            spec = found.spec
            if spec.id in self._clusters:
                continue
            managed = ManagedCluster(spec, profile_of(self.profiles, spec.profile, spec.backend))
            if spec.idle_timeout is None:  # a record from before clusters had their own
                managed.idle_timeout = self.default_idle_timeout(managed.profile)
            # Bounds in force come back once it is attached, as running.
            bounds, managed.adapt_bounds = spec.adapt, None
            if found.attach is None:
                # Its jobs are killed now; its record stays until the user deletes the cluster.
                self._clusters[spec.id] = managed
                self._fail(managed, found.why)
                continue
            try:
                managed.handle = await found.attach(self._events(managed))
            except Exception as error:  # it died between being listed and being reached
                self._clusters[spec.id] = managed
                self._fail(managed, f"{found.why}; it could not be reached: {error}")
                continue
            managed.phase = Phase.RUNNING
            # Listed once attached: a client never sees it half taken over.
            self._clusters[spec.id] = managed
            managed.connected_jobs |= managed.handle.connected_job_ids()
            managed.adapt_bounds = bounds
            log.info("reattached cluster %s (%s): %s", spec.id, spec.name, found.why)
            self.notify("created", managed)
        self._refresh.soon()

    def ours(self) -> list[ManagedCluster]:
        """The clusters this server drives (not those another JupyterLab took over)."""
        return [m for m in self._clusters.values() if not m.elsewhere]

    async def refresh(self) -> None:
        """Read every unfinished job's state now, and act on it (refresh.py)."""
        await self._refresh.refresh()

    def close_unconfirmed(self, cluster_id: str) -> bool:
        """Whether the cluster's close is waiting for its jobs to be seen ended."""
        return cluster_id in self._unconfirmed_closes

    async def close_quietly(self, cluster_id: str, reason: str) -> None:
        """Close a cluster on our own (its idle time is up): what goes wrong is logged."""
        try:
            await self.close(cluster_id, reason)
        except ClusterNotFound:
            pass  # deleted meanwhile
        except SchedulerCommandFailed as error:
            # It stays closing with the scheduler's error; a later refresh completes the close.
            log.warning("idle cluster %s not confirmed closed: %s", cluster_id, error.message)
        except Exception:
            log.exception("closing idle cluster %s", cluster_id)
