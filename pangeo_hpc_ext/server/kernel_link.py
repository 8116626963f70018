"""Kernels see a dashboard link that opens through Jupyter, without any dask config edit.

The seed's users wrote `distributed.dashboard.link: "/proxy/{port}/status"` into their dask config
so that `LocalCluster(...)` / `LSFCluster(...)` in a notebook prints a link through
jupyter-server-proxy. We put the same setting, with this server's real base_url, into the server
process's environment when the extension starts: kernels (and terminals) started by a local kernel
provisioner inherit the server's environment, whatever kernel manager or provisioner class is
configured, and dask reads `DASK_*` variables at import. Kernels on remote gateways do not see it.

An explicit choice of the user wins: an existing `DASK_DISTRIBUTED__DASHBOARD__LINK`, or a
`distributed.dashboard.link` in their dask config that differs from distributed's default.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dask.config
import distributed  # noqa: F401  (registers distributed's config defaults)
from jupyter_server.utils import url_path_join

log = logging.getLogger(__name__)

DASHBOARD_LINK_VAR = "DASK_DISTRIBUTED__DASHBOARD__LINK"
LINK_KEY = "distributed.dashboard.link"


def proxied_dashboard_link(base_url: str) -> str:
    """jupyter-server-proxy's route to a local port under base_url, as a dask link template."""
    # dask formats the link with str.format: braces in a base_url must stay literal.
    escaped = base_url.replace("{", "{{").replace("}", "}}")
    return url_path_join(escaped, "proxy", "{port}", "status")


def user_chose_link() -> str | None:
    """Where the user set the dashboard link themselves, if they did."""
    if DASHBOARD_LINK_VAR in os.environ:
        return f"${DASHBOARD_LINK_VAR}"
    default = dask.config.get(LINK_KEY, config=dask.config.merge(*dask.config.defaults))
    if dask.config.get(LINK_KEY) != default:
        return f"dask config {LINK_KEY}"
    return None


def proxy_routes_enabled(serverapp: Any) -> bool:
    """Whether jupyter-server-proxy's /proxy/<port> routes exist on this server."""
    package = serverapp.extension_manager.extensions.get("jupyter_server_proxy")
    return package is not None and package.enabled


class KernelDashboardLink:
    """Sets the variable for the server's lifetime and removes it again at stop."""

    def __init__(self, base_url: str) -> None:
        self.link = proxied_dashboard_link(base_url)
        self.installed = False

    @classmethod
    def for_server(cls, serverapp: Any) -> KernelDashboardLink:
        link = cls(serverapp.base_url)
        if proxy_routes_enabled(serverapp):
            link.install()
        else:
            log.warning(
                "jupyter-server-proxy's server extension is not enabled: kernels keep dask's "
                "default dashboard link (enable it to get links through Jupyter)"
            )
        return link

    def install(self) -> None:
        chosen = user_chose_link()
        if chosen is not None:
            log.info("Kernels keep the dask dashboard link set in %s", chosen)
            return
        os.environ[DASHBOARD_LINK_VAR] = self.link
        self.installed = True
        log.info("Kernels get %s=%s", DASHBOARD_LINK_VAR, self.link)

    def uninstall(self) -> None:
        if self.installed and os.environ.get(DASHBOARD_LINK_VAR) == self.link:
            del os.environ[DASHBOARD_LINK_VAR]
        self.installed = False
