"""What every dask-jobqueue backend shares: worker jobs submitted through our scheduler client
(which keeps the scheduler's own refusal text), job ids reported as they are accepted, a cap on
submissions in flight, and workers whose job ended forgotten so that a new one can replace them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dask

from .. import dask_defaults
from ..errors import FieldError, SchedulerCommandFailed
from ..paths import default_data_dir
from ..schedulers.arrays import JobArrays
from ..schedulers.base import JobInfo, QueueInfo, SchedulerClient
from ..schedulers.registry import Scheduler
from .base import Backend, JobEvents
from .job_array import JobSubmissions
from .option_types import (
    DIRECTIVE_PATTERN,
    check_log_directory,
    check_memory,
    check_processes,
    create_log_directory,
    log_directory_path,
    memory_property,
)

if TYPE_CHECKING:
    from dask_jobqueue.core import Job, JobQueueCluster
    from distributed.deploy import SpecCluster
    from distributed.security import Security

log = logging.getLogger(__name__)

# A worker always runs an HTTP server (distributed starts one even with --no-dashboard) and by
# default on 0.0.0.0, serving /metrics, /health and, with its dashboard, Bokeh pages of what it
# computes, to anyone who can reach the node. Nothing of ours needs it: the scheduler's dashboard
# (and its worker info pages and logs, fetched over the cluster's TLS comms) covers the workers.
# So workers start without a dashboard, without HTTP routes, and with that server on loopback.
WORKER_HTTP_ARGS = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")
WORKER_HTTP_ROUTES_LINE = "export DASK_DISTRIBUTED__WORKER__HTTP__ROUTES='[]'"

# Time a replacement job may need to be dispatched and connect, on top of the retiring worker's
# margin: submitted this long ahead, it is there before the old worker leaves when slots allow.
REPLACEMENT_LEAD_S = 120.0


@dataclass(frozen=True)
class WorkerLifetime:
    """A worker retires by itself (handing its data and tasks over) this long after it starts,
    give or take the stagger, well before the scheduler kills its job at the walltime."""

    lifetime_s: int
    stagger_s: int

    @classmethod
    def for_walltime(cls, walltime_s: float) -> WorkerLifetime:
        margin = min(max(walltime_s * 0.1, 30.0), 600.0)
        lifetime = walltime_s / 2 if walltime_s <= 2 * margin else walltime_s - margin
        # distributed staggers by +-stagger: half the margin keeps the latest retirement clear
        # of the walltime, and spreads a cluster's retirements so they do not all go at once.
        return cls(int(lifetime), int(min(lifetime * 0.1, margin / 2, 300.0)))

    def worker_args(self) -> list[str]:
        return ["--lifetime", f"{self.lifetime_s}s", "--lifetime-stagger", f"{self.stagger_s}s"]

    def replace_ahead_s(self, walltime_s: float) -> float:
        """Walltime left when a job's worker may start retiring, plus the replacement's lead."""
        return walltime_s - self.lifetime_s + self.stagger_s + REPLACEMENT_LEAD_S


# Scaling to 100 workers must not fire 100 submissions at once: a busy mbatchd/slurmctld answers
# slowly to all of them, and the login node (where this server runs) starves. Ten in flight keeps
# submissions quick without flooding either.
SUBMISSIONS_IN_FLIGHT = 10
_submission_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _submission_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    return _submission_slots.setdefault(loop, asyncio.Semaphore(SUBMISSIONS_IN_FLIGHT))


def skip_used_worker_names(cluster: SpecCluster, forgotten: list[Any]) -> None:
    """Let the cluster's next workers never take a forgotten worker's name.

    SpecCluster names a new worker by a counter it advances only past names still in its spec,
    so a replacement would get the name of the worker it replaces. dask then closes the
    replacement's job: when the old worker leaves the scheduler, a timer (lost-worker-timeout,
    15 s) closes whatever job holds that name unless a worker of that name is connected, and a
    replacement still waiting for dispatch or importing Python is not (seen on volclava, whose
    bkill lets a dask worker take ~10 s to leave)."""
    used = [*forgotten, *cluster.worker_spec]
    numbers = [cluster._i]
    for name in used:
        # dask-jobqueue's names are "<cluster name>-<n>" (JobQueueCluster._new_worker_name).
        tail = str(name).rpartition("-")[2]
        if tail.isdigit() and cluster._new_worker_name(int(tail)) == name:
            numbers.append(int(tail) + 1)
    cluster._i = max(numbers)


def reporting_job_class(
    base: type[Job],
    client: SchedulerClient,
    events: JobEvents,
    name: str,
    arrays: JobArrays | None = None,
) -> type[Job]:
    """A subclass of dask-jobqueue's job class for one cluster. Upstream submits through a shell
    with stderr sent to /dev/null, so a refusal's reason is lost; ours goes through `client`.
    Jobs started together are submitted as one job array when `arrays` is given, and jobs
    closed together are killed with one command (job_array.py)."""
    calls = JobSubmissions(client, events, arrays, _submission_slot)

    async def _submit_job(self: Job, script_filename: str) -> str:
        # The script as written to `script_filename`, without a thread's round trip: the
        # workers of one scale-up must reach the gathering together.
        return await calls.submit((self.name, self.job_script()))

    def _job_id_from_submit_output(self: Job, out: str) -> str:
        return out  # _submit_job already answers with the id

    async def close(self: Job) -> None:
        if self.job_id:
            events.cancelled(self.job_id)
            # Already-ended jobs are not an error; a scheduler that does not answer is logged
            # by the manager's kill confirmation at close, not here.
            with contextlib.suppress(SchedulerCommandFailed):
                await calls.kill(self.job_id)

    return type(
        f"Reporting{base.__name__}For{name}",
        (base,),
        {
            "_submit_job": _submit_job,
            "_job_id_from_submit_output": _job_id_from_submit_output,
            "close": close,
        },
    )


QUEUE_CACHE_S = 30.0
COUNT = {"type": "integer", "minimum": 1, "maximum": 4096}
OPTIONAL_TEXT = {"type": ["string", "null"]}


class JobqueueBackend(Backend):
    """A batch scheduler through dask-jobqueue: the options every such scheduler has, its queue
    list (cached), and the glue above. Subclasses add their own options and checks."""

    has_jobs = True
    # The scheduler's declaration: name, label, directive prefix and dask-jobqueue class come
    # from it.
    scheduler: ClassVar[Scheduler]
    client: ClassVar[SchedulerClient]
    # dask-jobqueue's cluster class for this scheduler, "module:Class", imported only where a
    # cluster starts (its job class is the cluster class's job_cls).
    jobqueue_class: ClassVar[str]
    # Shown in the form: "Queue" or "Partition", "#BSUB", "[hh:]mm".
    queue_title: ClassVar[str] = "Queue"
    directive_prefix: ClassVar[str]
    default_walltime: ClassVar[str]
    walltime_property: ClassVar[dict[str, Any]]
    _queue_infos: list[QueueInfo]

    @property
    def job_arrays(self) -> JobArrays | None:
        return self.client.arrays

    _queues_read_at: float = float("-inf")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        entry = cls.__dict__.get("scheduler")
        if entry is not None:
            cls.name = entry.name
            cls.label = f"{entry.title} batch jobs"
            cls.directive_prefix = entry.directive_prefix
            cls.jobqueue_class = entry.jobqueue_class

    def jobs_cancelled(self, job_ids: list[str]) -> None:
        self.client.killed_elsewhere(job_ids)

    def cluster_class(self) -> type[JobQueueCluster]:
        module, _, name = self.jobqueue_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def jobqueue_default(self, key: str) -> Any:
        dask_defaults.register_jobqueue()
        return dask.config.get(f"jobqueue.{self.name}.{key}", None)

    def default_options(self) -> dict[str, Any]:
        value = self.jobqueue_default
        return {
            "cores": value("cores") or 1,
            "memory": value("memory") or "2GB",
            "processes": value("processes") or 1,
            "queue": value("queue"),
            "walltime": value("walltime") or self.default_walltime,
            "interface": value("interface"),
            "job_extra_directives": list(value("job-extra-directives") or []),
            # Without -o/-e the scheduler mails each job's output, or drops it wherever the
            # server was started. The default is under $HOME, which compute nodes share.
            "log_directory": value("log-directory") or str(default_data_dir() / "dask-job-logs"),
            # Only where the scheduler has arrays we write: elsewhere the option does not exist.
            **({"job_array": True} if self.client.arrays is not None else {}),
        }

    async def queue_infos(self) -> list[QueueInfo]:
        """The scheduler's queues (partitions), cached; empty when it does not answer."""
        if time.monotonic() - self._queues_read_at < QUEUE_CACHE_S:
            return self._queue_infos
        try:
            self._queue_infos = await self.client.queues()
        except SchedulerCommandFailed as error:
            log.info("%s queues unavailable: %s", self.name, error.message)
            self._queue_infos = []
        self._queues_read_at = time.monotonic()
        return self._queue_infos

    def cached_queue(self, name: str | None) -> QueueInfo | None:
        """The queue a job would go to, from the list read when the options were validated
        against the schema (which lists the queues)."""
        for queue in getattr(self, "_queue_infos", []):
            if queue.name == name or (name is None and queue.default):
                return queue
        return None

    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        defaults = self.default_options()
        queue: dict[str, Any] = {
            "type": "string",
            "title": self.queue_title,
            "description": f"Where the worker jobs wait and run ({self.queue_title.lower()}s "
            "differ in limits and hardware; your site's documentation says which to use).",
        }
        # Read even when the profile lists its queues: their limits are checked.
        known = [q.name for q in await self.queue_infos()]
        if choices.get("queue") or known:
            queue["enum"] = list(choices.get("queue") or known)
        if defaults["queue"]:
            queue["default"] = defaults["queue"]
        properties: dict[str, Any] = {
            "cores": {
                **COUNT,
                "title": "Cores per job",
                "description": "CPU cores each batch job asks for, all on one host.",
                "default": defaults["cores"],
            },
            "memory": {
                **memory_property("Memory per job", defaults["memory"]),
                "description": "Memory each batch job asks for (e.g. 20GB), shared by its "
                "worker processes.",
            },
            "processes": {
                **COUNT,
                "title": "Worker processes per job",
                "description": "Dask worker processes in each job; its cores and memory are "
                "split among them.",
                "default": defaults["processes"],
            },
            "queue": queue,
            "walltime": {
                **self.walltime_property,
                "description": "How long each job may run. Workers retire a little before "
                "it and are replaced, so the cluster outlives its jobs.",
                "default": defaults["walltime"],
            },
            "interface": {
                **OPTIONAL_TEXT,
                "title": "Network interface (e.g. ib0)",
                "description": "The network workers and scheduler talk over: ib0 on "
                "InfiniBand clusters; empty for the host's default.",
                "default": defaults["interface"],
            },
            **self.extra_properties(defaults),
            "job_extra_directives": {
                "type": "array",
                "title": f"Extra {self.directive_prefix} directives",
                "description": f"More {self.directive_prefix} lines for each job, one option "
                "per line (options set above cannot be set again here).",
                "items": {
                    "type": "string",
                    "pattern": DIRECTIVE_PATTERN,
                    "errorMessage": "each directive is one line that starts with '-'",
                },
                "default": defaults["job_extra_directives"],
            },
            "log_directory": {
                **OPTIONAL_TEXT,
                "title": "Job log directory",
                "description": "Where each job writes its output; the card's job log reads it.",
                "default": defaults["log_directory"],
            },
        }
        if "job_array" in defaults:
            properties["job_array"] = {
                "type": "boolean",
                "title": "Workers as one job array",
                "description": "Submit the workers of a scale-up as one job array (one "
                "submission for the scheduler instead of one per worker); each worker is one "
                "element, scaled down or replaced alone.",
                "default": defaults["job_array"],
            }
        for option, values in choices.items():
            if option in properties and option != "queue":
                properties[option]["enum"] = list(values)
        return {
            "type": "object",
            "title": self.label,
            "additionalProperties": False,
            "properties": properties,
        }

    def extra_properties(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """This scheduler's own options (project, account, parallel environment...)."""
        return {}

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        errors = (
            super().check_options(options)
            + check_memory(options, "memory")
            + check_processes(options)
            + check_log_directory(options)
        )
        seconds: int | None = None
        if options.get("walltime") is not None:
            try:
                seconds = self.parse_walltime_s(options["walltime"])
            except ValueError as error:
                errors.append(FieldError("walltime", f"walltime: {error}"))
            else:
                if not seconds:
                    errors.append(FieldError("walltime", "walltime must be above zero"))
        return errors + self.queue_limit_errors(options, seconds)

    def queue_limit_errors(
        self, options: dict[str, Any], walltime_s: int | None
    ) -> list[FieldError]:
        """What the chosen queue (partition) would accept but never run, such as a walltime above
        its limit: schedulers leave such jobs pending forever instead of refusing them."""
        return []

    @classmethod
    def available(cls) -> bool:
        return cls.scheduler.present()

    # The names dask-jobqueue gives a job's -o/-e files in the log directory, as regular
    # expressions of the job name ({name}: dask-<cluster id>) and the job id. Slurm's start with
    # the job's name (`-o DIR/<job name>-%J.out`); LSF's and Grid Engine's differ.
    log_file_names: ClassVar[tuple[str, ...]] = (r"{name}-{job_id}\.out", r"{name}-{job_id}\.err")

    @staticmethod
    def job_name(cluster_id: str) -> str:
        return f"dask-{cluster_id}"

    def job_log_files(self, options: dict[str, Any], cluster_id: str, job_id: str) -> list[Path]:
        """This cluster's files of the job: only names dask-jobqueue gives them, with the
        cluster's own name, never another file that merely ends in the job id (`big-5.out`)."""
        directory = options.get("log_directory")
        if not directory:
            return []
        root = log_directory_path(directory)
        name = re.escape(self.job_name(cluster_id))
        if self.client.arrays is not None:
            job_id = self.client.arrays.file_id(job_id)
        patterns = [
            re.compile(template.format(name=name, job_id=re.escape(job_id)))
            for template in self.log_file_names
        ]
        try:
            with os.scandir(root) as entries:
                names = [e.name for e in entries if any(p.fullmatch(e.name) for p in patterns)]
        except OSError:  # no directory (yet), or not one we can read
            return []
        return sorted(root / file_name for file_name in names)

    @staticmethod
    def parse_walltime_s(value: str) -> int:
        """Seconds of a walltime in this scheduler's own format; ValueError when it is not one."""
        raise ValueError(f"no walltime format known for {value!r}")

    def walltime_s(self, options: dict[str, Any]) -> float | None:
        """The walltime the options ask for, in seconds; None when there is none."""
        try:
            return float(self.parse_walltime_s(options.get("walltime") or "")) or None
        except ValueError:
            return None

    def lifetime(self, options: dict[str, Any]) -> WorkerLifetime | None:
        walltime_s = self.walltime_s(options)
        return WorkerLifetime.for_walltime(walltime_s) if walltime_s else None

    def replace_ahead_s(self, options: dict[str, Any]) -> float | None:
        walltime_s = self.walltime_s(options)
        lifetime = self.lifetime(options)
        return lifetime.replace_ahead_s(walltime_s) if lifetime and walltime_s else None

    def job_of_worker(self, cluster: SpecCluster, worker_name: str) -> str | None:
        # With processes > 1, dask-jobqueue names a job's workers "<spec name>-<i>".
        for name in (worker_name, worker_name.rpartition("-")[0]):
            job = cluster.workers.get(name) if name else None
            if job is not None and getattr(job, "job_id", None):
                return str(job.job_id)
        return None

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        return await self.client.job_states(job_ids)

    async def kill_jobs(self, job_ids: list[str]) -> None:
        await self.client.kill(job_ids)

    def forget_ended_workers(self, cluster: SpecCluster, ended_job_ids: set[str]) -> None:
        # dask keeps the spec of a worker whose job ended (walltime, node failure) and counts it;
        # without it, scaling to N gives N live jobs again. Its job is gone: nothing to close.
        forgotten = []
        for name, worker in list(cluster.workers.items()):
            if getattr(worker, "job_id", None) in ended_job_ids:
                cluster.worker_spec.pop(name, None)
                cluster.workers.pop(name, None)
                forgotten.append(name)
        if forgotten:
            skip_used_worker_names(cluster, forgotten)

    def job_script_prologue(self) -> list[str]:
        """The user's own prologue (dask-jobqueue's config, or its older name), then ours."""
        configured = self.jobqueue_default("job-script-prologue")
        if configured is None:
            configured = self.jobqueue_default("env-extra")
        return [*(configured or []), WORKER_HTTP_ROUTES_LINE]

    def job_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """dask-jobqueue's job arguments every scheduler shares; subclasses add their own."""
        log_directory = options.get("log_directory")
        return {
            "cores": options["cores"],
            "memory": options["memory"],
            "processes": options["processes"],
            "queue": options.get("queue") or None,
            "walltime": options["walltime"],
            # The scheduler listens where the workers' interface says, as dask-jobqueue does.
            "interface": options.get("interface") or None,
            "job_extra_directives": list(options.get("job_extra_directives") or []),
            "log_directory": str(log_directory_path(log_directory)) if log_directory else None,
        }

    async def start_cluster(
        self,
        options: dict[str, Any],
        *,
        name: str,
        events: JobEvents,
        security: Security | None = None,
    ) -> SpecCluster:
        # Made only now that every option was accepted: a refused request creates nothing.
        # dask-jobqueue would make it too, but readable by everyone.
        if options.get("log_directory"):
            await asyncio.to_thread(create_log_directory, options["log_directory"])
        # The dashboard is only ever reached through our proxy, so it listens on loopback and
        # answers only the proxy; workers retire before their walltime.
        lifetime = self.lifetime(options)
        from .guarded_scheduler import guarded_scheduler_options

        scheduler = guarded_scheduler_options()
        cluster_class = self.cluster_class()
        cluster = cluster_class(
            **self.job_options(options),
            # Workers (and LSF's -o/-e files, named after them) are "dask-<id>-<n>": this
            # cluster's own, not "LSFCluster-<n>" like every other cluster's.
            name=self.job_name(name),
            job_name=self.job_name(name),
            job_cls=reporting_job_class(
                cluster_class.job_cls,
                self.client,
                events,
                name,
                arrays=self.client.arrays if options.get("job_array") else None,
            ),
            security=security,
            scheduler_cls=scheduler.cls,
            scheduler_options=scheduler.options,
            job_script_prologue=self.job_script_prologue(),
            worker_extra_args=[*WORKER_HTTP_ARGS, *(lifetime.worker_args() if lifetime else [])],
            asynchronous=True,
        )
        await cluster
        return cluster
