"""Where this extension's routes live under the server's base_url, and its auth resource."""

from __future__ import annotations

AUTH_RESOURCE = "pangeo-hpc"
API_PREFIX = "pangeo-hpc/api"
DASHBOARD_PREFIX = "pangeo-hpc/clusters"
# Dashboards by port: the link kernels print (dask's link template knows only host and port).
PORT_DASHBOARD_PREFIX = "pangeo-hpc/dashboards"
