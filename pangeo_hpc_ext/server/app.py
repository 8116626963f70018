"""The jupyter_server extension: configuration, handlers, and the manager's start and stop."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Integer, Unicode, default, validate

from ..core.ledger import JobLedger
from ..core.manager import ClusterManager
from ..core.profiles import build_profiles
from ..paths import default_data_dir
from .events import ClusterEventEmitter
from .handlers import API_HANDLERS
from .kernel_link import KernelDashboardLink
from .proxy import DASHBOARD_HANDLERS


class PangeoHPC(ExtensionApp):
    name = "pangeo_hpc_ext"

    profiles = Dict(
        help="""Cluster profiles offered to users, by name. Each value is a dict with
        `backend` ("local" or "lsf"), optional `label`, `defaults` (option values) and `choices`
        (allowed values per option, e.g. {"queue": ["normal", "bigmem"]}). Empty: one profile per
        backend with defaults from the user's dask `jobqueue` config.""",
    ).tag(config=True)

    max_clusters = Integer(10, help="Clusters one server may run at once.").tag(config=True)
    max_workers = Integer(
        100, help="Largest worker count of one cluster (manual or adaptive)."
    ).tag(config=True)
    state_dir = Unicode(
        help="Where the server records the batch jobs it submitted, to kill them after a crash."
    ).tag(config=True)
    job_poll_interval = Float(
        2.0, help="Seconds between two reads of batch job states (one scheduler call each)."
    ).tag(config=True)
    kernel_dashboard_link = Bool(
        True,
        help="""Give kernels started by this server DASK_DISTRIBUTED__DASHBOARD__LINK pointing at
        jupyter-server-proxy's {base_url}proxy/{port}/status, so that a LocalCluster or LSFCluster
        made in a notebook prints a dashboard link that opens through Jupyter. A link the user set
        in that variable or in their dask config is kept.""",
    ).tag(config=True)

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return str(default_data_dir() / "server")

    @validate("max_clusters", "max_workers")
    def _positive(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    @validate("job_poll_interval")
    def _poll_interval(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise ValueError("job_poll_interval must be positive")
        return proposal["value"]

    def initialize_settings(self) -> None:
        self.manager = ClusterManager(
            build_profiles(self.profiles),
            ledger=JobLedger(Path(self.state_dir)),
            max_clusters=self.max_clusters,
            max_workers=self.max_workers,
            poll_interval=self.job_poll_interval,
        )
        self.manager.add_listener(ClusterEventEmitter(self.serverapp.event_logger))

    def initialize_handlers(self) -> None:
        self.handlers.extend(API_HANDLERS)
        self.handlers.extend(DASHBOARD_HANDLERS)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.manager.start()
        self._stop_on_sigint(serverapp)
        self.kernel_link: KernelDashboardLink | None = None
        if self.kernel_dashboard_link:
            self.kernel_link = KernelDashboardLink.for_server(serverapp)

    def _stop_on_sigint(self, serverapp: Any) -> None:
        """Without a terminal on stdin jupyter_server installs no SIGINT handler, and the one in
        place ends the process without stopping extensions, leaving every batch job running:
        Python's KeyboardInterrupt, or the sys.exit that importing dask_jobqueue installs. LSF's
        bkill sends SIGINT first. Make SIGINT the clean stop SIGTERM is."""
        self._replaced_sigint: Any = None
        if threading.current_thread() is not threading.main_thread():
            return
        handler = signal.getsignal(signal.SIGINT)
        if getattr(handler, "__self__", None) is serverapp:
            return  # the server's own: its prompt on a terminal, or JupyterHub's stop

        def stop(signum: int, frame: Any) -> None:
            self.log.critical("received signal %s, stopping", signum)
            serverapp.stop(from_signal=True)

        signal.signal(signal.SIGINT, stop)
        self._replaced_sigint = handler

    async def stop_extension(self) -> None:
        await self.manager.stop()
        replaced = getattr(self, "_replaced_sigint", None)
        if replaced is not None:  # for a process that embeds the server and goes on
            signal.signal(signal.SIGINT, replaced)
        kernel_link = getattr(self, "kernel_link", None)  # None if the start hook never ran
        if kernel_link is not None:
            kernel_link.uninstall()
