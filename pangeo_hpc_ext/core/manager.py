"""ClusterManager: the async core that owns clusters by opaque id. It knows nothing of HTTP, and
nothing of where a cluster's scheduler runs: it drives each through a handle from its host (a
supervisor process per cluster in the server)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..backends import BACKENDS, Backend, JobEvents
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
    StateNotWritable,
    TooManyClusters,
)
from ..schedulers.base import JobState
from ..script_safety import shorten
from .cluster import AdaptBounds, ManagedCluster, Phase, Status
from .handle import ClusterEvents, ClusterHandle, ClusterHost
from .job_log import LogTail, read_tail, within
from .ledger import JobLedger, job_alive_from, job_is_ours
from .profiles import Profile

log = logging.getLogger(__name__)

# Clusters that ended, remembered (in this server) so that a page still showing one can say so.
ENDED_REMEMBERED = 200
ON_SERVER_STOP = ("close", "keep")
# After a kill, how long DELETE waits for the scheduler to report the jobs finished.
KILL_CONFIRM_TIMEOUT_S = 15.0
KILL_CONFIRM_POLL_S = 0.25
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
        self.poll_interval = poll_interval
        # Every cluster's default idle timeout, and the admin's ceiling (0: none).
        self.idle_timeout = idle_timeout
        self.max_idle_timeout = max_idle_timeout
        self._clusters: dict[str, ManagedCluster] = {}
        self._listeners: list[ChangeListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # Clusters whose close could not confirm that their jobs ended, with the error each had
        # before (the close's own error stands in until then).
        self._unconfirmed_closes: dict[str, str | None] = {}
        self._poller: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._stopping = False
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._ended: OrderedDict[str, dict[str, str]] = OrderedDict()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        # Reattach first: the leftovers are then only the jobs of processes that are gone.
        await self._reattach()
        await self._kill_leftovers()
        await self.host.open()
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
        self._check_workers("workers", workers)
        if idle_timeout is None:
            idle_timeout = self.default_idle_timeout(profile)
        else:
            self._check_idle_timeout(idle_timeout)
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
        managed = ManagedCluster(
            cluster_id,
            name or f"{profile.name}-{cluster_id[:6]}",
            profile,
            resolved,
            workers,
            keep=keep,
            idle_timeout=idle_timeout,
        )
        self._clusters[cluster_id] = managed
        self._spawn(self._start(managed))
        self._notify("created", managed)
        return managed

    async def scale(self, cluster_id: str, workers: int) -> ManagedCluster:
        managed = self.get(cluster_id)
        self._check_workers("workers", workers)
        async with managed.lock:
            handle = self._running(managed)
            await self._stop_adaptive(managed)
            managed.requested = workers
            managed.error = None
            managed.replacement.reset()
            await self._forget_ended(managed, handle)
            await handle.scale(workers)
            await handle.note(managed.spec())
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
            handle = self._running(managed)
            if bounds is None:
                # Back to manual: hold the size adaptive mode had reached.
                target = managed.target
                await self._stop_adaptive(managed)
                managed.requested = target
                await handle.scale(target)
            else:
                await handle.adapt(bounds.minimum, bounds.maximum)
                managed.adapt_bounds = bounds
            await handle.note(managed.spec())
        self._notify("updated", managed)
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
        self._notify("updated", managed, reason)
        async with managed.lock:
            if managed.phase is Phase.CLOSED:  # a concurrent DELETE got here first
                return
            await self._close_handle(managed)
            unconfirmed = await self._kill_unfinished_jobs(managed)
            if unconfirmed is not None:
                self._unconfirmed_closes.setdefault(cluster_id, reason or managed.error)
                managed.error = f"closing, jobs not yet confirmed ended: {unconfirmed.message}"
                self._notify("updated", managed)
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
        self._notify("deleted", managed, reason)

    async def _complete_close(self, cluster_id: str) -> None:
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
        """The idle timeout of a profile's clusters when the request names none: the profile's,
        else the server's, never beyond the admin's maximum."""
        timeout = self.idle_timeout if profile.idle_timeout is None else profile.idle_timeout
        if self.max_idle_timeout and not 0 < timeout <= self.max_idle_timeout:
            return self.max_idle_timeout
        return timeout

    def _check_idle_timeout(self, value: float) -> None:
        limit = self.max_idle_timeout
        if value < 0 or (limit and not 0 < value <= limit):
            allowed = f"between 1 and {limit:g}" if limit else "0 (never) or more"
            raise InvalidOptions(
                f"idle_timeout must be {allowed} seconds, got {value:g}",
                [FieldError("idle_timeout", f"idle_timeout must be {allowed} seconds")],
            )

    def _check_workers(self, field: str, value: int) -> None:
        if not 0 <= value <= self.max_workers:
            raise InvalidOptions(
                f"{field} must be between 0 and {self.max_workers}, got {value}",
                [FieldError(field, f"{field} must be between 0 and {self.max_workers}")],
            )

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

    @staticmethod
    async def _stop_adaptive(managed: ManagedCluster) -> None:
        if managed.adapt_bounds is not None and managed.handle is not None:
            await managed.handle.stop_adapt()
        managed.adapt_bounds = None

    @staticmethod
    async def _forget_ended(managed: ManagedCluster, handle: ClusterHandle) -> None:
        """Tell the cluster, once each, which of its jobs ended, so scaling replaces them."""
        ended = managed.ended_job_ids() - managed.forgotten_jobs
        if ended:
            await handle.forget_ended(ended)
            managed.forgotten_jobs |= ended

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify(self, action: str, managed: ManagedCluster, reason: str | None = None) -> None:
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
            worker_left=lambda: self._notify("updated", managed),
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
                    managed.spec(), managed.backend, self._events(managed)
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
        self._notify("updated", managed)

    def _worker_joined(self, managed: ManagedCluster, job_id: str | None) -> None:
        if job_id is not None:
            managed.connected_jobs.add(job_id)
        self._notify("updated", managed)

    def _lost(self, managed: ManagedCluster, why: str) -> None:
        """The cluster's process is gone: its jobs are killed now, not at the next start."""
        if not managed.elsewhere and managed.phase in (Phase.STARTING, Phase.RUNNING):
            self._fail(managed, why)

    def _displaced(self, managed: ManagedCluster, why: str) -> None:
        """Another JupyterLab drives the cluster now: shown as such, and left alone."""
        log.warning("cluster %s is %s; this server leaves it alone", managed.id, why)
        managed.elsewhere = why
        managed.adapt_bounds = None
        self._notify("updated", managed)

    def _drop_ended_elsewhere(self) -> None:
        """Clusters driven elsewhere whose process has ended leave this server's list: the
        server that drove them dealt with their end (or the next one will, from the record)."""
        for managed in list(self._clusters.values()):
            if managed.elsewhere and (managed.handle is None or not managed.handle.running()):
                self._clusters.pop(managed.id, None)
                self._remember_ended(managed, f"it ended while {managed.elsewhere}")
                self._notify("deleted", managed)

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
            managed.adapt_bounds = None
            await self._close_handle(managed)
            await self._kill_unfinished_jobs(managed)
        self._notify("updated", managed)

    def _job_submitted(self, managed: ManagedCluster, job_id: str) -> None:
        managed.job_ids.append(job_id)
        managed.submitted_here.add(job_id)
        if not self.host.records_jobs:  # a supervisor records its own (and fails likewise)
            try:
                self.ledger.record(managed.id, managed.backend.name, managed.job_ids)
            except StateNotWritable as error:  # a job no restarted server could find: kill it
                self._fail(managed, error.message)
                return
        self._poll_now.set()
        self._notify("updated", managed)

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
        self._notify("updated", managed)

    async def _kill_unfinished_jobs(self, managed: ManagedCluster) -> SchedulerCommandFailed | None:
        """bkill every job still unfinished, then wait (bounded) until the scheduler agrees they
        ended, so that a DELETE's answer means the allocation is really given back. The error
        that kept it from confirming that, if any."""
        if not managed.job_ids:
            return None
        unread: SchedulerCommandFailed | None = None
        try:
            managed.jobs.update(await managed.backend.job_states(managed.job_ids))
        except SchedulerCommandFailed as error:
            # States unknown: kill the jobs seen submitted here (a recorded id may be anyone's
            # by now; bkill may still get through), then confirm.
            unread, unfinished = error, managed.unfinished_job_ids()
            doomed = [j for j in unfinished if j in managed.submitted_here]
            log.warning(
                "could not read job states, killing the %d jobs %s submitted here: %s",
                len(doomed),
                managed.id,
                error,
            )
            if len(doomed) < len(unfinished):
                # The others cannot be told ours or not now: a later read decides, and the
                # close stays unconfirmed until then.
                if doomed:
                    await managed.backend.kill_jobs(doomed)
                return error
        else:
            doomed = [
                j
                for j in managed.unfinished_job_ids()
                if j in managed.submitted_here
                or (j in managed.jobs and job_is_ours(managed.backend, managed.id, managed.jobs[j]))
            ]
        if doomed:
            await managed.backend.kill_jobs(doomed)
        deadline = asyncio.get_running_loop().time() + KILL_CONFIRM_TIMEOUT_S
        while doomed and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(KILL_CONFIRM_POLL_S)
            try:
                managed.jobs.update(await managed.backend.job_states(doomed))
                unread = None
            except SchedulerCommandFailed as error:
                unread = error
                continue
            doomed = managed.unfinished_job_ids(among=doomed)
        if not doomed:
            return None
        log.warning("jobs %s of %s not confirmed ended after bkill", doomed, managed.id)
        return unread or SchedulerCommandFailed(
            "bkill", None, f"jobs {' '.join(doomed)} still not finished after bkill"
        )

    async def _reattach(self) -> None:
        """Take over the clusters an earlier server left running (same ids, same workers); those
        whose process died are shown failed, with the cause, and their jobs killed."""
        for found in await self.host.surviving():
            spec = found.spec
            if spec.id in self._clusters:
                continue
            managed = ManagedCluster(
                spec.id,
                spec.name,
                self._profile_of(spec.profile, spec.backend),
                spec.options,
                spec.requested,
                keep=spec.keep,
                created=spec.created,
            )
            managed.idle_timeout = (
                self.default_idle_timeout(managed.profile)
                if spec.idle_timeout is None
                else spec.idle_timeout
            )
            managed.job_ids = list(spec.job_ids)
            managed.credentials = spec.credentials()
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
            if spec.adapt is not None:
                managed.adapt_bounds = AdaptBounds(*spec.adapt)
            log.info("reattached cluster %s (%s): %s", spec.id, spec.name, found.why)
            self._notify("created", managed)
        self._poll_now.set()

    def _profile_of(self, name: str, backend_name: str) -> Profile:
        """The profile a surviving cluster was started from; if the configuration no longer has
        it, one with the same backend, so that its jobs can still be read and killed."""
        profile = self.profiles.get(name)
        if profile is not None and profile.backend.name == backend_name:
            return profile
        for other in self.profiles.values():
            if other.backend.name == backend_name:
                return Profile(name, name, other.backend)
        return Profile(name, name, BACKENDS[backend_name]())

    async def _kill_leftovers(self) -> None:
        backends = {p.backend.name: p.backend for p in self.profiles.values()}
        reconciled = True
        orphans = await self.ledger.orphans(job_alive_from(backends))
        for backend_name, by_cluster in orphans.jobs.items():
            backend = backends.get(backend_name)
            job_ids = [j for ids in by_cluster.values() for j in ids]
            if backend is None or not job_ids:
                continue
            try:
                states = await backend.job_states(job_ids)
                doomed = [
                    j
                    for cluster_id, ids in by_cluster.items()
                    for j in ids
                    if j in states
                    and not states[j].finished
                    and job_is_ours(backend, cluster_id, states[j])
                ]
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

    def _ours(self) -> list[ManagedCluster]:
        """The clusters this server drives (not those another JupyterLab took over)."""
        return [m for m in self._clusters.values() if not m.elsewhere]

    async def _poll_jobs_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), self._next_poll_s())
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
        self._drop_ended_elsewhere()
        by_backend: dict[str, tuple[Backend, list[str]]] = {}
        for managed in self._ours():
            unconfirmed = managed.id in self._unconfirmed_closes
            if managed.backend.has_jobs and (
                managed.phase in (Phase.RUNNING, Phase.FAILED) or unconfirmed
            ):
                entry = by_backend.setdefault(managed.backend.name, (managed.backend, []))
                entry[1].extend(managed.unfinished_job_ids())
        for backend, job_ids in by_backend.values():
            if not job_ids:
                continue
            clusters = [m for m in self._ours() if m.backend is backend]
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
        for managed in self._ours():
            if managed.backend.has_jobs and managed.phase is Phase.RUNNING:
                await self._replace_ended_jobs(managed)
            elif managed.id in self._unconfirmed_closes and not managed.unfinished_job_ids():
                self._spawn(self._complete_close(managed.id))
        self._close_idle()
        # Compared with the previous refresh, not the start of this one: workers connect between
        # two refreshes, without any job changing.
        seen: dict[str, tuple[Any, ...]] = {}
        for managed in list(self._clusters.values()):
            seen[managed.id] = self._fingerprint(managed)
            if self._fingerprints.get(managed.id) != seen[managed.id]:
                self._notify("updated", managed)
        self._fingerprints = seen

    def _next_poll_s(self) -> float:
        """Until the next refresh: the poll interval, or sooner when an idle cluster's time is
        up before then (its close is on time, not up to a poll interval late)."""
        now = time.time()
        due = [c for c in (m.closes_at() for m in self._clusters.values()) if c is not None]
        return max(0.05, min([self.poll_interval, *(c - now for c in due)]))

    def _close_idle(self) -> None:
        """Start or stop each running cluster's idle clock, and close those whose time is up.
        The clock runs once the cluster has the workers it asked for; an adaptive cluster with
        nothing to do is idle at its minimum like any other."""
        now = time.time()
        for managed in list(self._clusters.values()):
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
                    self._notify("updated", managed)
                continue
            if managed.idle_since is None:
                managed.idle_since = now
                self._notify("updated", managed)  # the card's countdown starts
            closes_at = managed.closes_at()
            if closes_at is not None and now >= closes_at:
                reason = (
                    f"idle: no client and no task for {managed.idle_timeout:g} s "
                    f"(idle_timeout); its jobs were killed"
                )
                log.info("closing cluster %s (%s): %s", managed.id, managed.name, reason)
                managed.idle_since = None
                self._spawn(self._close_quietly(managed.id, reason))

    async def _close_quietly(self, cluster_id: str, reason: str) -> None:
        try:
            await self.close(cluster_id, reason)
        except ClusterNotFound:
            pass  # deleted meanwhile
        except SchedulerCommandFailed as error:
            # It stays closing with the scheduler's error; a later refresh completes the close.
            log.warning("idle cluster %s not confirmed closed: %s", cluster_id, error.message)
        except Exception:
            log.exception("closing idle cluster %s", cluster_id)

    async def _replace_ended_jobs(self, managed: ManagedCluster) -> None:
        """Keep `requested` live jobs: resubmit for jobs that ended by themselves, and submit
        ahead for jobs about to reach their walltime (at most one extra per requested worker).
        Failures back off, and after a few in a row the cluster is degraded (replacement.py)."""
        policy = managed.replacement
        policy.judge(managed.ended_jobs(), managed.connected_jobs | managed.cancelled_jobs)
        if policy.gave_up is not None:
            managed.error = policy.gave_up
            return
        handle = managed.handle
        if handle is None or managed.adapt_bounds is not None:
            if handle is not None:
                # Adaptive mode replaces workers itself once the ended ones are forgotten.
                await self._forget_ended(managed, handle)
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
            await self._forget_ended(managed, handle)
            # Only ever up: specs beyond `live` are submissions still in flight.
            if handle.submissions() < wanted:
                log.info(
                    "cluster %s: %d live jobs, submitting up to %d", managed.id, len(live), wanted
                )
                await handle.scale(wanted)
                policy.submitted(now)

    @staticmethod
    def _fingerprint(managed: ManagedCluster) -> tuple[Any, ...]:
        jobs = tuple((j.job_id, j.native_state, j.hosts, j.reason) for j in managed.jobs.values())
        return (
            managed.status,
            managed.connected,
            managed.error,
            managed.warning,
            managed.elsewhere,
            jobs,
        )
