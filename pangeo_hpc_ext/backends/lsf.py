"""IBM Spectrum LSF through dask-jobqueue's LSFCluster; LSF's commands through our LSF client."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import dask_jobqueue  # noqa: F401  (registers the jobqueue.* defaults in dask's config)
from dask_jobqueue.lsf import LSFCluster, LSFJob
from distributed.deploy import SpecCluster
from distributed.security import Security

from ..errors import FieldError
from ..schedulers.lsf import WALLTIME_PATTERN, LSFClient, walltime_minutes
from .base import JobEvents
from .jobqueue import OPTIONAL_TEXT, JobqueueBackend, reporting_job_class
from .option_types import (
    log_directory_path,
)

log = logging.getLogger(__name__)


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

    queue_title = "Queue"
    directive_prefix = "#BSUB"
    default_walltime = "00:30"
    walltime_property: ClassVar[dict[str, Any]] = {
        "type": "string",
        "title": "Walltime ([hh:]mm)",
        "pattern": WALLTIME_PATTERN,
        "errorMessage": "must be [hh:]mm, such as 00:30 or 8:00",
    }

    def default_options(self) -> dict[str, Any]:
        return {**super().default_options(), "project": self.jobqueue_default("project")}

    def extra_properties(self, defaults: dict[str, Any]) -> dict[str, Any]:
        return {
            "project": {**OPTIONAL_TEXT, "title": "Project (-P)", "default": defaults["project"]}
        }

    def walltime_s(self, options: dict[str, Any]) -> float | None:
        minutes = walltime_minutes(options.get("walltime") or "")
        return minutes * 60.0 if minutes else None

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        return super().check_options(options) + check_walltime(options)

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
            job_name=self.job_name(name),
            job_cls=reporting_job_class(LSFJob, self.client, events, name),
            security=security,
            **self.start_options(options),
        )
        await cluster
        return cluster
