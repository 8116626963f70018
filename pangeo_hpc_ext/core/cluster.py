"""One cluster as the manager keeps it: the handle of its dask cluster, our lifecycle phase, its
batch jobs."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from ..backends import Backend
from ..backends.tls import ClusterCredentials
from ..schedulers.arrays import JobArrays
from ..schedulers.base import JobInfo, JobState, job_time
from .handle import AdaptBounds, ClusterHandle, ClusterSpec
from .lifecycle import Phase, Status
from .profiles import Profile
from .replacement import ReplacementPolicy

# Finished jobs stay listed so users see why they ended; the newest few are enough.
FINISHED_JOBS_SHOWN = 20


def iso_seconds(text: str | None) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (UTC when it names no zone)."""
    moment = job_time(text)
    return None if moment is None else moment.timestamp()


def submitted_job(job_id: str, arrays: JobArrays | None = None) -> JobInfo:
    """A job the scheduler accepted and whose state has not been read yet; an array's element
    says so from the start (its id tells), not from the first state query on."""
    array = arrays.parse_element_id(job_id) if arrays is not None else None
    return JobInfo(job_id=job_id, state=JobState.PENDING, native_state="SUBMITTED", array=array)


class ManagedCluster:
    """One cluster and what we know of it. `phase` is our lifecycle; `status` adds scaling."""

    def __init__(self, spec: ClusterSpec, profile: Profile) -> None:
        # What the cluster is (id, options, size, bounds, job ids): held here, not copied, and
        # handed as such to the host that starts it and to the record a later server reads.
        self.spec = spec
        self.profile = profile
        self.phase = Phase.STARTING
        self.error: str | None = None
        self.handle: ClusterHandle | None = None
        # Jobs this server saw submitted; others (read from a record) are killed only once the
        # scheduler confirms they are this cluster's.
        self.submitted_here: set[str] = set()
        self.jobs: dict[str, JobInfo] = {}
        # Jobs whose worker connected at least once: their end is routine, not a failure.
        self.connected_jobs: set[str] = set()
        self.cancelled_jobs: set[str] = set()
        # Running jobs near their walltime that a replacement was submitted for.
        self.replaced_jobs: set[str] = set()
        # Ended jobs the cluster was told to drop (it is told once per job).
        self.forgotten_jobs: set[str] = set()
        self.replacement = ReplacementPolicy()
        # Set when job states could not be read: what is shown may be stale.
        self.warning: str | None = None
        # Set when another JupyterLab took the cluster over: it runs on, but this server no
        # longer reads its jobs, changes it or kills anything of it.
        self.elsewhere: str | None = None
        # Since when (wall clock) the cluster has had no client and no task; None while in use
        # or not running.
        self.idle_since: float | None = None
        # Our own accounting, by job: when we saw it start and end (wall clock). A scheduler's
        # accounting lags, or is off (Slurm without slurmdbd), and ours is what the card shows.
        self.run_times: dict[str, tuple[float, float | None]] = {}
        self.lock = asyncio.Lock()

    @classmethod
    def create(
        cls,
        profile: Profile,
        cluster_id: str,
        name: str,
        options: dict[str, Any],
        requested: int,
        *,
        keep: bool = False,
        idle_timeout: float = 0.0,
    ) -> ManagedCluster:
        """A new cluster of this profile (`keep`: it outlives the server whatever the server's
        on_server_stop says; `idle_timeout`: seconds with no client and no task before it is
        closed, 0 for never)."""
        spec = ClusterSpec(
            id=cluster_id,
            name=name,
            profile=profile.name,
            backend=profile.backend.name,
            options=options,
            requested=requested,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            keep=keep,
            idle_timeout=idle_timeout,
        )
        return cls(spec, profile)

    # -- what the spec holds ---------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def options(self) -> dict[str, Any]:
        return self.spec.options

    @property
    def created(self) -> str:
        return self.spec.created

    @property
    def keep(self) -> bool:
        return self.spec.keep

    @property
    def requested(self) -> int:
        return self.spec.requested

    @requested.setter
    def requested(self, workers: int) -> None:
        self.spec.requested = workers

    @property
    def job_ids(self) -> list[str]:
        return self.spec.job_ids

    @job_ids.setter
    def job_ids(self, job_ids: list[str]) -> None:
        self.spec.job_ids = job_ids

    @property
    def adapt_bounds(self) -> AdaptBounds | None:
        return self.spec.adapt

    @adapt_bounds.setter
    def adapt_bounds(self, bounds: AdaptBounds | None) -> None:
        self.spec.adapt = bounds

    @property
    def idle_timeout(self) -> float:
        return self.spec.idle_timeout or 0.0

    @idle_timeout.setter
    def idle_timeout(self, seconds: float) -> None:
        self.spec.idle_timeout = seconds

    @property
    def credentials(self) -> ClusterCredentials | None:
        return self.spec.credentials()

    @credentials.setter
    def credentials(self, credentials: ClusterCredentials | None) -> None:
        self.spec.credentials_dir = str(credentials.directory) if credentials else None

    # -- what the cluster is now ---------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        return self.profile.backend

    @property
    def connected(self) -> int:
        return self.handle.connected() if self.handle is not None else 0

    @property
    def target(self) -> int:
        if self.adapt_bounds is not None and self.handle is not None:
            return self.handle.planned()
        return self.requested

    @property
    def status(self) -> Status:
        if self.phase is not Phase.RUNNING:
            return self.phase
        if self.replacement.gave_up is not None:
            return Status.DEGRADED
        return Status.RUNNING if self.connected >= self.target else Status.SCALING

    @property
    def scheduler_address(self) -> str | None:
        return self.handle.scheduler_address if self.handle is not None else None

    @property
    def dashboard_port(self) -> int | None:
        return self.handle.dashboard_port if self.handle is not None else None

    def resources(self) -> tuple[int, int]:
        """Cores and memory (bytes) of the connected workers."""
        return self.handle.resources() if self.handle is not None else (0, 0)

    def closes_at(self) -> float | None:
        """When (wall clock) the idle cluster will be closed; None while it is in use."""
        if self.idle_since is None or not self.idle_timeout:
            return None
        return self.idle_since + self.idle_timeout

    def idle_json(self) -> dict[str, Any]:
        closes_at = self.closes_at()
        return {
            "timeout_s": self.idle_timeout,
            "closes_at": None
            if closes_at is None
            else datetime.fromtimestamp(closes_at, timezone.utc).isoformat(timespec="seconds"),
        }

    def note_run_times(self, now: float | None = None) -> None:
        """Record when each job was first seen running and first seen ended, from the states
        just read. A start the scheduler reports is used when it has one (a job that started
        between two reads, or before a restart)."""
        now = time.time() if now is None else now
        for job_id in self.job_ids:
            job = self.jobs.get(job_id)
            if job is None:
                continue
            known = self.run_times.get(job_id)
            if known is None:
                if job.state in (JobState.RUNNING, JobState.SUSPENDED):
                    self.run_times[job_id] = (min(now, iso_seconds(job.started) or now), None)
                elif job.finished and job.started:
                    start = iso_seconds(job.started)
                    if start is not None:
                        self.run_times[job_id] = (min(now, start), now)
            elif known[1] is None and job.finished:
                self.run_times[job_id] = (known[0], now)

    def core_hours(self, now: float | None = None) -> float:
        """Cores times the time each job ran (until now for those still running), in hours."""
        now = time.time() if now is None else now
        cores = self.backend.job_cores(self.options)
        seconds = sum(max(0.0, (end or now) - start) for start, end in self.run_times.values())
        return round(cores * seconds / 3600, 4)

    def cores_held(self) -> int:
        """Cores of the jobs that hold an allocation now (running or suspended)."""
        held = sum(
            1
            for job_id in self.unfinished_job_ids()
            if job_id in self.jobs
            and self.jobs[job_id].state in (JobState.RUNNING, JobState.SUSPENDED)
        )
        return held * self.backend.job_cores(self.options)

    def visible_jobs(self) -> list[JobInfo]:
        arrays = self.backend.job_arrays
        jobs = [self.jobs.get(j) or submitted_job(j, arrays) for j in self.job_ids]
        finished = [j for j in jobs if j.finished]
        hidden = {j.job_id for j in finished[:-FINISHED_JOBS_SHOWN]}
        return [j for j in jobs if j.job_id not in hidden]

    def ended_by(self, job: JobInfo) -> str | None:
        """Why an ended job ended when we ended it on purpose, so that users read a routine end
        as one ("walltime-replacement", "scale-down"); None while it runs or when it ended by
        itself (a failure, or the scheduler's kill)."""
        if not job.finished:
            return None
        if job.job_id in self.replaced_jobs:
            return "walltime-replacement"
        if job.job_id in self.cancelled_jobs:
            return "scale-down"
        return None

    def ended_jobs(self) -> list[JobInfo]:
        return [self.jobs[j] for j in self.job_ids if j in self.jobs and self.jobs[j].finished]

    def ended_job_ids(self) -> set[str]:
        return {job_id for job_id, info in self.jobs.items() if info.finished}

    def unfinished_job_ids(self, among: list[str] | None = None) -> list[str]:
        """Job ids (of all ours, or of `among`) not known to have finished."""
        ids = self.job_ids if among is None else among
        return [j for j in ids if not (j in self.jobs and self.jobs[j].finished)]

    def unforgotten_ended(self) -> frozenset[str]:
        """Ended jobs the cluster has not been told to drop yet."""
        return frozenset(self.ended_job_ids() - self.forgotten_jobs)

    def fingerprint(self) -> tuple[Any, ...]:
        """What listeners are told of when it changes."""
        jobs = tuple((j.job_id, j.native_state, j.hosts, j.reason) for j in self.jobs.values())
        return (self.status, self.connected, self.error, self.warning, self.elsewhere, jobs)
