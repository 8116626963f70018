"""Inside every dask scheduler started by a kernel of a Jupyter server with pangeo-hpc-ext.

Loaded through dask's `distributed.scheduler.preload` (the server puts it into its kernels'
environment): the scheduler registers from its first moment, keeps its entry current as workers
and jobs come and go (a periodic callback of the scheduler's own, so nothing outlives it), removes
the entry when it closes, and closes its cluster when JupyterLab asks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
from distributed import Scheduler
from distributed.deploy.spec import SpecCluster
from distributed.protocol import deserialize
from distributed.protocol.pickle import dumps
from distributed.protocol.serialize import Serialized
from tornado.ioloop import PeriodicCallback

from ..dashboard_access import guard, key_of, new_key
from ..paths import write_json_atomic
from ..schedulers.registry import SCHEDULERS
from ..worker_changes import WorkerChanges
from .registry import (
    FORMAT_VERSION,
    REGISTRY_VAR,
    RegistryUnavailable,
    client_credentials,
    close_request_path,
    entry_path,
    new_entry_id,
    private_directory_problem,
    registry_directory,
)

log = logging.getLogger(__name__)

PLUGIN_NAME = "pangeo-hpc-registration"
REFRESH_INTERVAL_MS = 1000
# Where each batch scheduler tells a job's processes their job id.
JOB_ID_VARIABLES = tuple((s.job_id_variable, s.name) for s in SCHEDULERS.values())
# A worker's job id in the form the cluster object's jobs have (PBS: "12" of "12.server"), so
# that a job its cluster and its worker both name is listed once.
JOBQUEUE_IDS = {s.name: s.jobqueue_job_id for s in SCHEDULERS.values()}
# dask-jobqueue's job classes: a cluster object in this process knows its jobs before their
# workers connect (pending jobs included).
JOB_CLASSES = {s.jobqueue_job_class: s.name for s in SCHEDULERS.values()}


def dask_setup(scheduler: Scheduler) -> None:
    try:
        directory = registry_directory()
    except RegistryUnavailable as error:
        if REGISTRY_VAR in os.environ:  # unset: not started by our server, nothing to say
            log.warning("not registering this scheduler with JupyterLab: %s", error)
        return
    # Before the scheduler is announced: from then on only our proxy, which reads the key from
    # the private registry entry, reaches its dashboard. Its HTTP server has listened since the
    # scheduler's constructor; the guard comes with the scheduler's start, before the
    # notebook's `await`/`Cluster(...)` returns.
    guard(scheduler.http_application, new_key())
    Registration(scheduler, directory).install()


def job_kind(job: Any) -> str | None:
    for cls in type(job).__mro__:
        if cls.__name__ in JOB_CLASSES:
            return JOB_CLASSES[cls.__name__]
    return None


def cluster_jobs(cluster: SpecCluster | None) -> list[dict[str, str]]:
    jobs = []
    for job in list(getattr(cluster, "workers", {}).values()):
        kind, job_id = job_kind(job), getattr(job, "job_id", None)
        if kind and job_id:
            jobs.append({"kind": kind, "job_id": str(job_id)})
    return jobs


def adapt_bounds(cluster: SpecCluster | None) -> dict[str, int] | None:
    adaptive = getattr(cluster, "_adaptive", None)  # what Cluster.adapt() made, if anything
    if adaptive is None or not getattr(adaptive, "periodic_callback", None):
        return None
    return {"minimum": int(adaptive.minimum), "maximum": int(adaptive.maximum)}


async def worker_variable(scheduler: Scheduler, worker: str, name: str) -> str | None:
    """One environment variable of a worker process, asked over dask's own `run` message;
    os.getenv pickles by reference, so it works whatever the worker has installed."""
    try:
        answers = await scheduler.broadcast(
            msg={"op": "run", "function": dumps(os.getenv), "args": dumps((name,))},
            workers=[worker],
            on_error="ignore",
        )
    except Exception:  # the worker left, or refuses `run`: its job stays unknown
        return None
    result = (answers.get(worker) or {}).get("result")
    if isinstance(result, Serialized):
        result = deserialize(result.header, result.frames)
    return result if isinstance(result, str) else None


class Registration(WorkerChanges):
    def __init__(self, scheduler: Scheduler, directory: Path) -> None:
        super().__init__(joined=self._worker_joined, left=self._worker_left)
        self.scheduler = scheduler
        self.directory = directory
        self.id = new_entry_id()
        self.path = entry_path(directory, self.id)
        self.close_request = close_request_path(directory, self.id)
        process = psutil.Process()
        self.identity = {
            "version": FORMAT_VERSION,
            "id": self.id,
            "host": socket.gethostname(),
            "pid": process.pid,
            "create_time": process.create_time(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.worker_jobs: dict[str, dict[str, str]] = {}
        self._cluster: weakref.ref[SpecCluster] | None = None
        self._written: dict[str, Any] | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._close_task: asyncio.Future[Any] | None = None

    def install(self) -> None:
        self.scheduler.add_plugin(self, name=PLUGIN_NAME, idempotent=True)
        # Started and stopped with the scheduler's own periodic callbacks.
        self.scheduler.periodic_callbacks[PLUGIN_NAME] = PeriodicCallback(
            self.refresh, REFRESH_INTERVAL_MS
        )
        self.refresh()

    # -- scheduler events ----------------------------------------------------------------------

    def _worker_joined(self, worker: Any) -> None:
        self._spawn(self._learn_job(worker.address))

    def _worker_left(self, address: str) -> None:
        self.worker_jobs.pop(address, None)

    async def before_close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        self.close_request.unlink(missing_ok=True)
        # JupyterLab reads the entry's removal as "closed": a close it asked for is over only once
        # the cluster object is closed too, which comes after its scheduler.
        if self._close_task is None:
            self.path.unlink(missing_ok=True)

    # -- the entry -------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self._closing:
            return
        if self.close_request.exists():
            self._close_on_request()
            return
        # Gone with its server: never recreate it (it would not be private any more).
        if private_directory_problem(self.directory) is not None:
            return
        entry = self.describe()
        if entry == self._written:
            return
        try:
            write_json_atomic(self.path, entry)
        except OSError as error:
            log.debug("could not update %s: %s", self.path, error)
            return
        self._written = entry

    def describe(self) -> dict[str, Any]:
        scheduler, cluster = self.scheduler, self.cluster()
        info = scheduler.get_metadata(["cluster-manager-info"], default=None) or {}
        dashboard = scheduler.services.get("dashboard")
        class_name = type(cluster).__name__ if cluster else str(info.get("type", ""))
        return {
            **self.identity,
            "address": scheduler.address,
            "dashboard_port": getattr(dashboard, "port", None),
            "name": str(cluster.name if cluster else info.get("name") or scheduler.id),
            "cluster_class": class_name.rsplit(".", 1)[-1] or None,
            "workers": [
                {
                    "address": ws.address,
                    "name": str(ws.name),
                    "host": ws.host,
                    "nthreads": ws.nthreads,
                    "memory_limit": ws.memory_limit,
                    "dashboard_port": ws.services.get("dashboard"),
                    "job": self.worker_jobs.get(ws.address),
                }
                for ws in scheduler.workers.values()
            ],
            "jobs": cluster_jobs(cluster),
            "requested": len(cluster.plan) if cluster else None,
            "adapt": adapt_bounds(cluster),
            "tls": client_credentials(cluster),
            "dashboard_key": key_of(scheduler),
        }

    def cluster(self) -> SpecCluster | None:
        """The cluster object that started this scheduler, when it lives in this process."""
        if self._cluster is not None:
            return self._cluster()
        for cluster in list(SpecCluster._instances):
            if cluster.scheduler is self.scheduler:
                self._cluster = weakref.ref(cluster)
                return cluster
        return None

    # -- internals -------------------------------------------------------------------------------

    async def _learn_job(self, worker: str) -> None:
        for name, kind in JOB_ID_VARIABLES:
            value = await worker_variable(self.scheduler, worker, name)
            if value:
                # A worker inside this scheduler's own job (a LocalCluster in a Jupyter that runs
                # as a batch job) has no job of its own.
                if value != os.environ.get(name) and worker in self.scheduler.workers:
                    job_id = JOBQUEUE_IDS[kind](value)
                    self.worker_jobs[worker] = {"kind": kind, "job_id": job_id}
                    self.refresh()
                return

    def _close_on_request(self) -> None:
        self.close_request.unlink(missing_ok=True)
        if self._close_task is not None:
            return
        cluster = self.cluster()
        if cluster is not None:
            # Cluster.close() would block this very loop when the cluster is synchronous; its
            # coroutine scales to zero (killing the batch jobs) and then closes this scheduler.
            # Not in _tasks: before_close, which it triggers, must not cancel it.
            self._close_task = asyncio.ensure_future(cluster._close())
        else:
            self._close_task = asyncio.ensure_future(
                self.scheduler.close(reason="closed from JupyterLab")
            )
        self._close_task.add_done_callback(lambda _: self.path.unlink(missing_ok=True))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
