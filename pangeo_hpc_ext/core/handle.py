"""A started cluster as the manager drives it, wherever its scheduler lives: in a supervisor
process of its own (the server's default) or in the calling process (the supervisor itself, and
the core's unit tests). The manager decides; a handle carries out and reports."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends import Backend, JobEvents
from ..backends.tls import ClusterCredentials


@dataclass
class ClusterEvents:
    """What a handle reports as it happens, besides the jobs its backend submits."""

    jobs: JobEvents
    # The batch job id of a worker that joined (None when it has no batch job).
    worker_joined: Callable[[str | None], None]
    worker_left: Callable[[], None]
    # The cluster is gone without being closed (its supervisor died); the text says why.
    lost: Callable[[str], None] = lambda why: None
    # The cluster runs on, driven by someone else now (another JupyterLab took its supervisor
    # over): nothing of it is ours to act on any more; the text says who.
    displaced: Callable[[str], None] = lambda why: None


@dataclass(frozen=True)
class AdaptBounds:
    minimum: int
    maximum: int


@dataclass
class ClusterSpec:
    """Everything needed to start one cluster, and to find it again after a server restart."""

    id: str
    name: str
    profile: str
    backend: str
    options: dict[str, Any]
    requested: int
    created: str
    credentials_dir: str | None = None
    keep: bool = False
    # Adaptive bounds in force, or None for a manual size.
    adapt: AdaptBounds | None = None
    job_ids: list[str] = field(default_factory=list)
    # Seconds with no client and no task before the cluster is closed (0: never); None in a
    # record written before clusters had their own.
    idle_timeout: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "profile": self.profile,
            "backend": self.backend,
            "options": self.options,
            "requested": self.requested,
            "created": self.created,
            "credentials_dir": self.credentials_dir,
            "keep": self.keep,
            "adapt": [self.adapt.minimum, self.adapt.maximum] if self.adapt else None,
            "job_ids": list(self.job_ids),
            "idle_timeout": self.idle_timeout,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterSpec:
        adapt = data.get("adapt")
        idle_timeout = data.get("idle_timeout")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            profile=str(data["profile"]),
            backend=str(data["backend"]),
            options=dict(data.get("options") or {}),
            requested=int(data.get("requested") or 0),
            created=str(data["created"]),
            credentials_dir=data.get("credentials_dir"),
            keep=bool(data.get("keep", False)),
            adapt=AdaptBounds(int(adapt[0]), int(adapt[1])) if adapt else None,
            job_ids=[str(j) for j in data.get("job_ids") or []],
            idle_timeout=None if idle_timeout is None else float(idle_timeout),
        )

    def credentials(self) -> ClusterCredentials | None:
        return ClusterCredentials(Path(self.credentials_dir)) if self.credentials_dir else None


class ClusterHandle(abc.ABC):
    """What the manager reads and asks of a started cluster. Reads answer at once from what the
    handle knows; commands are carried out before they return."""

    @property
    @abc.abstractmethod
    def scheduler_address(self) -> str | None: ...

    @property
    @abc.abstractmethod
    def dashboard_port(self) -> int | None: ...

    @property
    def dashboard_key(self) -> str | None:
        """What the proxy must send for the dashboard to answer (dashboard_access); None when
        the dashboard asks for nothing."""
        return None

    @abc.abstractmethod
    def connected(self) -> int:
        """Workers connected to the scheduler."""

    @abc.abstractmethod
    def resources(self) -> tuple[int, int]:
        """Threads and memory limit (bytes) of the connected workers."""

    @abc.abstractmethod
    def worker_dashboards(self) -> set[tuple[str, int]]:
        """(host, port) of each connected worker's own dashboard."""

    @abc.abstractmethod
    def connected_job_ids(self) -> set[str]:
        """Batch jobs whose worker is connected now."""

    @abc.abstractmethod
    def clients(self) -> int:
        """Dask clients connected to the scheduler."""

    @abc.abstractmethod
    def tasks(self) -> int:
        """Tasks the scheduler has yet to finish (processing, queued, waiting for a worker)."""

    @abc.abstractmethod
    def planned(self) -> int:
        """Workers the cluster aims for now (adaptive mode moves it)."""

    @abc.abstractmethod
    def submissions(self) -> int:
        """Worker specs the cluster holds: live jobs plus submissions in flight."""

    @abc.abstractmethod
    async def scale(
        self, workers: int, *, requested: int | None = None, ended: frozenset[str] = frozenset()
    ) -> None:
        """Aim for `workers` workers, after dropping those whose batch jobs `ended` (so that
        scaling replaces them). With `requested` the size is the user's: adaptive mode stops,
        and the size is kept where a later server reads it; without, it is a replacement's
        scale-up and what was requested stands."""

    @abc.abstractmethod
    async def adapt(self, minimum: int, maximum: int) -> None:
        """Adaptive mode within these bounds, kept where a later server reads them."""

    @abc.abstractmethod
    async def forget_ended(self, job_ids: set[str]) -> None:
        """Drop the workers whose batch jobs ended, so that scaling replaces them."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the scheduler and the jobs it knows; the handle is done afterwards."""

    async def detach(self) -> None:
        """Stop driving the cluster but leave it running (a kept cluster at server stop). Only
        a cluster in a process of its own can outlive its driver."""
        await self.close()

    def running(self) -> bool:
        """Whether the process that holds the cluster still runs (asked of a cluster driven
        elsewhere, to drop it from the list once it ended)."""
        return True


class ClusterHost(abc.ABC):
    """Where clusters run: starts them, and finds those still running from before."""

    # Whether the clusters' own processes record their batch jobs in a ledger (they outlive the
    # server); otherwise the manager records them in the server's.
    records_jobs: bool = False

    @abc.abstractmethod
    async def start(
        self, spec: ClusterSpec, backend: Backend, events: ClusterEvents
    ) -> ClusterHandle: ...

    async def open(self) -> None:
        """Get ready to start clusters (at server start)."""
        return None

    async def close(self) -> None:
        """Give back what `open` took (at server stop); running clusters are not touched."""
        return None

    async def forget(self, cluster_id: str) -> None:
        """A cluster was deleted: remove what it left (record, ledger, socket, log)."""
        return None

    async def surviving(self) -> list[SurvivingCluster]:
        """Clusters started by an earlier server: those still running and those whose process
        died (their jobs are for the caller to cancel)."""
        return []


@dataclass
class SurvivingCluster:
    spec: ClusterSpec
    # None when its process died; `why` then says how it was found.
    attach: Callable[[ClusterEvents], Any] | None
    why: str = ""
