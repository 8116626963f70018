"""Grid Engine through dask-jobqueue's SGECluster; every scheduler call goes through SGEClient."""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from dask.utils import parse_bytes

from ..directive_policy import SGE, SGE_MEMORY_RESOURCES, DirectiveSyntax
from ..errors import FieldError, SchedulerCommandFailed
from ..schedulers.base import JobInfo
from ..schedulers.registry import SCHEDULERS
from ..schedulers.sge import SGEClient
from ..schedulers.sge_output import format_walltime, in_error_state, parse_walltime
from .jobqueue import JobqueueBackend

log = logging.getLogger(__name__)

# Grid Engine's time values: hh:mm:ss or seconds.
WALLTIME_PATTERN = r"^([0-9]+:[0-9]{1,2}:[0-9]{1,2}|[0-9]+)$"
# Names of queues, parallel environments, projects and complexes as qconf accepts them; they are
# written into `#$` lines, so nothing else may reach the script.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"


def memory_request(memory: str, slots: int) -> str:
    """A per-slot memory value in Grid Engine's notation (M = MiB): Grid Engine multiplies memory
    requests such as h_vmem by the job's slots."""
    return f"{math.ceil(parse_bytes(memory) / slots / 2**20)}M"


def _option_text(title: str, default: Any) -> dict[str, Any]:
    return {"type": ["string", "null"], "title": title, "default": default}


def _named(title: str, default: Any) -> dict[str, Any]:
    return {
        **_option_text(title, default),
        "pattern": NAME_PATTERN,
        "errorMessage": "must be a Grid Engine name (letters, digits, _ . -)",
    }


class SGEBackend(JobqueueBackend):
    scheduler = SCHEDULERS["sge"]
    client = SGEClient()
    parse_walltime_s = staticmethod(parse_walltime)
    # qsub reads each word of a #$ line as a whole option; `-l` lists are checked item by item.
    directive_syntax = SGE

    queue_title = "Queue"
    # `-o DIR/` and `-e DIR/`: Grid Engine names the files <job name>.o<id> and .e<id>.
    log_file_names = (r"{name}\.o{job_id}", r"{name}\.e{job_id}")
    default_walltime = "00:30:00"
    walltime_property: ClassVar[dict[str, Any]] = {
        "type": "string",
        "title": "Walltime (h_rt, hh:mm:ss)",
        "pattern": WALLTIME_PATTERN,
        "errorMessage": "must be hh:mm:ss or seconds, such as 00:30:00 or 1800",
    }

    def default_options(self) -> dict[str, Any]:
        return {
            **super().default_options(),
            "pe": "smp",
            "memory_resource": None,
            "project": self.jobqueue_default("project"),
        }

    def extra_properties(self, defaults: dict[str, Any]) -> dict[str, Any]:
        return {
            "pe": _named("Parallel environment for several cores (-pe)", defaults["pe"]),
            "memory_resource": _named(
                "Memory resource to request per slot (e.g. h_vmem; none: no request)",
                defaults["memory_resource"],
            ),
            "project": _named("Project (-P)", defaults["project"]),
        }

    def syntax_for(self, options: dict[str, Any]) -> DirectiveSyntax:
        """With a memory resource requested, no `-l` may request it (or any other memory
        complex, which could stand in for it) again."""
        resource = options.get("memory_resource")
        if not resource:
            return SGE
        return SGE.refusing_resources(dict.fromkeys([resource, *SGE_MEMORY_RESOURCES], "memory"))

    def queue_limit_errors(
        self, options: dict[str, Any], walltime_s: int | None
    ) -> list[FieldError]:
        # The queue limits were read (and cached) when the options were validated against the
        # schema, which lists the queues; a queue unknown here was refused there.
        queue = self.cached_queue(options.get("queue"))
        limit_min = queue.max_walltime_min if queue is not None else None
        if walltime_s and limit_min is not None and walltime_s > limit_min * 60:
            return [
                FieldError(
                    "walltime",
                    f"walltime {options['walltime']} is above the limit of queue "
                    f"{options['queue']} ({format_walltime(limit_min * 60)}): such jobs would wait "
                    "forever",
                )
            ]
        return []

    def job_options(self, options: dict[str, Any]) -> dict[str, Any]:
        cores = options["cores"]
        shared = super().job_options(options)
        # Several cores on one host: the parallel environment is how Grid Engine grants them.
        parallel = [f"-pe {options.get('pe') or 'smp'} {cores}"] if cores > 1 else []
        resource_spec = None
        if options.get("memory_resource"):
            per_slot = memory_request(options["memory"], cores)
            resource_spec = f"{options['memory_resource']}={per_slot}"
        return {
            **shared,
            "resource_spec": resource_spec,
            "project": options.get("project") or None,
            "job_extra_directives": parallel + shared["job_extra_directives"],
        }

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        states = await self.client.job_states(job_ids)
        # A job in error state (Eqw) never runs unless an admin clears it; its worker is replaced
        # like any ended one, so it is deleted rather than left waiting in the queue.
        broken = [j for j, info in states.items() if in_error_state(info.native_state)]
        if broken:
            try:
                await self.client.kill(broken)
            except SchedulerCommandFailed as error:
                log.warning("could not delete jobs in error state %s: %s", broken, error.message)
        return states
