"""What kernels started by this server find in their environment, without any dask config edit.

- `DASK_DISTRIBUTED__DASHBOARD__LINK`: the seed's users wrote `distributed.dashboard.link:
  "/proxy/{port}/status"` into their dask config so that `LSFCluster(...)` in a notebook printed
  a link through jupyter-server-proxy's generic route, which hands the user's credentials to
  whatever listens on the port. Kernels get our port route instead
  (`{base_url}pangeo-hpc/dashboards/{port}/status`), which strips credentials and proxies only
  to dashboards of our clusters and of schedulers registered by this server's kernels.
- `DASK_DISTRIBUTED__SCHEDULER__PRELOAD`: the user's own preloads plus our file, which registers
  every scheduler a kernel starts (pangeo_hpc_ext.kernel.scheduler_preload).
- `PANGEO_HPC_REGISTRY`: the private directory of that registry, also read by
  `pangeo_hpc_ext.kernel.connect`.

They are set in the server process's environment for its lifetime: kernels (and terminals) that a
local provisioner starts inherit it, whatever kernel manager class is configured, and dask reads
`DASK_*` variables at import. Kernels on remote gateways do not see them. An explicit choice of
the user wins: a variable already set, or a dashboard link in their dask config.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dask.config

from .. import dask_defaults
from ..kernel.registry import REGISTRY_VAR
from ..server.routes import dashboard_link_template

log = logging.getLogger(__name__)

DASHBOARD_LINK_VAR = "DASK_DISTRIBUTED__DASHBOARD__LINK"
LINK_KEY = "distributed.dashboard.link"
PRELOAD_VAR = "DASK_DISTRIBUTED__SCHEDULER__PRELOAD"
PRELOAD_ARGV_VAR = "DASK_DISTRIBUTED__SCHEDULER__PRELOAD_ARGV"
PRELOAD_KEY = "distributed.scheduler.preload"
PRELOAD_ARGV_KEY = "distributed.scheduler.preload-argv"
# By path, so that a kernel of an environment without pangeo-hpc-ext still starts schedulers.
PRELOAD_FILE = Path(__file__).resolve().parents[1] / "kernel" / "preload" / "pangeo_hpc_preload.py"


def user_chose_link() -> str | None:
    """Where the user set the dashboard link themselves, if they did."""
    if DASHBOARD_LINK_VAR in os.environ:
        return f"${DASHBOARD_LINK_VAR}"
    dask_defaults.register_distributed()
    default = dask.config.get(LINK_KEY, config=dask.config.merge(*dask.config.defaults))
    if dask.config.get(LINK_KEY) != default:
        return f"dask config {LINK_KEY}"
    return None


def preload_values() -> dict[str, str]:
    """The preload variables kernels get: the user's configured preloads (which the variable
    would otherwise hide) followed by ours."""
    configured = dask.config.get(PRELOAD_KEY) or []
    preloads = [configured] if isinstance(configured, str) else list(configured)
    values = {PRELOAD_VAR: repr([*preloads, str(PRELOAD_FILE)])}  # dask parses a Python literal
    argv = dask.config.get(PRELOAD_ARGV_KEY) or []
    if argv and isinstance(argv[0], list):  # one argv per preload: ours takes none
        values[PRELOAD_ARGV_VAR] = repr([*argv, []])
    return values


class KernelEnvironment:
    """Sets variables for the server's lifetime and removes them again at stop."""

    def __init__(self) -> None:
        self.installed: dict[str, str] = {}

    def install_dashboard_link(self, base_url: str) -> None:
        chosen = user_chose_link()
        if chosen is not None:
            log.info("Kernels keep the dask dashboard link set in %s", chosen)
            return
        self._set(DASHBOARD_LINK_VAR, dashboard_link_template(base_url))

    def install_registry(self, directory: Path) -> None:
        self._set(REGISTRY_VAR, str(directory))

    def install_preload(self) -> None:
        if PRELOAD_VAR in os.environ:
            log.warning(
                "Kernels keep $%s as set: schedulers started in notebooks are not registered "
                "(add %s to it to have them listed and their dashboards proxied)",
                PRELOAD_VAR,
                PRELOAD_FILE,
            )
            return
        for name, value in preload_values().items():
            self._set(name, value)

    def uninstall(self) -> None:
        for name, value in self.installed.items():
            if os.environ.get(name) == value:
                del os.environ[name]
        self.installed = {}

    def _set(self, name: str, value: str) -> None:
        os.environ[name] = value
        self.installed[name] = value
        log.info("Kernels get %s=%s", name, value)
