"""IBM Spectrum LSF through dask-jobqueue's LSFCluster; LSF's commands through our LSF client."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import dask_jobqueue  # noqa: F401  (registers the jobqueue.* defaults in dask's config)
from dask_jobqueue.lsf import LSFCluster, LSFJob

from ..schedulers.lsf import LSFClient, walltime_minutes
from .jobqueue import OPTIONAL_TEXT, JobqueueBackend

log = logging.getLogger(__name__)


# What `walltime_minutes` accepts, said in the schema so the form refuses 99:99 before sending:
# minutes past 59 only without hours.
WALLTIME_FORM_PATTERN = r"^([0-9]{1,4}:[0-5]?[0-9]|[0-9]{1,5})$"


class LSFBackend(JobqueueBackend):
    name = "lsf"
    label = "LSF batch jobs"
    client = LSFClient()
    cluster_class = LSFCluster
    job_class = LSFJob
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
        "pattern": WALLTIME_FORM_PATTERN,
        "errorMessage": "must be [hh:]mm, such as 00:30 or 8:00",
    }

    def default_options(self) -> dict[str, Any]:
        return {**super().default_options(), "project": self.jobqueue_default("project")}

    def extra_properties(self, defaults: dict[str, Any]) -> dict[str, Any]:
        return {
            "project": {**OPTIONAL_TEXT, "title": "Project (-P)", "default": defaults["project"]}
        }

    @staticmethod
    def parse_walltime_s(value: str) -> int:
        minutes = walltime_minutes(value)
        if minutes is None:
            raise ValueError(f"{value!r} is not a walltime in [hh:]mm form such as 00:30 or 8:00")
        return minutes * 60

    def job_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**super().job_options(options), "project": options.get("project") or None}
