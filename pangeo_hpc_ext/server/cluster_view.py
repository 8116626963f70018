"""One view of a cluster of either origin (ours, or started in a notebook), and the two shapes
written from it: the REST API's Cluster and the kernels' catalog entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jupyter_server.base.handlers import JupyterHandler

from ..core.cluster import ManagedCluster
from ..core.manager import ClusterManager
from ..notebook.clusters import NotebookClusters
from ..notebook.entries import NotebookCluster
from .routes import cluster_dashboard_url, port_dashboard_url


@dataclass(frozen=True)
class ClusterView:
    id: str
    name: str
    profile: str | None
    origin: str  # "jupyterlab" | "notebook"
    status: str
    scheduler_address: str | None
    dashboard_url: str | None
    requested: int | None  # None: a notebook cluster that was never scaled
    connected: int
    adapt: dict[str, int] | None
    cores: int
    memory: int
    options: dict[str, Any]
    created: str | None
    error: str | None
    warning: str | None
    keep: bool
    jobs: list[dict[str, Any]]  # each in the Job schema
    # Paths of the files a REST client needs to connect (0600, this user's only).
    tls: dict[str, str] | None
    # What a kernel's Client needs to reach the scheduler, as kernel.connect() reads it.
    kernel_tls: dict[str, Any] | None
    notebook: dict[str, Any] | None = None
    # Idle shutdown, and our own accounting: None for a notebook's cluster (its kernel owns it,
    # its jobs are not ours to count).
    idle: dict[str, Any] | None = None
    core_hours: float | None = None
    cores_held: int | None = None


def managed_view(manager: ClusterManager, managed: ManagedCluster, base_url: str) -> ClusterView:
    cores, memory = managed.resources()
    bounds = managed.adapt_bounds
    credentials = managed.credentials
    return ClusterView(
        id=managed.id,
        name=managed.name,
        profile=managed.profile.name,
        origin="jupyterlab",
        status=managed.status.value,
        scheduler_address=managed.scheduler_address,
        dashboard_url=None
        if managed.dashboard_port is None
        else cluster_dashboard_url(base_url, managed.id),
        requested=managed.target,
        connected=managed.connected,
        adapt=None if bounds is None else {"minimum": bounds.minimum, "maximum": bounds.maximum},
        cores=cores,
        memory=memory,
        options=managed.options,
        created=managed.created,
        error=managed.error,
        # Attached elsewhere says more than stale job states (which are not read then).
        warning=managed.elsewhere or managed.warning,
        keep=manager.kept(managed),
        jobs=[job.to_json(managed.ended_by(job)) for job in managed.visible_jobs()],
        tls=credentials.to_json() if credentials else None,
        kernel_tls=None
        if credentials is None
        else {
            "ca_file": str(credentials.ca_file),
            "cert": str(credentials.cert_file),
            "key": str(credentials.key_file),
        },
        idle=managed.idle_json(),
        core_hours=managed.core_hours(),
        cores_held=managed.cores_held(),
    )


def notebook_view(
    notebooks: NotebookClusters, cluster: NotebookCluster, base_url: str, path: str | None
) -> ClusterView:
    """`path`: the notebook (or console) of the cluster's kernel, when it has a session."""
    cores, memory = cluster.resources()
    return ClusterView(
        id=cluster.id,
        name=cluster.name,
        profile=None,
        origin="notebook",
        status=cluster.status.value,
        scheduler_address=cluster.address,
        dashboard_url=None
        if cluster.dashboard_port is None
        else port_dashboard_url(base_url, cluster.dashboard_port),
        requested=cluster.requested,
        connected=cluster.connected,
        adapt=cluster.adapt,
        cores=cores,
        memory=memory,
        options={},
        created=cluster.started,
        error=None,
        warning=None,
        keep=False,
        jobs=[job.to_json() for job in notebooks.jobs(cluster)],
        # A notebook's scheduler keeps its credentials in the kernel (connect() finds them).
        tls=None,
        kernel_tls=cluster.tls,
        notebook={
            "cluster_class": cluster.cluster_class,
            "kernel_id": cluster.kernel_id,
            "path": path,
            "pid": cluster.pid,
        },
    )


def cluster_json(view: ClusterView) -> dict[str, Any]:
    """The REST API's Cluster (schemas.CLUSTER)."""
    answer = {
        "id": view.id,
        "name": view.name,
        "profile": view.profile,
        "origin": view.origin,
        "status": view.status,
        "scheduler_address": view.scheduler_address,
        "tls": view.tls,
        "dashboard_url": view.dashboard_url,
        "workers": {
            "requested": view.connected if view.requested is None else view.requested,
            "connected": view.connected,
        },
        "adapt": view.adapt,
        "cores": view.cores,
        "memory": view.memory,
        "options": view.options,
        "created": view.created,
        "error": view.error,
        "warning": view.warning,
        "keep": view.keep,
        "idle": view.idle,
        "core_hours": view.core_hours,
        "cores_held": view.cores_held,
        "jobs": view.jobs,
    }
    if view.notebook is not None:
        answer["notebook"] = view.notebook
    return answer


def catalog_entry(view: ClusterView) -> dict[str, Any]:
    """A cluster as `pangeo_hpc_ext.kernel.clusters()` lists it to notebooks."""
    return {
        "id": view.id,
        "name": view.name,
        "origin": view.origin,
        "status": view.status,
        "scheduler_address": view.scheduler_address,
        "dashboard_link": view.dashboard_url,
        "workers": {"requested": view.requested, "connected": view.connected},
        "tls": view.kernel_tls,
    }


async def kernel_paths(handler: JupyterHandler) -> dict[str, str]:
    """The notebook (or console) path of each kernel that has a session."""
    sessions = await handler.session_manager.list_sessions()
    return {s["kernel"]["id"]: s.get("path") for s in sessions if s.get("kernel")}


async def notebook_views(handler: JupyterHandler) -> list[ClusterView]:
    notebooks: NotebookClusters = handler.extensionapp.notebook_clusters  # type: ignore[attr-defined]
    clusters = notebooks.list()
    paths = await kernel_paths(handler) if clusters else {}
    return [notebook_view(notebooks, c, handler.base_url, paths.get(c.kernel_id)) for c in clusters]
