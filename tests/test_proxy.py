"""The dashboard proxy against real clusters: the Bokeh dashboard works through it, nothing else
is reachable through it, and no Jupyter credential ever reaches the dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

import psutil
import pytest
from tornado.httpclient import AsyncHTTPClient

from pangeo_hpc_ext.dashboard_access import KEY_HEADER
from tests.conftest import Api
from tests.support.dashboard import (
    Canary,
    Server,
    assert_no_secrets,
    bokeh_request,
    bokeh_sessions,
    read_bokeh_message,
)


def connected(n: int):
    return lambda c: c["workers"]["connected"] == n and c["status"] == "running"


async def start_cluster(api: Api, workers: int) -> dict[str, Any]:
    code, cluster = await api.call(
        "POST",
        "clusters",
        body={"profile": "local", "workers": workers, "options": {"memory_limit": "1GB"}},
    )
    assert code == 201, cluster
    return await api.wait_for(
        cluster["id"], connected(workers), f"a local cluster with {workers} worker(s) running"
    )


def dashboard_port(jp_serverapp: Any, cluster_id: str) -> int:
    port = jp_serverapp.web_app.settings["pangeo_hpc_ext"].manager.get(cluster_id).dashboard_port
    assert port is not None
    return port


async def test_dashboard_works_through_proxy(api: Api, server: Server) -> None:
    cluster = await start_cluster(api, workers=1)
    cid = cluster["id"]
    assert cluster["dashboard_url"] == server.dashboard(cid, "/status")

    status = await server.fetch(cluster["dashboard_url"])
    assert status.code == 200, status.body[:500]
    html = status.body.decode()
    assert "Dask" in html and "Bokeh.embed" in html
    assert bokeh_sessions(html), "the status page embeds no Bokeh session"
    assert status.headers["Content-Security-Policy"].startswith("frame-ancestors 'self'")

    # The dashboard's own redirect lands on our route, under the base_url.
    root = await server.fetch(server.dashboard(cid))
    assert root.code in (301, 302), root.code
    assert root.headers["Location"] == server.dashboard(cid, "/status")

    # Static assets the page loads, by the relative URLs it uses.
    for asset in re.findall(r'(?:src|href)="((?:static|statics)/[^"]+)"', html)[:4]:
        response = await server.fetch(server.dashboard(cid, "/" + asset))
        assert response.code == 200, asset
        assert response.body, asset
    # HEAD passes too (Bokeh's page handlers answer it 405 themselves; static files support it).
    head = await server.fetch(server.dashboard(cid, "/statics/css/base.css"), method="HEAD")
    assert head.code == 200 and not head.body

    plots_response = await server.fetch(server.dashboard(cid, "/individual-plots.json"))
    assert plots_response.code == 200
    plots = json.loads(plots_response.body)
    assert "Individual Task Stream" in plots, sorted(plots)
    plot = await server.fetch(server.dashboard(cid, plots["Individual Task Stream"]))
    assert plot.code == 200
    assert bokeh_sessions(plot.body.decode()), "the task stream plot embeds no Bokeh session"


async def test_bokeh_websocket_through_proxy(api: Api, server: Server) -> None:
    cluster = await start_cluster(api, workers=1)
    page = await server.fetch(server.dashboard(cluster["id"], "/individual-task-stream"))
    assert page.code == 200
    [(session_token, _)] = bokeh_sessions(page.body.decode())

    # As BokehJS does: the app's "ws" route, the session token as second subprotocol.
    ws = await server.websocket(
        server.dashboard(cluster["id"], "/individual-task-stream/ws"),
        subprotocols=["bokeh", session_token],
    )
    try:
        assert ws.selected_subprotocol == "bokeh"
        header, _, _ = await read_bokeh_message(ws)
        assert header["msgtype"] == "ACK", header
        _, info = await bokeh_request(ws, "SERVER-INFO-REQ", "SERVER-INFO-REPLY", "info-1")
        assert "bokeh" in info["version_info"]
        _, document = await bokeh_request(ws, "PULL-DOC-REQ", "PULL-DOC-REPLY", "pull-1")
        assert document["doc"]["roots"], "the pulled document has no roots"
    finally:
        ws.close()


async def test_dashboard_never_sees_jupyter_credentials(
    api: Api, server: Server, jp_fetch: Any
) -> None:
    cluster = await start_cluster(api, workers=1)
    # A real login cookie: the server sets it on a token-authenticated request.
    login = await jp_fetch("api", "status")
    login_cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    cookie_name, cookie_value = login_cookie.split("=", 1)
    assert cookie_name.startswith("username-")
    xsrf = "xsrf-value-seen-by-nobody"
    secrets = [server.token, cookie_value.strip('"'), xsrf]

    status = server.dashboard(cluster["id"], "/status")
    attempts = {
        "token in header and query": await server.fetch(
            f"{status}?token={server.token}&_xsrf={xsrf}",
            Referer=f"{server.origin}/lab?token={server.token}",
        ),
        "login and _xsrf cookies only": await server.fetch(
            status, auth=False, Cookie=f"{login_cookie}; _xsrf={xsrf}"
        ),
    }
    for what, response in attempts.items():
        assert response.code == 200, f"{what}: {response.code}"
        html = response.body.decode()
        assert_no_secrets(what, html, secrets)
        sessions = bokeh_sessions(html)
        assert sessions, f"{what}: no Bokeh session in the page"
        for _, payload in sessions:
            assert payload["cookies"] == {}, what
            forwarded = {h.lower() for h in payload["headers"]}
            assert not {"authorization", "cookie", "referer"} & forwarded, what
            assert not {"token", "_xsrf"} & set(payload["arguments"]), what

    # A token smuggled as an encoded query inside the path stays a path: never an argument.
    smuggled = await server.fetch(status + f"%3Ftoken%3D{server.token}")
    assert_no_secrets("token as %3Ftoken%3D in the path", smuggled.body.decode(), secrets)


async def test_routing_attacks_reach_only_our_dashboards(
    api: Api, server: Server, canary: Canary, jp_serverapp: Any
) -> None:
    await canary.start()
    a = await start_cluster(api, workers=1)
    b = await start_cluster(api, workers=0)
    port_a, port_b = dashboard_port(jp_serverapp, a["id"]), dashboard_port(jp_serverapp, b["id"])
    for port in (port_a, port_b):
        # The scheduler runs in its cluster's supervisor process: look at every process.
        listening = {
            c.laddr.ip
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}, f"dashboard port {port} listens on {listening}"
    identity = "/json/identity.json"
    key = jp_serverapp.web_app.settings["pangeo_hpc_ext"].manager.get(a["id"]).handle.dashboard_key
    direct = await AsyncHTTPClient().fetch(
        f"http://127.0.0.1:{port_a}{identity}", headers={KEY_HEADER: key}
    )
    scheduler_a = json.loads(direct.body)["id"]
    others = {"cluster B": port_b, "canary": canary.port, "jupyter": server.port}

    assert (await server.fetch(server.dashboard("0123456789abcdef", "/status"))).code == 404
    assert (await server.fetch(server.dashboard(str(port_b), "/status"))).code == 404
    assert (await server.fetch(server.dashboard("%2e%2e", "/status"))).code == 404

    for traversal in ("/../../api/clusters", "/%2e%2e%2f%2e%2e%2fapi/clusters", "/status/%2E%2E/"):
        response = await server.fetch(server.dashboard(a["id"], traversal))
        assert response.code == 400, (traversal, response.code)

    for name, port in others.items():
        # The dashboard's own /proxy/<port>/<host>/ route only reaches this cluster's workers.
        for host in ("127.0.0.1", "localhost"):
            path = server.dashboard(a["id"], f"/proxy/{port}/{host}/status")
            assert (await server.fetch(path)).code == 404, name
            assert await server.websocket_refused(path + "/ws") == 404, name
        # Absolute URLs, authority syntax and encoded variants stay paths on cluster A's dashboard.
        for path in (
            f"/http://127.0.0.1:{port}/status",
            f"/http%3A%2F%2F127.0.0.1%3A{port}%2Fstatus",
            f"//127.0.0.1:{port}/status",
            f"/@127.0.0.1:{port}/status",
            f"/%40127.0.0.1%3A{port}/status",
            f"/:{port}/status",
            f"%3A{port}/status",
        ):
            response = await server.fetch(server.dashboard(a["id"], path))
            assert response.code == 404, (name, path, response.code)
        # A Host header naming another port changes nothing: the upstream is cluster A's.
        response = await server.fetch(server.dashboard(a["id"], identity), Host=f"127.0.0.1:{port}")
        assert response.code == 200, (name, response.code)
        assert json.loads(response.body)["id"] == scheduler_a, name

    odd_hosts = ("evil.example", f"evil.example:{port_b}", f"127.0.0.1:{port_b}@evil.example")
    for host in odd_hosts:
        response = await server.fetch(server.dashboard(a["id"], "/status"), Host=host)
        assert response.code in (400, 403), (host, response.code)
    assert canary.connections == 0, "a request through the proxy reached a port that is not ours"

    code, _ = await api.call("DELETE", "clusters", b["id"])
    assert code == 204
    assert (await server.fetch(server.dashboard(b["id"], "/status"))).code == 404
    assert await server.websocket_refused(server.dashboard(b["id"], "/status/ws")) == 404


async def test_methods_and_authentication(api: Api, server: Server) -> None:
    cluster = await start_cluster(api, workers=0)
    status = server.dashboard(cluster["id"], "/status")

    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = await server.fetch(status, method=method)
        assert response.code == 405, (method, response.code)
        assert response.headers["Allow"] == "GET, HEAD"
        # Without a login every method is a 403, as on every route of ours.
        assert (await server.fetch(status, method=method, auth=False)).code == 403, method
    assert (await server.fetch(status, method="PROPFIND")).code == 405

    for method in ("GET", "HEAD"):
        assert (await server.fetch(status, method=method, auth=False)).code == 403, method
        wrong = await server.fetch(status, method=method, auth=False, Authorization="token nope")
        assert wrong.code == 403, method
    assert await server.websocket_refused(status + "/ws", auth=False) == 403
    wrong = {"Authorization": "token not-the-token"}
    assert await server.websocket_refused(status + "/ws", auth=False, **wrong) == 403

    # A valid token is not enough from a page on another origin; the same request from
    # Jupyter's own origin passes (so the refusal is the origin's doing).
    query = f"{status}?token={server.token}"
    evil = "http://evil.example"
    assert (await server.fetch(query, auth=False, Origin=evil)).code == 403
    assert (await server.fetch(query, auth=False, Origin=server.origin)).code == 200
    ws_query = f"{status}/ws?token={server.token}"
    assert await server.websocket_refused(ws_query, auth=False, Origin=evil) == 403


class TestUnderHubPrefix:
    """A JupyterHub-style prefix: links, redirects and websockets keep it."""

    @pytest.fixture
    def jp_base_url(self) -> str:
        return "/user/alice@example.org/"

    async def test_dashboard_under_prefix(self, api: Api, server: Server) -> None:
        cluster = await start_cluster(api, workers=0)
        cid = cluster["id"]
        expected = f"/user/alice@example.org/pangeo-hpc/clusters/{cid}/dashboard/status"
        assert cluster["dashboard_url"] == expected
        root = await server.fetch(server.dashboard(cid, "/"))
        assert root.headers["Location"] == cluster["dashboard_url"]
        page = await server.fetch(cluster["dashboard_url"])
        assert page.code == 200
        [(session_token, _)] = bokeh_sessions(page.body.decode())[:1]
        ws = await server.websocket(
            cluster["dashboard_url"] + "/ws", subprotocols=["bokeh", session_token]
        )
        try:
            header, _, _ = await read_bokeh_message(ws)
            assert header["msgtype"] == "ACK"
        finally:
            ws.close()
