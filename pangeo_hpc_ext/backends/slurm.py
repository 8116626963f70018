"""Slurm through dask-jobqueue's SLURMCluster; jobs are submitted, watched and killed through
SlurmClient, and options are checked against the partitions sinfo lists before anything runs."""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import dask
import dask_jobqueue  # noqa: F401  (registers the jobqueue.* defaults in dask's config)
from dask.utils import parse_bytes
from dask_jobqueue.slurm import SLURMCluster, SLURMJob
from distributed.deploy import SpecCluster
from distributed.security import Security

from ..errors import FieldError, SchedulerCommandFailed
from ..paths import default_data_dir
from ..schedulers.base import QueueInfo
from ..schedulers.slurm import WALLTIME_PATTERN, SlurmClient, parse_walltime
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

PARTITION_CACHE_S = 30.0


def _jobqueue_default(key: str) -> Any:
    return dask.config.get(f"jobqueue.slurm.{key}", None)


class SlurmBackend(JobqueueBackend):
    name = "slurm"
    label = "Slurm batch jobs"
    client = SlurmClient()
    # sbatch directives that would set again an option validated here.
    overriding_directives: ClassVar[dict[str, str]] = {
        "-p": "queue",
        "--partition": "queue",
        "-A": "account",
        "--account": "account",
        "-t": "walltime",
        "--time": "walltime",
        "--mem": "memory",
        "--mem-per-cpu": "memory",
        "-c": "cores",
        "--cpus-per-task": "cores",
        "-n": "cores",
        "--ntasks": "cores",
        "-J": "job_name",
        "--job-name": "job_name",
        "-o": "log_directory",
        "--output": "log_directory",
        "-e": "log_directory",
        "--error": "log_directory",
    }
    # sbatch parses its options with getopt: `-pbigmem` is `-p bigmem`.
    glued_short_flags: ClassVar[bool] = True

    def __init__(self) -> None:
        self._partitions: list[QueueInfo] = []
        self._partitions_read_at = float("-inf")

    def default_options(self) -> dict[str, Any]:
        return {
            "cores": _jobqueue_default("cores") or 1,
            "memory": _jobqueue_default("memory") or "2GB",
            "processes": _jobqueue_default("processes") or 1,
            "queue": _jobqueue_default("queue"),
            "account": _jobqueue_default("account"),
            "walltime": _jobqueue_default("walltime") or "00:30:00",
            "interface": _jobqueue_default("interface"),
            "job_extra_directives": list(_jobqueue_default("job-extra-directives") or []),
            # Without -o/-e sbatch writes slurm-<id>.out wherever the server was started.
            "log_directory": _jobqueue_default("log-directory")
            or str(default_data_dir() / "dask-job-logs"),
        }

    async def partitions(self) -> list[QueueInfo]:
        """Partitions from sinfo, cached; empty when sinfo does not answer."""
        if time.monotonic() - self._partitions_read_at < PARTITION_CACHE_S:
            return self._partitions
        try:
            self._partitions = await self.client.queues()
        except SchedulerCommandFailed as error:
            log.info("partitions unavailable: %s", error.message)
            self._partitions = []
        self._partitions_read_at = time.monotonic()
        return self._partitions

    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        defaults = self.default_options()
        queue: dict[str, Any] = {"type": "string", "title": "Partition"}
        allowed = choices.get("queue") or [p.name for p in await self.partitions()]
        if allowed:
            queue["enum"] = list(allowed)
        if defaults["queue"]:
            queue["default"] = defaults["queue"]
        optional_text = {"type": ["string", "null"]}
        count = {"type": "integer", "minimum": 1, "maximum": 4096}
        properties: dict[str, Any] = {
            "cores": {**count, "title": "Cores per job", "default": defaults["cores"]},
            "memory": memory_property("Memory per job", defaults["memory"]),
            "processes": {
                **count,
                "title": "Worker processes per job",
                "default": defaults["processes"],
            },
            "queue": queue,
            "account": {**optional_text, "title": "Account (-A)", "default": defaults["account"]},
            "walltime": {
                "type": "string",
                "title": "Walltime (Slurm time: minutes, hh:mm:ss, d-hh:mm...)",
                "pattern": WALLTIME_PATTERN,
                "errorMessage": "must be a Slurm time such as 30 (minutes), 01:30:00 or 1-12:00",
                "default": defaults["walltime"],
            },
            "interface": {
                **optional_text,
                "title": "Network interface (e.g. ib0)",
                "default": defaults["interface"],
            },
            "job_extra_directives": {
                "type": "array",
                "title": "Extra #SBATCH directives",
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
            "title": "Slurm cluster",
            "additionalProperties": False,
            "properties": properties,
        }

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        errors = (
            super().check_options(options)
            + check_memory(options, "memory")
            + check_processes(options)
            + check_log_directory(options)
        )
        walltime_s: int | None = None
        if options.get("walltime") is not None:
            try:
                walltime_s = parse_walltime(options["walltime"])
            except ValueError as error:
                errors.append(FieldError("walltime", f"walltime: {error}"))
            else:
                if not walltime_s:
                    errors.append(FieldError("walltime", "walltime must be a finite time above 0"))
        partition = self._partition(options.get("queue"))
        if partition is not None:
            errors += self._partition_errors(partition, options, walltime_s)
        return errors

    def walltime_s(self, options: dict[str, Any]) -> float | None:
        try:
            return float(parse_walltime(options.get("walltime") or "")) or None
        except ValueError:
            return None

    def _partition(self, name: str | None) -> QueueInfo | None:
        """The partition a job would go to, from the list options_schema read just before."""
        for partition in self._partitions:
            if partition.name == name or (name is None and partition.default):
                return partition
        return None

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

    async def start_cluster(
        self,
        options: dict[str, Any],
        *,
        name: str,
        events: JobEvents,
        security: Security | None = None,
    ) -> SpecCluster:
        log_directory = options.get("log_directory")
        cluster = SLURMCluster(
            cores=options["cores"],
            memory=options["memory"],
            processes=options["processes"],
            queue=options.get("queue") or None,
            account=options.get("account") or None,
            walltime=options["walltime"],
            # The scheduler listens where the workers' interface says, as dask-jobqueue does.
            interface=options.get("interface") or None,
            job_extra_directives=list(options.get("job_extra_directives") or []),
            log_directory=str(log_directory_path(log_directory)) if log_directory else None,
            job_name=f"dask-{name}",
            job_cls=reporting_job_class(SLURMJob, self.client, events, name),
            security=security,
            **self.start_options(options),
        )
        await cluster
        return cluster
