"""The runtime that holds a dask cluster in the calling process: the supervisor's, and the
host the core's unit tests drive. Only processes that run a cluster import distributed."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

import dask
from distributed.deploy import Adaptive, SpecCluster

from ..backends import Backend
from ..core.handle import ClusterEvents, ClusterHandle, ClusterHost, ClusterSpec
from ..worker_changes import WorkerChanges

CLOSE_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)

# What a cluster's start imports besides distributed itself: dask-jobqueue's cluster classes,
# and the scheduler's dashboard (bokeh) and HTTP routes. Together 1.5 s on a quiet login node,
# 4 s on a loaded one: more than TLS adds to a start, and more than the time from a scheduler's
# start to its first job.
START_IMPORTS = ("dask_jobqueue", "distributed.dashboard.scheduler")


def import_ahead() -> None:
    """Import what starting a cluster will, in a spare supervisor while it waits for its cluster:
    the first start in a process otherwise spends seconds on it. A module that fails to import
    is left for the start to report (the dashboard's, without bokeh, is optional to dask)."""
    routes = dask.config.get("distributed.scheduler.http.routes", default=[]) or []
    for name in (*START_IMPORTS, *routes):
        try:
            importlib.import_module(name)
        except Exception as error:  # any import error: the spare must live to take its cluster
            log.debug("not imported ahead: %s (%s)", name, error)


class InProcessCluster(ClusterHandle):
    """A dask cluster whose scheduler runs in this process."""

    def __init__(self, cluster: SpecCluster, backend: Backend, events: ClusterEvents) -> None:
        self.cluster = cluster
        self.backend = backend
        self.adaptive: Adaptive | None = None
        # The handle's owner hears of a worker the moment it joins or leaves, not at a refresh.
        cluster.scheduler.add_plugin(
            WorkerChanges(
                joined=lambda state: events.worker_joined(
                    backend.job_of_worker(cluster, str(state.name))
                ),
                left=lambda _address: events.worker_left(),
            ),
            name="pangeo-hpc-worker-changes",
        )

    @classmethod
    async def start(
        cls, spec: ClusterSpec, backend: Backend, events: ClusterEvents
    ) -> InProcessCluster:
        credentials = spec.credentials()
        cluster = await backend.start_cluster(
            spec.options,
            name=spec.id,
            events=events.jobs,
            security=credentials.security() if credentials else None,
        )
        return cls(cluster, backend, events)

    @property
    def scheduler(self) -> Any:
        return getattr(self.cluster, "scheduler", None)

    @property
    def scheduler_address(self) -> str | None:
        return self.cluster.scheduler_address if self.scheduler is not None else None

    @property
    def dashboard_port(self) -> int | None:
        server = getattr(self.scheduler, "http_server", None)
        return server.port if server is not None else None

    @property
    def dashboard_key(self) -> str | None:
        # New at each start and never written to disk: a server that reattaches learns it from
        # the supervisor's state, over its socket.
        return self.backend.dashboard_key(self.cluster)

    def connected(self) -> int:
        return len(self.scheduler.workers) if self.scheduler is not None else 0

    def resources(self) -> tuple[int, int]:
        if self.scheduler is None:
            return 0, 0
        workers = self.scheduler.workers.values()
        return sum(w.nthreads for w in workers), sum(w.memory_limit or 0 for w in workers)

    def worker_dashboards(self) -> set[tuple[str, int]]:
        found = set()
        for worker in getattr(self.scheduler, "workers", {}).values():
            port = worker.services.get("dashboard")
            if port:
                found.add((worker.host, int(port)))
        return found

    def connected_job_ids(self) -> set[str]:
        workers = getattr(self.scheduler, "workers", {}).values()
        found = (self.backend.job_of_worker(self.cluster, str(w.name)) for w in workers)
        return {job_id for job_id in found if job_id is not None}

    def clients(self) -> int:
        """Dask clients connected to the scheduler (its own fire-and-forget entry aside)."""
        if self.scheduler is None:
            return 0
        return sum(1 for name in self.scheduler.clients if name != "fire-and-forget")

    def tasks(self) -> int:
        scheduler = self.scheduler
        if scheduler is None:
            return 0
        # Counted per state set, not by walking every task: this runs twice a second.
        processing = sum(len(w.processing) for w in scheduler.workers.values())
        return (
            processing
            + len(getattr(scheduler, "queued", ()))
            + len(getattr(scheduler, "unrunnable", ()))
        )

    def planned(self) -> int:
        return len(self.cluster.plan)

    def submissions(self) -> int:
        return len(self.cluster.worker_spec)

    async def scale(
        self, workers: int, *, requested: int | None = None, ended: frozenset[str] = frozenset()
    ) -> None:
        if ended:
            self.backend.forget_ended_workers(self.cluster, set(ended))
        if requested is not None:
            await self.stop_adapt()
        self.cluster.scale(workers)

    async def adapt(self, minimum: int, maximum: int) -> None:
        await self.stop_adapt()
        self.adaptive = self.cluster.adapt(minimum=minimum, maximum=maximum)

    async def stop_adapt(self) -> None:
        """Back to a manual size (the caller scales next)."""
        if self.adaptive is not None:
            self.adaptive.stop()
        self.adaptive = None

    async def forget_ended(self, job_ids: set[str]) -> None:
        self.backend.forget_ended_workers(self.cluster, job_ids)

    async def close(self) -> None:
        await self.stop_adapt()
        await asyncio.wait_for(self.cluster.close(), CLOSE_TIMEOUT_S)


class InProcessHost(ClusterHost):
    """Clusters in the server's own process: they end with it."""

    async def start(
        self, spec: ClusterSpec, backend: Backend, events: ClusterEvents
    ) -> ClusterHandle:
        return await InProcessCluster.start(spec, backend, events)
