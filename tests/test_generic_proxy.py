"""jupyter-server-proxy's generic routes: closed by default after install, open by one setting.

The canary is a local web app that records what reaches it and answers with a cookie and a
permissive CORS header, as the issue measured: through the open generic route it receives the
user's Authorization header, cookies and ?token=."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tornado import httpserver, netutil, web

from tests.support.dashboard import Server


class CanaryHandler(web.RequestHandler):
    def get(self, *args: str) -> None:
        self.settings["seen"].append(
            {"headers": dict(self.request.headers), "query": self.request.query}
        )
        self.set_header("Set-Cookie", "canary=1")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.write("canary")


@pytest.fixture
def canary_app() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    http = httpserver.HTTPServer(web.Application([(r"/(.*)", CanaryHandler)], seen=seen))
    [sock] = netutil.bind_sockets(0, "127.0.0.1")
    http.add_sockets([sock])
    yield sock.getsockname()[1], seen
    http.stop()


@pytest.fixture
def listening(started_server: Any, jp_fetch: Any) -> None:
    """The server answering HTTP on its port (pytest-jupyter binds it for jp_fetch)."""


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    # As after `pip install pangeo-hpc-ext`: jupyter-server-proxy's extension is enabled too.
    config = json.loads(json.dumps(jp_server_config))
    config["ServerApp"]["jpserver_extensions"]["jupyter_server_proxy"] = True
    return config


def generic_paths(base_url: str, port: int) -> list[str]:
    return [
        f"{base_url}proxy/{port}/",
        f"{base_url}proxy/absolute/{port}/",
        f"{base_url}proxy/127.0.0.1:{port}/",
        f"{base_url}proxy/localhost:{port}/",
    ]


async def test_generic_route_closed_by_default(
    listening: None, server: Server, canary_app: tuple[int, list[dict[str, Any]]]
) -> None:
    port, seen = canary_app
    for path in generic_paths(server.base_url, port):
        response = await server.fetch(f"{path}?token={server.token}", Cookie="jupyter=1")
        assert response.code == 404, (path, response.code)
        assert b"allow_generic_proxy" in response.body
        assert not [c for c in response.headers.get_list("Set-Cookie") if "canary" in c]
        assert "Access-Control-Allow-Origin" not in response.headers
        assert await server.websocket_refused(path + "ws") == 404
        assert (await server.fetch(path, auth=False)).code == 403  # as on every route of ours
    assert seen == [], "a request through a generic route reached the canary"


class TestOptedIn:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"allow_generic_proxy": True}

    async def test_generic_route_reaches_any_port_with_credentials(
        self, listening: None, server: Server, canary_app: tuple[int, list[dict[str, Any]]]
    ) -> None:
        """Why it is closed by default: what the user's opt-in buys, measured."""
        port, seen = canary_app
        path = generic_paths(server.base_url, port)[0]
        response = await server.fetch(f"{path}?token={server.token}", Cookie="jupyter=1")
        assert response.code == 200 and response.body == b"canary"
        [request] = seen
        assert request["headers"]["Authorization"] == f"token {server.token}"
        assert "jupyter=1" in request["headers"]["Cookie"]
        assert f"token={server.token}" in request["query"]
