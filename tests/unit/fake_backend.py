"""A backend whose "scheduler" is a dict, to drive the cluster core without Dask or a server.

Only the core's own logic is under test here; the real backends are proved against real
schedulers in the integration suites."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from typing import Any

from pangeo_hpc_ext.backends.base import Backend, JobEvents
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState


class FakeAdaptive:
    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


class FakeWorkerState:
    def __init__(self, name: str) -> None:
        self.name = name
        self.nthreads = 1
        self.memory_limit = 0
        self.processing: set[str] = set()


class FakeScheduler:
    def __init__(self) -> None:
        self.workers: dict[str, Any] = {}
        self.plugins: dict[str, Any] = {}
        # What idle shutdown reads: clients by name, tasks queued or with no worker to run them.
        self.clients: dict[str, Any] = {"fire-and-forget": None}
        self.queued: set[str] = set()
        self.unrunnable: dict[str, Any] = {}

    def add_plugin(self, plugin: Any, name: str) -> None:
        self.plugins[name] = plugin


class FakeCluster:
    """What the manager uses of a dask SpecCluster: scale, adapt, close, scheduler, plan."""

    scheduler_address = "tcp://127.0.0.1:1"

    def __init__(self, backend: FakeBackend, events: JobEvents, job_name: str) -> None:
        self.backend = backend
        self.job_name = job_name
        self.events = events
        self.scheduler = FakeScheduler()
        self.workers: dict[str, Any] = {}
        self.plan: set[str] = set()
        self.scaled: list[int] = []
        self.closed = 0

    @property
    def worker_spec(self) -> dict[str, Any]:
        return {j: None for j in self.backend.jobs_of(self) if not self.backend.states[j].finished}

    def scale(self, n: int) -> None:
        self.scaled.append(n)
        live = [j for j in self.backend.jobs_of(self) if not self.backend.states[j].finished]
        # Scaling down closes the newest jobs' workers, as dask-jobqueue's Job.close does: it
        # tells the job cancelled, then the scheduler kills it.
        for job_id in live[n:] if n < len(live) else []:
            self.events.cancelled(job_id)
            self.backend.states[job_id] = JobInfo(
                job_id, JobState.FAILED, "EXIT", reason="TERM_OWNER: job killed by owner"
            )
        for _ in range(n - len(live)):
            if self.backend.refuse:
                self.events.submit_failed(f"fake: {self.backend.refuse}")
                return
            self.events.submitted(self.backend.submit(self))

    def adapt(self, minimum: int, maximum: int) -> FakeAdaptive:
        return FakeAdaptive()

    async def close(self) -> None:
        self.closed += 1


class FakeBackend(Backend):
    name = "fake"
    label = "fake"
    has_jobs = True

    def __init__(self) -> None:
        self.refuse: str | None = None
        self.start_gate: asyncio.Event | None = None
        self.start_error: Exception | None = None
        self.states: dict[str, JobInfo] = {}
        self.owner: dict[str, FakeCluster] = {}
        self.killed: list[str] = []
        self.cancelled_elsewhere: list[str] = []
        self.clusters: list[FakeCluster] = []
        self.forgotten: list[set[str]] = []
        self.ahead_s: float | None = None
        self._ids = itertools.count(100)

    def default_options(self) -> dict[str, Any]:
        return {}

    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": {}}

    async def start_cluster(
        self, options: dict[str, Any], *, name: str, events: JobEvents, security: Any = None
    ) -> FakeCluster:  # type: ignore[override]
        self.security = security
        if self.start_gate is not None:
            await self.start_gate.wait()
        if self.start_error is not None:
            raise self.start_error
        cluster = FakeCluster(self, events, f"fake-{name}")
        self.clusters.append(cluster)
        return cluster

    def job_name(self, cluster_id: str) -> str | None:
        return f"fake-{cluster_id}"

    def submit(self, cluster: FakeCluster) -> str:
        job_id = str(next(self._ids))
        self.states[job_id] = JobInfo(job_id, JobState.PENDING, "PEND", name=cluster.job_name)
        self.owner[job_id] = cluster
        return job_id

    def jobs_of(self, cluster: FakeCluster) -> list[str]:
        return [j for j, c in self.owner.items() if c is cluster]

    def run(self, job_id: str, walltime_left_s: int | None = None) -> None:
        self.states[job_id] = replace(
            self.states[job_id],
            state=JobState.RUNNING,
            native_state="RUN",
            walltime_left_s=walltime_left_s,
        )

    def connect(self, job_id: str) -> None:
        """The job's worker joins the scheduler (the worker's name is its job id here)."""
        scheduler = self.owner[job_id].scheduler
        scheduler.workers[f"tcp://{job_id}"] = FakeWorkerState(job_id)
        scheduler.plugins["pangeo-hpc-worker-changes"].add_worker(scheduler, f"tcp://{job_id}")

    def job_of_worker(self, cluster: Any, worker_name: str) -> str | None:
        return worker_name if worker_name in self.owner else None

    def replace_ahead_s(self, options: dict[str, Any]) -> float | None:
        return self.ahead_s

    def end(self, job_id: str, reason: str = "TERM_RUNLIMIT") -> None:
        self.owner[job_id].scheduler.workers.pop(f"tcp://{job_id}", None)
        self.states[job_id] = replace(
            self.states[job_id], state=JobState.FAILED, native_state="EXIT", reason=reason
        )

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        return {j: self.states[j] for j in job_ids if j in self.states}

    async def kill_jobs(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.killed.append(job_id)
            self.states[job_id] = replace(
                self.states.get(job_id) or JobInfo(job_id, JobState.FAILED, "EXIT"),
                state=JobState.FAILED,
                native_state="EXIT",
                reason="TERM_OWNER",
            )

    def jobs_cancelled(self, job_ids: list[str]) -> None:
        self.cancelled_elsewhere.extend(job_ids)

    def forget_ended_workers(self, cluster: Any, ended_job_ids: set[str]) -> None:
        self.forgotten.append(set(ended_job_ids))
