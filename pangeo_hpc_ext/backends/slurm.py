"""Slurm through dask-jobqueue's SLURMCluster; jobs are submitted, watched and killed through
SlurmClient, and options are checked against the partitions sinfo lists before anything runs."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from dask.utils import parse_bytes

from ..directive_policy import SLURM
from ..errors import FieldError
from ..schedulers.base import QueueInfo
from ..schedulers.registry import SCHEDULERS
from ..schedulers.slurm import WALLTIME_PATTERN, SlurmClient, parse_walltime
from .jobqueue import OPTIONAL_TEXT, JobqueueBackend

log = logging.getLogger(__name__)


class SlurmBackend(JobqueueBackend):
    scheduler = SCHEDULERS["slurm"]
    client = SlurmClient()
    parse_walltime_s = staticmethod(parse_walltime)
    # sbatch reads #SBATCH lines with getopt_long: every option of a line is checked.
    directive_syntax = SLURM

    queue_title = "Partition"
    default_walltime = "00:30:00"
    walltime_property: ClassVar[dict[str, Any]] = {
        "type": "string",
        "title": "Walltime (Slurm time: minutes, hh:mm:ss, d-hh:mm...)",
        "pattern": WALLTIME_PATTERN,
        "errorMessage": "must be a Slurm time such as 30 (minutes), 01:30:00 or 1-12:00",
    }

    def default_options(self) -> dict[str, Any]:
        return {**super().default_options(), "account": self.jobqueue_default("account")}

    def extra_properties(self, defaults: dict[str, Any]) -> dict[str, Any]:
        account = {**OPTIONAL_TEXT, "title": "Account (-A)", "default": defaults["account"]}
        return {"account": account}

    def queue_limit_errors(
        self, options: dict[str, Any], walltime_s: int | None
    ) -> list[FieldError]:
        partition = self.cached_queue(options.get("queue"))
        return [] if partition is None else self._partition_errors(partition, options, walltime_s)

    @staticmethod
    def _partition_errors(
        partition: QueueInfo, options: dict[str, Any], walltime_s: int | None
    ) -> list[FieldError]:
        """What Slurm would accept but never run: it queues such jobs with a reason
        (PartitionTimeLimit, PartitionConfig) instead of refusing them, and they pend forever."""
        errors: list[FieldError] = []
        where = f"partition {partition.name!r}"
        max_s = partition.extra.get("max_walltime_s")
        if walltime_s and max_s is not None and walltime_s > max_s:
            errors.append(
                FieldError(
                    "walltime",
                    f"walltime {options['walltime']} is above the MaxTime of {where} "
                    f"({partition.max_walltime_min} minutes)",
                )
            )
        cpus = partition.extra.get("cpus_per_node")
        cores = options.get("cores")
        if cpus and isinstance(cores, int) and cores > cpus:
            errors.append(
                FieldError(
                    "cores", f"cores ({cores}) is more than the {cpus} CPUs of a node of {where}"
                )
            )
        memory_mb = partition.extra.get("memory_mb_per_node")
        try:
            asked_mb = parse_bytes(options.get("memory")) / 2**20
        except (ValueError, TypeError):
            asked_mb = 0  # check_memory reports it
        if memory_mb and asked_mb > memory_mb:
            errors.append(
                FieldError(
                    "memory",
                    f"memory {options['memory']} is more than the {memory_mb} MB of a node "
                    f"of {where}",
                )
            )
        return errors

    def job_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**super().job_options(options), "account": options.get("account") or None}
