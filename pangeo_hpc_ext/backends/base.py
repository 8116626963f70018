"""What every scheduler backend provides to the cluster manager."""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..dashboard_access import key_of
from ..directive_policy import DirectiveSyntax, directive_errors
from ..errors import FieldError
from ..schedulers.arrays import JobArrays
from ..schedulers.base import JobInfo
from ..script_safety import unsafe_value_errors

if TYPE_CHECKING:
    from distributed.deploy import SpecCluster
    from distributed.security import Security


@dataclass
class JobEvents:
    """Callbacks a backend calls as its batch jobs are submitted or refused."""

    submitted: Callable[[str], None]
    submit_failed: Callable[[str], None]
    # A job we end on purpose (scaling down, closing): its end is neither a failure nor a loss.
    cancelled: Callable[[str], None] = lambda job_id: None


class Backend(abc.ABC):
    """One scheduler. Backends know nothing of HTTP or of the manager: they build clusters and
    read the state of the jobs they submitted."""

    name: str
    label: str
    # Whether clusters of this backend run batch jobs whose state is read from the scheduler.
    has_jobs: bool = False
    # How this scheduler reads extra directive lines and which options they may not set
    # (directive_policy); None for backends without directives.
    directive_syntax: ClassVar[DirectiveSyntax | None] = None

    @property
    def job_arrays(self) -> JobArrays | None:
        """How this backend's scheduler names a job array's elements; None where it has none."""
        return None

    @classmethod
    def available(cls) -> bool:
        """Whether this machine can use this backend, for the default profiles."""
        return True

    @abc.abstractmethod
    def default_options(self) -> dict[str, Any]:
        """Defaults for the options form, taken from the user's dask config."""

    @abc.abstractmethod
    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        """JSON Schema of the options; `choices` are admin-allowed values per option."""

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        """Checks that JSON Schema cannot express (e.g. that a size string parses). Backends add
        their own to these, which hold for every option value of every scheduler."""
        return unsafe_value_errors(options)

    def directive_errors(
        self, directives: list[str], options: dict[str, Any], trusted: Collection[str] = ()
    ) -> list[FieldError]:
        """Extra directives that would override a validated option (every option of every line,
        read as the scheduler reads it); `trusted` ones (an admin's defaults) may."""
        syntax = self.syntax_for(options)
        if syntax is None:
            return []
        names = set(self.default_options()) | set(options)
        return directive_errors(directives, syntax, options=names, trusted=trusted)

    def syntax_for(self, options: dict[str, Any]) -> DirectiveSyntax | None:
        """The directive syntax for these options (a backend may refuse more, such as the
        resource its memory option sets)."""
        return self.directive_syntax

    @abc.abstractmethod
    async def start_cluster(
        self,
        options: dict[str, Any],
        *,
        name: str,
        events: JobEvents,
        security: Security | None = None,
    ) -> SpecCluster:
        """A started cluster without workers: scheduler on this host, dashboard on 127.0.0.1
        answering only requests that carry its key (dashboard_access); with `security`, every
        connection of the cluster uses TLS with those credentials."""

    def dashboard_key(self, cluster: SpecCluster) -> str | None:
        """What the proxy must send for the cluster's dashboard to answer; None when it asks
        for nothing."""
        return key_of(getattr(cluster, "scheduler", None))

    def job_name(self, cluster_id: str) -> str | None:
        """The name a cluster's batch jobs are submitted under (None: it runs none), by which
        a job named in a record is confirmed to be the cluster's before it is killed."""
        return None

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        return {}

    async def kill_jobs(self, job_ids: list[str]) -> None:
        return None

    def job_of_worker(self, cluster: SpecCluster, worker_name: str) -> str | None:
        """The batch job a connected worker runs in; None for clusters without batch jobs."""
        return None

    def jobs_cancelled(self, job_ids: list[str]) -> None:
        """Jobs of ours that another process (a cluster's supervisor) ended on purpose."""
        return None

    def walltime_s(self, options: dict[str, Any]) -> float | None:
        """The walltime the options ask for, in seconds; None when jobs have none."""
        return None

    def job_cores(self, options: dict[str, Any]) -> int:
        """Cores one batch job holds (what core-hours count); dask-jobqueue's `cores`."""
        try:
            return max(1, int(options.get("cores") or 1))
        except (TypeError, ValueError):
            return 1

    def replace_ahead_s(self, options: dict[str, Any]) -> float | None:
        """How long before its walltime ends a running job gets its replacement submitted, so
        that the connected workers do not drop; None when jobs have no walltime."""
        return None

    def job_log_files(self, options: dict[str, Any], cluster_id: str, job_id: str) -> list[Path]:
        """The files a batch job of this cluster wrote its output and errors to (those that
        exist); none without batch jobs."""
        return []

    def forget_ended_workers(self, cluster: SpecCluster, ended_job_ids: set[str]) -> None:
        """Drop what the cluster keeps of workers whose batch job ended, so they can be replaced.
        Clusters without batch jobs have nothing to drop."""
        return None
