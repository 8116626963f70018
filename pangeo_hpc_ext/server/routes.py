"""Where this extension's routes live under the server's base_url, the links to them, and its
auth resource."""

from __future__ import annotations

from jupyter_server.utils import url_path_join

AUTH_RESOURCE = "pangeo-hpc"
API_PREFIX = "pangeo-hpc/api"
DASHBOARD_PREFIX = "pangeo-hpc/clusters"
# Dashboards by port: the link kernels print (dask's link template knows only host and port).
PORT_DASHBOARD_PREFIX = "pangeo-hpc/dashboards"


def cluster_dashboard_route(cluster_id: str) -> str:
    return url_path_join(DASHBOARD_PREFIX, cluster_id, "dashboard")


def port_dashboard_route(port: int | str) -> str:
    return url_path_join(PORT_DASHBOARD_PREFIX, str(port))


def cluster_dashboard_url(base_url: str, cluster_id: str) -> str:
    """The status page of a cluster of ours, as cards and kernels link to it."""
    return url_path_join(base_url, cluster_dashboard_route(cluster_id), "status")


def port_dashboard_url(base_url: str, port: int) -> str:
    """The status page of a scheduler a kernel registered, by its dashboard port."""
    return url_path_join(base_url, port_dashboard_route(port), "status")


def dashboard_link_template(base_url: str) -> str:
    """Our dashboard route by port under base_url, as a dask link template."""
    # dask formats the link with str.format: braces in a base_url must stay literal.
    escaped = base_url.replace("{", "{{").replace("}", "}}")
    return url_path_join(escaped, port_dashboard_route("{port}"), "status")
