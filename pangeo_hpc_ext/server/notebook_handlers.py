"""REST for clusters started in notebooks: listed with ours, closed on request, scaled only in
their notebook."""

from __future__ import annotations

from jupyter_server.utils import url_path_join

from ..errors import ClusterNotReady
from ..notebook.clusters import NotebookClusters
from .cluster_view import cluster_json, kernel_paths, notebook_view
from .handlers import ClusterAPIHandler, api_method
from .routes import API_PREFIX


class NotebookClusterHandler(ClusterAPIHandler):
    @property
    def notebooks(self) -> NotebookClusters:
        return self.extensionapp.notebook_clusters

    @api_method
    async def get(self, cluster_id: str) -> None:
        cluster = self.notebooks.get(cluster_id)
        path = (await kernel_paths(self)).get(cluster.kernel_id)
        self.finish(cluster_json(notebook_view(self.notebooks, cluster, self.base_url, path)))

    @api_method
    async def patch(self, cluster_id: str) -> None:
        cluster = self.notebooks.get(cluster_id)
        raise ClusterNotReady(
            f"cluster {cluster.name} was started in a notebook: scale it there "
            "(cluster.scale(n) or cluster.adapt(minimum=..., maximum=...))"
        )

    @api_method
    async def delete(self, cluster_id: str) -> None:
        await self.notebooks.close(cluster_id)
        self.set_status(204)
        self.finish()


# Before API_HANDLERS: tornado takes the first pattern that matches, and ids of ours are hex only.
NOTEBOOK_API_HANDLERS: list[tuple[str, type[ClusterAPIHandler]]] = [
    (url_path_join(API_PREFIX, "clusters", r"(nb-[0-9a-f]{16})"), NotebookClusterHandler),
]
