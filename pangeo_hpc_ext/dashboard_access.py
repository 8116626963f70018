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
from typing import Any

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
