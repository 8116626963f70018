"""Dask dashboards proxied through Jupyter: by cluster id (clusters we started) and by port (the
link kernels print, for those clusters and for schedulers registered by this server's kernels).

One subclass of jupyter-server-proxy's ProxyHandler (its authentication, subprotocol and
redirect handling), given how a route finds its upstream, decides where a request may go and what
of it may leave Jupyter. The transport is ours (upstream.py): HTTP over pooled keep-alive
connections, and websockets spliced as bytes after both handshakes. The rules:

- The upstream is always 127.0.0.1:<dashboard port of a running cluster of ours, or of a scheduler
  that this server's kernel registered and that this user's process listens on>, looked up
  server-side from the id or port in the URL; nothing in the path, query or headers can change it.
- Only GET, HEAD and websocket upgrades pass; Jupyter authenticates and authorizes each of them,
  and a cross-origin request is refused even when it carries a valid token.
- No Jupyter credential reaches the dashboard: Bokeh copies the request's headers, cookies and
  query arguments into the session token it writes, readable, into the page. We forward an
  allowlist of headers (never Authorization, Cookie or Referer) and drop the token query argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote_plus

from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import ensure_async
from jupyter_server_proxy.handlers import ProxyHandler
from tornado import httputil, ioloop, web

from ..core.cluster import ManagedCluster, Phase
from ..core.manager import ClusterManager
from ..dashboard_access import KEY_HEADER
from ..errors import ClusterNotFound
from ..notebook.clusters import NotebookClusters
from .http_errors import http_status
from .routes import (
    AUTH_RESOURCE,
    DASHBOARD_PREFIX,
    PORT_DASHBOARD_PREFIX,
    cluster_dashboard_route,
    port_dashboard_route,
)
from .upstream import BODYLESS_CODES, UPSTREAM_HOST, UpstreamError, open_websocket, splice

# What a browser sends that a dashboard may use. Everything else stays in Jupyter: credentials
# (Authorization, Cookie, custom auth headers of an IdentityProvider or of JupyterHub's proxy),
# Referer (the Jupyter page's URL, possibly with ?token=), Host and Origin (already checked here).
FORWARDED_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "pragma",
        "range",
        "user-agent",
    }
)
# While a dashboard websocket is open, the server counts as active at least this often, even when
# the dashboard has nothing new to draw: JupyterHub reads the server's last activity (its idle
# culler too), and a user watching a dashboard is not idle.
ACTIVITY_WHILE_OPEN_S = 10.0
CREDENTIAL_ARGUMENTS = frozenset({"token", "_xsrf"})
# Upstream response headers that would act on Jupyter's origin rather than on the dashboard.
DROPPED_RESPONSE_HEADERS = (
    "Set-Cookie",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
)
# Hop-by-hop headers, the length (tornado sets its own) and what would act on Jupyter's origin.
UNFORWARDED_RESPONSE_HEADERS = frozenset(
    {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", *DROPPED_RESPONSE_HEADERS}
)
# Who may frame a dashboard page: pages of this origin (JupyterLab's dashboard and plot tabs),
# whatever Jupyter's own policy says. JupyterHub's single-user server makes its policy
# frame-ancestors 'none', which left the tabs blank; Jupyter's default is 'self' too. On a hub
# without subdomains, 'self' includes other users' servers: see docs/architecture.md.
DASHBOARD_CSP = "frame-ancestors 'self'"
# Sec-Fetch-Dest of a document loaded into a frame of another page. Such a load must come from
# this origin (Sec-Fetch-Site): what CSP says, checked again before anything is proxied, in case a
# front proxy rewrites our policy.
EMBEDDED_DESTINATIONS = frozenset({"iframe", "frame", "embed", "object"})
CONTEXT_HEADERS = ("X-Forwarded-Context", "X-ProxyContextPath", "X-Forwarded-Prefix")
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# The dashboard's files (distributed's /statics/, Bokeh's /static/): Tornado's file handler sends
# ETag and Last-Modified but no Cache-Control, so a browser refetches them on every page. Under a
# cluster id they cannot change (the URL names one scheduler, gone when the cluster closes); a
# port may later serve another scheduler of another version, so there they are revalidated
# (a 304 without a body).
STATIC_PREFIXES = ("/statics/", "/static/")
CLUSTER_STATIC_CACHE = "private, max-age=86400"
PORT_STATIC_CACHE = "private, no-cache"
# RFC 3986 path characters; "?" and "#" are not among them, so a decoded "%3F" cannot start a query.
PATH_SAFE = "/:@!$&'()*+,;=-._~"
# The scheduler dashboard's own route to worker dashboards: distributed.http.proxy, which checks
# that host:port is a worker's dashboard over HTTP but not on websockets. We check both.
WORKER_PROXY_PATH = re.compile(r"/proxy/([0-9]+)/([^/]*)/", re.ASCII)


def upstream_path(proxied_path: str) -> str:
    """The decoded path to request from the dashboard; no dot segments."""
    path = proxied_path if proxied_path.startswith("/") else "/" + proxied_path
    if any(segment in (".", "..") for segment in path.split("/")):
        raise web.HTTPError(400, "dot segments are not allowed in a dashboard path")
    return path


def without_credentials(query: str) -> str:
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.split("=", 1)[0]) not in CREDENTIAL_ARGUMENTS
    ]
    return "&".join(kept)


def request_target(proxied_path: str, query: str) -> str:
    """Path and query to request from the dashboard: the decoded path quoted again (so an
    encoded "?" or "#" stays in the path), no dot segments, no credential arguments."""
    path = quote(upstream_path(proxied_path), safe=PATH_SAFE)
    kept = without_credentials(query)
    return f"{path}?{kept}" if kept else path


def worker_dashboards(managed: ManagedCluster) -> set[tuple[str, int]]:
    return managed.handle.worker_dashboards() if managed.handle is not None else set()


@dataclass(frozen=True)
class Upstream:
    """Where one dashboard request goes: the port on 127.0.0.1, our route to it (for redirects
    and X-Forwarded-Prefix), the worker dashboards its /proxy/<port>/<host>/ pages may reach, and
    how long a browser may keep its static files."""

    port: int
    route: str
    worker_dashboards: Callable[[], set[tuple[str, int]]]
    static_cache_control: str
    # What the dashboard asks of every request (dashboard_access); None when it asks nothing.
    key: str | None = None


class DashboardSources(Protocol):
    manager: ClusterManager
    notebook_clusters: NotebookClusters


# How a route finds the upstream from the key in its URL; a 404 HTTPError when there is none.
Resolver = Callable[[DashboardSources, str], Upstream]


def _upstream_of(managed: ManagedCluster, route: str, static_cache: str) -> Upstream | None:
    port = managed.dashboard_port
    if managed.phase is not Phase.RUNNING or port is None:
        return None
    key = managed.handle.dashboard_key if managed.handle is not None else None
    return Upstream(port, route, lambda: worker_dashboards(managed), static_cache, key)


def by_cluster_id(sources: DashboardSources, cluster_id: str) -> Upstream:
    """The dashboard of a running cluster of ours."""
    try:
        managed = sources.manager.get(cluster_id)
    except ClusterNotFound as error:
        # The message would echo the id from the URL; the page needs none.
        raise web.HTTPError(http_status(error), "no such cluster") from None
    upstream = _upstream_of(managed, cluster_dashboard_route(cluster_id), CLUSTER_STATIC_CACHE)
    if upstream is None:
        raise web.HTTPError(404, "this cluster has no dashboard (%s)", managed.phase.value)
    return upstream


def by_port(sources: DashboardSources, port_text: str) -> Upstream:
    """A dashboard port of a running cluster of ours, or of a scheduler registered by one of this
    server's kernels whose process (this user's) listens on it, checked now."""
    port = int(port_text)
    route = port_dashboard_route(port)
    for managed in sources.manager.list():
        if managed.dashboard_port == port:
            upstream = _upstream_of(managed, route, PORT_STATIC_CACHE)
            if upstream is not None:
                return upstream
    registered = sources.notebook_clusters.by_dashboard_port(port)
    if registered is None:
        raise web.HTTPError(404, "no dashboard of a cluster of yours listens on this port")
    return Upstream(
        port, route, registered.worker_dashboards, PORT_STATIC_CACHE, registered.dashboard_key
    )


def drop_response_headers(response: Any) -> None:
    for name in DROPPED_RESPONSE_HEADERS:
        if name in response.headers:
            del response.headers[name]


ALLOWED_METHODS = ("GET", "HEAD")


class DashboardProxyHandler(ExtensionHandlerMixin, ProxyHandler):
    def __init__(self, *args: Any, resolve: Resolver, **kwargs: Any) -> None:
        kwargs.update(host_allowlist=[UPSTREAM_HOST], rewrite_response=(drop_response_headers,))
        super().__init__(*args, **kwargs)
        self.find_upstream = resolve
        self.upstream_port: int | None = None
        self.upstream_key: str | None = None
        self.static_cache_control = PORT_STATIC_CACHE

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        # The base authenticates (and checks Host); see get_login_url for the anonymous answer.
        await super().prepare(*args, _redirect_to_login=False, **kwargs)
        if self._finished:
            return
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403, "not authorized to view cluster dashboards")
        # Tornado checks the origin of websocket upgrades; Jupyter checks it only in its API
        # handlers, so we check plain HTTP requests here.
        if not self._is_websocket_upgrade() and not self.check_origin():
            raise web.HTTPError(403, "cross-origin dashboard request refused")
        headers = self.request.headers
        if (
            headers.get("Sec-Fetch-Dest", "").lower() in EMBEDDED_DESTINATIONS
            and headers.get("Sec-Fetch-Site", "").lower() != "same-origin"
        ):
            raise web.HTTPError(403, "a dashboard is framed only by pages of this server's origin")

    @property
    def content_security_policy(self) -> str:
        # Every answer of these routes, errors included: a refused or closed cluster's page then
        # shows in the tab instead of a blank frame.
        return DASHBOARD_CSP

    def get_login_url(self) -> str:
        # Called by the base's @web.authenticated only for an anonymous GET/HEAD, to redirect.
        # Like every route of ours (and Jupyter's API), the dashboard answers 403 instead.
        raise web.HTTPError(403)

    def skip_check_origin(self) -> bool:
        # Jupyter lets a token-authenticated request in from any origin. The dashboard follows
        # allow_origin / allow_origin_pat for every request: a token alone does not let a page
        # on another origin script it (websockets included, where tornado calls check_origin).
        return False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:
            # Plain: methods tornado does not know are refused before prepare(), with no user,
            # which Jupyter's error page needs.
            self.set_header("Allow", ", ".join(ALLOWED_METHODS))
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.write("405: Method Not Allowed")
            return
        super().write_error(status_code, **kwargs)

    async def get(self, key: str, proxied_path: str) -> None:
        # Resolve before the websocket handshake, so an unknown id or port is a plain 404.
        self.upstream_port = self._resolve(key, proxied_path)
        await super().get(key, upstream_path(proxied_path))

    async def http_get(self, key: str, proxied_path: str) -> None:
        await self._proxy_http(proxied_path)

    async def head(self, key: str, proxied_path: str) -> None:
        self.upstream_port = self._resolve(key, proxied_path)
        await self._proxy_http(upstream_path(proxied_path))

    # After authentication, so that an anonymous request learns nothing but 403.
    def post(self, *args: str) -> None:
        raise web.HTTPError(405)

    put = delete = patch = options = post

    async def open(self, key: str, proxied_path: str) -> None:
        """Tornado has answered the browser's handshake; now the dashboard's, then the two
        connections are spliced until either ends. Frames pass as bytes: parsing and
        re-framing every Bokeh message twice cost a quarter of the dashboard's throughput."""
        port = self.upstream_port
        assert port is not None
        client = self.ws_connection.stream  # type: ignore[union-attr]
        # Bokeh sends each message as several small frames: without this, Nagle's algorithm holds
        # the later frames until the browser's delayed ACK, up to 40 ms per message.
        self.set_nodelay(True)
        try:
            upstream = await open_websocket(
                port,
                self.request_target(proxied_path),
                self.proxy_request_headers(),
                self._requested_subprotocols,
            )
        except UpstreamError as error:
            self.log.warning("dashboard websocket %s: %s", self.request.path, error)
            client.close()
            return
        self._record_activity()
        watching = ioloop.PeriodicCallback(self._record_activity, ACTIVITY_WHILE_OPEN_S * 1000)
        watching.start()
        try:
            await splice(client, upstream, self._record_activity)
        finally:
            watching.stop()

    @property
    def ping_interval(self) -> None:
        # Tornado's pings would land between the dashboard's bytes; the browser's and the
        # dashboard's own pings pass through the splice.
        return None

    async def _proxy_http(self, path: str) -> None:
        port = self.upstream_port
        assert port is not None
        headers = self.proxy_request_headers()
        # Where the dashboard is mounted, for links it writes (what the base sends too).
        context = self._get_context_path(UPSTREAM_HOST, port)
        for name in CONTEXT_HEADERS:
            headers[name] = context
        self._record_activity()
        try:
            response = await self.extensionapp.upstream_pool.fetch(
                port, self.request.method, self.request_target(path), headers
            )
        except UpstreamError as error:
            # The dashboard (its scheduler) went away or broke off: a bad gateway, not our bug.
            raise web.HTTPError(502, "%s", error) from None
        self._record_activity()
        self.set_status(response.code, response.reason)
        # The dashboard's headers replace Jupyter's defaults, less those that describe the
        # connection or would act on Jupyter's origin.
        self._headers = httputil.HTTPHeaders()
        for name, value in response.headers.get_all():
            if name in UNFORWARDED_RESPONSE_HEADERS:
                continue
            if name == "Location" and response.code in REDIRECT_CODES:
                value = self._rewrite_location_header(value, UPSTREAM_HOST, port, path)
            self.add_header(name, value)
        if path.startswith(STATIC_PREFIXES) and "Cache-Control" not in response.headers:
            self.set_header("Cache-Control", self.static_cache_control)
        # The dashboard's policy never applies: ours says who may frame it.
        self.set_header("Content-Security-Policy", self.content_security_policy)
        self.set_header("X-Content-Type-Options", "nosniff")
        if response.body and response.code not in BODYLESS_CODES:
            self.write(response.body)

    def _resolve(self, key: str, proxied_path: str) -> int:
        """The upstream port for this request, or a 404."""
        upstream = self.find_upstream(self.extensionapp, key)
        path = upstream_path(proxied_path)
        if path.startswith("/proxy/"):
            match = WORKER_PROXY_PATH.match(path)
            if match is None or (match[2], int(match[1])) not in upstream.worker_dashboards():
                raise web.HTTPError(404, "not a worker dashboard of this cluster")
        # Context path for Location rewriting and X-Forwarded-Prefix: our route, not /proxy/<port>.
        self.proxy_base = upstream.route
        self.static_cache_control = upstream.static_cache_control
        self.upstream_key = upstream.key
        return upstream.port

    def _is_websocket_upgrade(self) -> bool:
        return self.request.headers.get("Upgrade", "").lower() == "websocket"

    def request_target(self, proxied_path: str) -> str:
        return request_target(proxied_path, self.request.query)

    def get_client_uri(self, protocol: str, host: str, port: int, proxied_path: str) -> str:
        return f"{protocol}://{UPSTREAM_HOST}:{port}{self.request_target(proxied_path)}"

    def proxy_request_headers(self) -> httputil.HTTPHeaders:
        headers = httputil.HTTPHeaders()
        for name, value in self.request.headers.get_all():
            if name.lower() in FORWARDED_HEADERS:
                headers.add(name, value)
        # Added here, after the allowlist, so that only this proxy ever supplies it.
        if self.upstream_key is not None:
            headers[KEY_HEADER] = self.upstream_key
        return headers


DASHBOARD_HANDLERS: list[tuple[str, type[DashboardProxyHandler], dict[str, Resolver]]] = [
    # Relative, like API_HANDLERS; "(/.*|)" so that ".../dashboardX" is not ours.
    (
        DASHBOARD_PREFIX + r"/([^/]+)/dashboard(/.*|)",
        DashboardProxyHandler,
        {"resolve": by_cluster_id},
    ),
    # Ports of one to five digits without a leading zero: one spelling per port.
    (
        PORT_DASHBOARD_PREFIX + r"/([1-9][0-9]{0,4})(/.*|)",
        DashboardProxyHandler,
        {"resolve": by_port},
    ),
]
