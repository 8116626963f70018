"""IBM Spectrum LSF through dask-jobqueue's LSFCluster; LSF's commands through our LSF client."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from ..directive_policy import LSF
from ..errors import FieldError
from ..schedulers.lsf import LSFClient
from ..schedulers.lsf_output import walltime_minutes
from ..schedulers.registry import SCHEDULERS
from .jobqueue import OPTIONAL_TEXT, JobqueueBackend

if TYPE_CHECKING:
    from distributed import SpecCluster

log = logging.getLogger(__name__)


# What `walltime_minutes` accepts, said in the schema so the form refuses 99:99 before sending:
# minutes past 59 only without hours.
WALLTIME_FORM_PATTERN = r"^([0-9]{1,4}:[0-5]?[0-9]|[0-9]{1,5})$"


class LSFBackend(JobqueueBackend):
    scheduler = SCHEDULERS["lsf"]
    client = LSFClient()
    # What LSFCluster writes into the #BSUB header from validated options may not be set again.
    directive_syntax = LSF

    # `-o DIR/<worker name>-%J.out`, and workers are named "<job name>-<n>".
    log_file_names = (r"{name}-[0-9]+-{job_id}\.out", r"{name}-[0-9]+-{job_id}\.err")

    queue_title = "Queue"
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

    def queue_limit_errors(
        self, options: dict[str, Any], walltime_s: int | None
    ) -> list[FieldError]:
        # LSF takes a job no host can hold and leaves it pending ("Job slot limit reached")
        # forever. bsub refuses a walltime above the queue's RUNLIMIT itself, in its own words.
        queue = self.cached_queue(options.get("queue"))
        slots = queue.extra.get("slots_per_host") if queue is not None else None
        cores = options.get("cores")
        if slots and isinstance(cores, int) and cores > slots:
            return [
                FieldError(
                    "cores",
                    f"cores ({cores}) is more than the {slots} job slots of the largest host "
                    "(bhosts MAX): a job's cores must fit on one host, so it would wait forever",
                )
            ]
        return []

    def job_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {
            **super().job_options(options),
            "project": options.get("project") or None,
            # None lets dask-jobqueue read lsf.conf, and assume KB: wrong on volclava (MB).
            "lsf_units": self.client.limits_unit(),
        }

    async def start_cluster(self, options: dict[str, Any], **kwargs: Any) -> SpecCluster:
        await self.client.dialect()  # which LSF this is decides the unit of -M
        return await super().start_cluster(options, **kwargs)
