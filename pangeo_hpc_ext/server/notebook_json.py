"""Clusters started in notebooks, as the REST API shows them beside ours."""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import JupyterHandler

from .notebook_clusters import NotebookCluster, NotebookClusters
from .proxy import notebook_dashboard_url

ORIGIN = "notebook"


async def kernel_paths(handler: JupyterHandler) -> dict[str, str]:
    """The notebook (or console) path of each kernel that has a session."""
    sessions = await handler.session_manager.list_sessions()
    return {s["kernel"]["id"]: s.get("path") for s in sessions if s.get("kernel")}


def notebook_cluster_json(
    notebooks: NotebookClusters, cluster: NotebookCluster, base_url: str, path: str | None
) -> dict[str, Any]:
    cores, memory = cluster.resources()
    return {
        "id": cluster.id,
        "name": cluster.name,
        "profile": None,
        "origin": ORIGIN,
        "status": cluster.status,
        "scheduler_address": cluster.address,
        # A notebook's scheduler keeps its credentials in the kernel (connect() finds them).
        "tls": None,
        "dashboard_url": notebook_dashboard_url(base_url, cluster),
        "workers": {
            "requested": cluster.connected if cluster.requested is None else cluster.requested,
            "connected": cluster.connected,
        },
        "adapt": cluster.adapt,
        "cores": cores,
        "memory": memory,
        "options": {},
        "created": cluster.started,
        "error": None,
        "warning": None,
        "keep": False,
        # Its kernel owns it: never closed for idleness, and its jobs are not ours to count.
        "idle": None,
        "core_hours": None,
        "cores_held": None,
        "jobs": [job.to_json() for job in notebooks.jobs(cluster)],
        "notebook": {
            "cluster_class": cluster.cluster_class,
            "kernel_id": cluster.kernel_id,
            "path": path,
            "pid": cluster.pid,
        },
    }


async def notebook_clusters_json(handler: JupyterHandler) -> list[dict[str, Any]]:
    notebooks: NotebookClusters = handler.extensionapp.notebook_clusters  # type: ignore[attr-defined]
    clusters = notebooks.list()
    paths = await kernel_paths(handler) if clusters else {}
    return [
        notebook_cluster_json(notebooks, c, handler.base_url, paths.get(c.kernel_id))
        for c in clusters
    ]
