"""The jupyter_server extension: configuration, handlers, and the manager's start and stop."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Enum, Float, Integer, Unicode, default, validate

from ..core.ledger import JobLedger
from ..core.manager import DEFAULT_IDLE_TIMEOUT_S, ClusterManager
from ..core.profiles import IDLE_TIMEOUT_CEILING_S, build_profiles, idle_timeout_ok
from ..notebook.catalog import KernelCatalog
from ..notebook.clusters import NotebookClusters
from ..notebook.kernel_environment import KernelEnvironment
from ..notebook.processes import local_kernel_pids
from ..paths import default_state_dir
from ..supervisor import SupervisorHost
from .cluster_view import catalog_entry, managed_view, notebook_view
from .events import ClusterEventEmitter
from .generic_proxy import OPT_IN, close_generic_routes
from .handlers import API_HANDLERS
from .notebook_handlers import NOTEBOOK_API_HANDLERS
from .proxy import DASHBOARD_HANDLERS
from .upstream import UpstreamPool


class PangeoHPC(ExtensionApp):
    name = "pangeo_hpc_ext"

    profiles = Dict(
        help="""Cluster profiles offered to users, by name. Each value is a dict with
        `backend` (a backend's name: "local", "lsf", "slurm", "sge"), optional `label`,
        `defaults` (option values) and `choices` (allowed values per option, e.g.
        {"queue": ["normal", "bigmem"]}). Empty: `local` and one profile per scheduler found
        here, with defaults from the user's dask `jobqueue` config.""",
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
    scheduler_timeout = Float(
        30.0,
        help="""Seconds a scheduler command (bjobs, squeue, qstat, ...) may take before it is
        killed and counted as failed; a submission may take twice as long. Job states then stay
        as last read, with a warning on the cluster, and the API keeps answering.""",
    ).tag(config=True)
    on_server_stop = Enum(
        ["close", "keep"],
        "close",
        help="""What a server stop does to the clusters it runs. "close": close each one and kill
        its batch jobs (a cluster started with `keep` stays all the same). "keep": leave them all
        running, each in its own supervisor process; the next server started with the same
        state_dir on this host reattaches them, same ids and workers.""",
    ).tag(config=True)
    idle_timeout = Float(
        3600.0,
        help="""Seconds a cluster left running with no server attached and no Dask client
        connected waits before it closes itself and kills its jobs (at most its jobs'
        walltime). 0: never. Its supervisor applies it while no server drives the cluster;
        with a server, cluster_idle_timeout applies.""",
    ).tag(config=True)
    cluster_idle_timeout = Float(
        DEFAULT_IDLE_TIMEOUT_S,
        help="""Seconds a cluster started here may have no Dask client connected and no task
        (processing, queued or waiting for a worker; an adaptive cluster at its minimum counts
        as idle; the clock runs once the workers asked for are connected) before the server
        closes it and kills its jobs. 0: never. A profile's `idle_timeout` and a request's
        `idle_timeout` override it. Clusters started in notebooks are left alone.""",
    ).tag(config=True)
    max_idle_timeout = Float(
        0.0,
        help="""The largest idle timeout a profile or a request may set, in seconds (a request
        above it, or asking for 0, never, is refused with 422; a profile above it is lowered to
        it). 0: no limit.""",
    ).tag(config=True)
    kernel_dashboard_link = Bool(
        True,
        help="""Give kernels started by this server DASK_DISTRIBUTED__DASHBOARD__LINK pointing at
        our {base_url}pangeo-hpc/dashboards/{port}/status, so that a LocalCluster or LSFCluster
        made in a notebook prints a dashboard link that opens through Jupyter without handing
        the dashboard any Jupyter credential. A link the user set in that variable or in their
        dask config is kept.""",
    ).tag(config=True)
    register_notebook_clusters = Bool(
        True,
        help="""Give kernels started by this server a dask scheduler preload that registers every
        scheduler they start, so that the sidebar lists it ('From notebooks') with its workers,
        jobs and dashboard, and the kernels' dashboard link reaches it. A
        DASK_DISTRIBUTED__SCHEDULER__PRELOAD the user set is kept (preloads in their dask config
        are kept and ours is added).""",
    ).tag(config=True)
    allow_generic_proxy = Bool(
        False,
        help="""Keep jupyter-server-proxy's generic routes ({base_url}proxy/<port>,
        proxy/absolute/<port>, proxy/<host>:<port>). They reach any local port and forward the
        user's Authorization header, cookies and ?token= to it; installing pangeo-hpc-ext enables
        jupyter-server-proxy, so by default we close them (404). Dask dashboards do not need
        them. Set True only if other web apps must be reached through them.""",
    ).tag(config=True)

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return str(default_state_dir())

    @validate("max_clusters", "max_workers")
    def _positive(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    @validate("idle_timeout", "cluster_idle_timeout", "max_idle_timeout")
    def _idle_seconds(self, proposal: Any) -> float:
        if not idle_timeout_ok(proposal["value"]):
            raise ValueError(
                f"{proposal['trait'].name} must be 0 (never) up to {IDLE_TIMEOUT_CEILING_S} seconds"
            )
        return proposal["value"]

    @validate("job_poll_interval", "scheduler_timeout")
    def _positive_seconds(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise ValueError(f"{proposal['trait'].name} must be positive")
        return proposal["value"]

    def initialize_settings(self) -> None:
        profiles = build_profiles(self.profiles)
        for profile in profiles.values():
            client = getattr(profile.backend, "client", None)
            if client is not None:
                client.timeout_s = self.scheduler_timeout
        self.manager = ClusterManager(
            profiles,
            ledger=JobLedger(Path(self.state_dir)),
            max_clusters=self.max_clusters,
            max_workers=self.max_workers,
            poll_interval=self.job_poll_interval,
            # Built before the kernels' variables are set below: supervisors must not get them.
            host=SupervisorHost(
                Path(self.state_dir),
                idle_timeout=self.idle_timeout,
                scheduler_timeout=self.scheduler_timeout,
            ),
            on_server_stop=self.on_server_stop,
            idle_timeout=self.cluster_idle_timeout,
            max_idle_timeout=self.max_idle_timeout,
        )
        # One directory per server process: two servers of one user list only their own kernels.
        registry = Path(self.state_dir) / "notebooks" / f"{os.getpid()}-{secrets.token_hex(4)}"
        self.notebook_clusters = NotebookClusters(
            registry,
            kernel_pids=lambda: local_kernel_pids(self.serverapp.kernel_manager),
            backends={p.backend.name: p.backend for p in self.manager.profiles.values()},
            poll_interval=self.job_poll_interval,
        )
        self.kernel_catalog = KernelCatalog(registry, self._catalog_entries)
        emitter = ClusterEventEmitter(self.serverapp.event_logger)
        for source in (self.manager, self.notebook_clusters):
            source.add_listener(emitter)
            source.add_listener(self.kernel_catalog.changed)
        # Before the server listens: no kernel can start without these.
        self.notebook_clusters.prepare()
        self.kernel_environment = KernelEnvironment()
        self.kernel_environment.install_registry(registry)
        if self.kernel_dashboard_link:
            self.kernel_environment.install_dashboard_link(self.serverapp.base_url)
        if self.register_notebook_clusters:
            self.kernel_environment.install_preload()
        # Keep-alive connections to dashboards, shared by every proxied request.
        self.upstream_pool = UpstreamPool()

    def _catalog_entries(self) -> list[dict[str, Any]]:
        base_url = self.serverapp.base_url
        views = [managed_view(self.manager, m, base_url) for m in self.manager.list()]
        notebooks = self.notebook_clusters
        views += [notebook_view(notebooks, c, base_url, None) for c in notebooks.list()]
        return [catalog_entry(view) for view in views]

    def initialize_handlers(self) -> None:
        # The OpenAPI handler describes these very routes.
        self.routes = extension_routes()
        self.handlers.extend(self.routes)
        # jupyter_server loads extensions by name: jupyter_server_proxy's routes exist by now.
        self.close_generic_proxy()

    def close_generic_proxy(self) -> None:
        if self.allow_generic_proxy:
            self.log.warning(
                "jupyter-server-proxy's generic /proxy/<port> route stays open (%s): it forwards "
                "Jupyter credentials to any local port",
                OPT_IN,
            )
            return
        closed = close_generic_routes(self.serverapp.web_app)
        if closed:
            self.log.info(
                "Closed %d generic /proxy/<port> routes of jupyter-server-proxy (%s opens them)",
                closed,
                OPT_IN,
            )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.manager.start()
        self._stop_on_sigint(serverapp)
        await self.notebook_clusters.start()
        self.kernel_catalog.write()
        if not self.allow_generic_proxy:
            self.close_generic_proxy()  # again, in case an extension added them after our load

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
        await self.kernel_catalog.close()
        await self.notebook_clusters.stop()
        self.kernel_environment.uninstall()
        self.upstream_pool.close()


def extension_routes() -> list[tuple[Any, ...]]:
    """Every route the extension registers, in tornado's order (the first match wins); the
    OpenAPI document's paths are made from these."""
    return [*NOTEBOOK_API_HANDLERS, *API_HANDLERS, *DASHBOARD_HANDLERS]
