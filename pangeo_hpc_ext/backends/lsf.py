"""IBM Spectrum LSF through dask-jobqueue's LSFCluster; LSF's commands through our LSF client."""

from __future__ import annotations

import logging
import time
from typing import Any

import dask
import dask_jobqueue  # noqa: F401  (registers the jobqueue.* defaults in dask's config)
from dask_jobqueue.lsf import LSFCluster, LSFJob
from distributed.deploy import SpecCluster
from distributed.security import Security

from ..errors import FieldError, SchedulerCommandFailed
from ..paths import default_data_dir
from ..schedulers.lsf import WALLTIME_PATTERN, LSFClient, walltime_minutes
from .base import JobEvents
from .jobqueue import JobqueueBackend, reporting_job_class
from .option_types import (
    DIRECTIVE_PATTERN,
    check_log_directory,
    check_memory,
    check_processes,
    log_directory_path,
    memory_property,
)

log = logging.getLogger(__name__)

QUEUE_CACHE_S = 30.0


def _jobqueue_default(key: str) -> Any:
    return dask.config.get(f"jobqueue.lsf.{key}", None)


def check_walltime(options: dict[str, Any], field: str = "walltime") -> list[FieldError]:
    value = options.get(field)
    if value is None:
        return []
    minutes = walltime_minutes(value)
    if minutes is None:
        return [
            FieldError(field, f"{value!r} is not a walltime in [hh:]mm form such as 00:30 or 8:00")
        ]
    if minutes == 0:
        return [FieldError(field, f"{field} must be at least one minute")]
    return []


class LSFBackend(JobqueueBackend):
    name = "lsf"
    label = "LSF batch jobs"
    client = LSFClient()
    # What LSFCluster already writes into the #BSUB header from validated options.
    overriding_directives = {
        "-q": "queue",
        "-P": "project",
        "-n": "cores",
        "-R": "cores",
        "-M": "memory",
        "-W": "walltime",
        "-J": "name",
        "-o": "log_directory",
        "-e": "log_directory",
    }

    def __init__(self) -> None:
        self._queues: list[str] = []
        self._queues_read_at = float("-inf")

    def default_options(self) -> dict[str, Any]:
        return {
            "cores": _jobqueue_default("cores") or 1,
            "memory": _jobqueue_default("memory") or "2GB",
            "processes": _jobqueue_default("processes") or 1,
            "queue": _jobqueue_default("queue"),
            "walltime": _jobqueue_default("walltime") or "00:30",
            "interface": _jobqueue_default("interface"),
            "project": _jobqueue_default("project"),
            "job_extra_directives": list(_jobqueue_default("job-extra-directives") or []),
            # Without -o LSF mails each job's output to the user: one mail per worker job. The
            # default is under $HOME, which compute nodes share on the clusters we target.
            "log_directory": _jobqueue_default("log-directory")
            or str(default_data_dir() / "dask-job-logs"),
        }

    def walltime_s(self, options: dict[str, Any]) -> float | None:
        minutes = walltime_minutes(options.get("walltime") or "")
        return minutes * 60.0 if minutes else None

    async def queues(self) -> list[str]:
        """Queue names from `bqueues`, cached; empty when bqueues does not answer."""
        if time.monotonic() - self._queues_read_at < QUEUE_CACHE_S:
            return self._queues
        try:
            self._queues = [queue.name for queue in await self.client.queues()]
        except SchedulerCommandFailed as error:
            log.info("queue names unavailable: %s", error.message)
            self._queues = []
        self._queues_read_at = time.monotonic()
        return self._queues

    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        defaults = self.default_options()
        queue: dict[str, Any] = {"type": "string", "title": "Queue"}
        allowed_queues = choices.get("queue") or await self.queues()
        if allowed_queues:
            queue["enum"] = list(allowed_queues)
        if defaults["queue"]:
            queue["default"] = defaults["queue"]
        optional_text = {"type": ["string", "null"]}
        properties: dict[str, Any] = {
            "cores": {
                "type": "integer",
                "title": "Cores per job",
                "minimum": 1,
                "maximum": 4096,
                "default": defaults["cores"],
            },
            "memory": memory_property("Memory per job", defaults["memory"]),
            "processes": {
                "type": "integer",
                "title": "Worker processes per job",
                "minimum": 1,
                "maximum": 4096,
                "default": defaults["processes"],
            },
            "queue": queue,
            "walltime": {
                "type": "string",
                "title": "Walltime ([hh:]mm)",
                "pattern": WALLTIME_PATTERN,
                "errorMessage": "must be [hh:]mm, such as 00:30 or 8:00",
                "default": defaults["walltime"],
            },
            "interface": {
                **optional_text,
                "title": "Network interface (e.g. ib0)",
                "default": defaults["interface"],
            },
            "project": {**optional_text, "title": "Project (-P)", "default": defaults["project"]},
            "job_extra_directives": {
                "type": "array",
                "title": "Extra #BSUB directives",
                "items": {
                    "type": "string",
                    "pattern": DIRECTIVE_PATTERN,
                    "errorMessage": "each directive is one line that starts with '-'",
                },
                "default": defaults["job_extra_directives"],
            },
            "log_directory": {
                **optional_text,
                "title": "Job log directory",
                "default": defaults["log_directory"],
            },
        }
        for option, values in choices.items():
            if option in properties and option != "queue":
                properties[option]["enum"] = list(values)
        return {
            "type": "object",
            "title": "LSF cluster",
            "additionalProperties": False,
            "properties": properties,
        }

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        return (
            super().check_options(options)
            + check_memory(options, "memory")
            + check_walltime(options)
            + check_processes(options)
            + check_log_directory(options)
        )

    async def start_cluster(
        self,
        options: dict[str, Any],
        *,
        name: str,
        events: JobEvents,
        security: Security | None = None,
    ) -> SpecCluster:
        log_directory = options.get("log_directory")
        cluster = LSFCluster(
            cores=options["cores"],
            memory=options["memory"],
            processes=options["processes"],
            queue=options.get("queue") or None,
            walltime=options["walltime"],
            # The scheduler listens where the workers' interface says, as dask-jobqueue does.
            interface=options.get("interface") or None,
            project=options.get("project") or None,
            job_extra_directives=list(options.get("job_extra_directives") or []),
            log_directory=str(log_directory_path(log_directory)) if log_directory else None,
            job_name=f"dask-{name}",
            job_cls=reporting_job_class(LSFJob, self.client, events, name),
            security=security,
            **self.start_options(options),
        )
        await cluster
        return cluster
