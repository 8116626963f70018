"""`clusters.json` in the registry directory: what `pangeo_hpc_ext.kernel.clusters()` lists.

Rewritten (coalesced, once per loop turn) whenever a cluster of either origin changes, so that a
notebook finds a sidebar cluster, or another notebook's, by name without an address to copy. The
file is 0600 in a 0700 directory: it may carry TLS credentials.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..core.cluster import ManagedCluster
from ..core.manager import ClusterManager
from ..kernel.registry import (
    CATALOG_FILE,
    FORMAT_VERSION,
    private_directory_problem,
)
from ..paths import write_json_atomic
from .notebook_clusters import NotebookCluster, NotebookClusters
from .proxy import cluster_dashboard_url, notebook_dashboard_url

log = logging.getLogger(__name__)

WRITE_DELAY_S = 0.1


def cluster_credentials(managed: ManagedCluster) -> dict[str, str | None] | None:
    """What a kernel's Client needs to reach the cluster's TLS scheduler (file paths)."""
    credentials = managed.credentials
    if credentials is None:
        return None
    return {
        "ca_file": str(credentials.ca_file),
        "cert": str(credentials.cert_file),
        "key": str(credentials.key_file),
    }


def sidebar_entry(managed: ManagedCluster, base_url: str) -> dict[str, Any]:
    dashboard = None
    if managed.dashboard_port is not None:
        dashboard = cluster_dashboard_url(base_url, managed.id)
    return {
        "id": managed.id,
        "name": managed.name,
        "origin": "jupyterlab",
        "status": managed.status.value,
        "scheduler_address": managed.scheduler_address,
        "dashboard_link": dashboard,
        "workers": {"requested": managed.target, "connected": managed.connected},
        "tls": cluster_credentials(managed),
    }


def notebook_entry(cluster: NotebookCluster, base_url: str) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "name": cluster.name,
        "origin": "notebook",
        "status": cluster.status,
        "scheduler_address": cluster.address,
        "dashboard_link": notebook_dashboard_url(base_url, cluster),
        "workers": {"requested": cluster.requested, "connected": cluster.connected},
        "tls": cluster.tls,
    }


class KernelCatalog:
    def __init__(
        self, directory: Path, manager: ClusterManager, notebooks: NotebookClusters, base_url: str
    ) -> None:
        self.path = directory / CATALOG_FILE
        self._manager = manager
        self._notebooks = notebooks
        self._base_url = base_url
        self._pending = False
        self._writing: asyncio.Future[None] | None = None
        self._closed = False

    def changed(self, *_event: str) -> None:
        """A change listener of the manager and of the notebook registry. Scaling to 100 jobs
        is hundreds of changes: they are written together, off the event loop (the write is
        fsynced), a moment later."""
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(WRITE_DELAY_S, self._write_soon)

    def _write_soon(self) -> None:
        self._pending = False
        if self._closed:
            return
        catalog = self._catalog()
        if catalog is not None:
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, catalog))

    async def close(self) -> None:
        """No write after this (the directory is about to go): the one under way finishes."""
        self._closed = True
        if self._writing is not None:
            await self._writing

    def write(self) -> None:
        catalog = self._catalog()
        if catalog is not None:
            self._write(catalog)

    def _catalog(self) -> dict[str, Any] | None:
        if private_directory_problem(self.path.parent) is not None:
            return None  # removed at server stop: never recreate it with the umask's mode
        clusters = [sidebar_entry(m, self._base_url) for m in self._manager.list()]
        clusters += [notebook_entry(c, self._base_url) for c in self._notebooks.list()]
        return {"version": FORMAT_VERSION, "clusters": clusters}

    def _write(self, catalog: dict[str, Any]) -> None:
        try:
            write_json_atomic(self.path, catalog)
        except OSError as error:
            log.warning("could not write %s: %s", self.path, error)
