"""A registry entry as a kernel's scheduler preload wrote it (pangeo_hpc_ext.kernel.registry),
read strictly: a malformed entry is skipped, never half-trusted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.lifecycle import Status
from ..kernel.registry import FORMAT_VERSION


@dataclass(frozen=True)
class JobRef:
    kind: str  # lsf, slurm, sge: which scheduler's job id
    job_id: str

    @classmethod
    def parse(cls, data: Any) -> JobRef:
        return cls(_typed(data, "kind", str), _typed(data, "job_id", str))


@dataclass(frozen=True)
class NotebookWorker:
    address: str
    host: str
    nthreads: int
    memory_limit: int
    dashboard_port: int | None
    job: JobRef | None


@dataclass(frozen=True)
class NotebookCluster:
    id: str
    name: str
    cluster_class: str | None
    host: str
    pid: int
    create_time: float
    started: str
    address: str
    dashboard_port: int | None
    workers: tuple[NotebookWorker, ...]
    cluster_jobs: tuple[JobRef, ...]
    requested: int | None
    adapt: dict[str, int] | None
    tls: dict[str, Any] | None
    kernel_id: str = ""
    closing: bool = False
    # What the scheduler's dashboard asks of the proxy (dashboard_access): never shown.
    dashboard_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, data: Any) -> NotebookCluster:
        """An entry as a scheduler wrote it; ValueError, TypeError or KeyError when malformed."""
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError("not an entry of this format")
        adapt = _optional(data, "adapt", dict)
        return cls(
            id=_typed(data, "id", str),
            name=_typed(data, "name", str),
            cluster_class=_optional(data, "cluster_class", str),
            host=_typed(data, "host", str),
            pid=_typed(data, "pid", int),
            create_time=float(_typed(data, "create_time", (int, float))),
            started=_typed(data, "started", str),
            address=_typed(data, "address", str),
            dashboard_port=_optional(data, "dashboard_port", int),
            workers=tuple(
                NotebookWorker(
                    address=_typed(w, "address", str),
                    host=_typed(w, "host", str),
                    nthreads=_typed(w, "nthreads", int),
                    memory_limit=_optional(w, "memory_limit", int) or 0,
                    dashboard_port=_optional(w, "dashboard_port", int),
                    job=None if w.get("job") is None else JobRef.parse(w["job"]),
                )
                for w in _typed(data, "workers", list)
            ),
            cluster_jobs=tuple(JobRef.parse(j) for j in _typed(data, "jobs", list)),
            requested=_optional(data, "requested", int),
            adapt=None
            if adapt is None
            else {k: _typed(adapt, k, int) for k in ("minimum", "maximum")},
            tls=_optional(data, "tls", dict),
            dashboard_key=_optional(data, "dashboard_key", str),
        )

    @property
    def connected(self) -> int:
        return len(self.workers)

    @property
    def status(self) -> Status:
        if self.closing:
            return Status.CLOSING
        if self.requested is not None and self.requested != self.connected:
            return Status.SCALING
        return Status.RUNNING

    def resources(self) -> tuple[int, int]:
        return sum(w.nthreads for w in self.workers), sum(w.memory_limit for w in self.workers)

    def job_refs(self) -> list[JobRef]:
        """The cluster's jobs (pending ones too), then jobs only its workers told of; once each."""
        refs = dict.fromkeys([*self.cluster_jobs, *(w.job for w in self.workers if w.job)])
        return list(refs)

    def worker_dashboards(self) -> set[tuple[str, int]]:
        return {(w.host, w.dashboard_port) for w in self.workers if w.dashboard_port}

    def fingerprint(self) -> tuple[Any, ...]:
        return (self.status, self.connected, self.requested, self.adapt, self.job_refs())


def _typed(data: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{key} has the wrong type")
    return value


def _optional(data: Any, key: str, kind: type) -> Any:
    return None if data.get(key) is None else _typed(data, key, kind)
