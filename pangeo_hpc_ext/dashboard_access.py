"""Who may talk to a cluster's dashboard: only our proxy, acting for an authenticated Jupyter user.

A dashboard listens on a loopback TCP port, which every local user can connect to. Each scheduler
we start (and each scheduler a kernel of our server starts, through its preload) gets a random
key; its HTTP application answers 403 to any request, websocket upgrades included, that does not
carry the key in `KEY_HEADER`. Only the proxy adds it, and it learns the key over channels that
only this user can read (the supervisor's socket, the kernels' private registry directory).

The check runs where tornado picks a handler, before any of the scheduler's routes (Bokeh's
documents and websockets, /json, /info, /metrics, /proxy, /statics) sees the request, and removes
the header there: Bokeh copies request headers into the session token it writes into the page,
and the key has no business in a browser.

Why a key rather than HTTPS with client certificates from the cluster's CA: distributed's
dashboard TLS (`distributed.scheduler.dashboard.tls.*`) does not ask for client certificates, and
every proxied byte, Bokeh's websocket stream included, would then be encrypted and decrypted on
loopback, where nobody but root can read traffic anyway. Why not a Unix socket: dashboards, the
kernels' dashboard links and the `dashboards/{port}` route are all keyed by TCP port, and a
scheduler started in a notebook listens where distributed puts it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import Scheduler
from distributed.diagnostics.plugin import SchedulerPlugin
from tornado import httputil, web

# Dashboards are only ever reached through our proxy, which connects to 127.0.0.1.
DASHBOARD_ADDRESS = "127.0.0.1:0"
KEY_HEADER = "X-Pangeo-HPC-Dashboard-Key"
KEY_OPTION = "pangeo_hpc_dashboard_key"
# Where the key is kept on the guarded application, for the supervisor and the preload to read.
KEY_ATTRIBUTE = "_pangeo_hpc_dashboard_key"


def new_key() -> str:
    return secrets.token_urlsafe(32)


class _Refused(web.RequestHandler):
    """Every method of every path, for a request without the key."""

    def prepare(self) -> None:
        raise web.HTTPError(403)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"{status_code}: this dashboard is reached through JupyterLab only\n")


def _carries(request: httputil.HTTPServerRequest, key: str) -> bool:
    offered = request.headers.get_list(KEY_HEADER)
    # One copy, compared in constant time; two copies are never ours.
    return len(offered) == 1 and hmac.compare_digest(offered[0].encode(), key.encode())


def guard(application: web.Application, key: str) -> None:
    """From now on `application` serves only requests carrying `key`. Replaces find_handler on
    this one instance: distributed's RoutingApplication routes its own rules and then Bokeh's
    application from there, and tornado's HTTP server asks it for every request."""
    find_handler = application.find_handler

    def guarded(request: httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        if not _carries(request, key):
            return application.get_handler_delegate(request, _Refused)
        del request.headers[KEY_HEADER]
        return find_handler(request, **kwargs)

    application.find_handler = guarded  # type: ignore[method-assign]
    setattr(application, KEY_ATTRIBUTE, key)


def key_of(server: Any) -> str | None:
    """The key a scheduler's (or worker's) dashboard asks for, None when it is not guarded."""
    return getattr(getattr(server, "http_application", None), KEY_ATTRIBUTE, None)


class _NoWorkerDashboards(SchedulerPlugin):
    """Our workers run no dashboard (backends start them without one and without HTTP routes),
    but distributed reports a worker's bare HTTP server as its "dashboard" all the same: the
    scheduler's worker table would link to an empty page. Forgotten as each worker arrives."""

    name = "pangeo-hpc-no-worker-dashboards"

    def add_worker(self, scheduler: Any, worker: str) -> None:
        state = scheduler.workers.get(worker)
        if state is not None:
            state.services.pop("dashboard", None)


def guarded_scheduler(**options: Any) -> Scheduler:
    """A Scheduler whose dashboard is guarded from its first request: the key comes with the
    scheduler's options (SpecCluster's `scheduler_cls`/`cls` is any callable). The scheduler's
    HTTP server listens in its constructor but handles nothing until the event loop runs again,
    after this returns."""
    key = options.pop(KEY_OPTION)
    scheduler = Scheduler(**options)
    guard(scheduler.http_application, key)
    scheduler.add_plugin(_NoWorkerDashboards())
    return scheduler


@dataclass(frozen=True)
class SchedulerFactory:
    """What a SpecCluster's scheduler spec holds: the class (any callable) and its options."""

    cls: Callable[..., Scheduler] = Scheduler
    options: dict[str, Any] = field(default_factory=dict)


def guarded_scheduler_options() -> SchedulerFactory:
    """A scheduler with its dashboard on loopback, guarded by a new key."""
    options = {"dashboard_address": DASHBOARD_ADDRESS, KEY_OPTION: new_key()}
    return SchedulerFactory(guarded_scheduler, options)


def guarded(scheduler_spec: dict[str, Any]) -> dict[str, Any]:
    """A not yet started SpecCluster's scheduler spec (as LocalCluster builds it), guarded by a
    new key."""
    options = {**scheduler_spec.get("options", {}), KEY_OPTION: new_key()}
    return {"cls": guarded_scheduler, "options": options}
