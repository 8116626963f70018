"""Raw HTTP and websocket requests to the test server, a canary port, and readers of what Bokeh
writes into dashboard pages (its session token carries the request's headers and cookies)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

MESSAGE_TIMEOUT_S = 30.0
BOKEH_TOKEN = re.compile(r'"token":\s*"([^"]+)"')


class Server:
    """Raw requests to the test server: exact paths, chosen headers, no automatic token."""

    def __init__(self, port: int, base_url: str, token: str) -> None:
        self.port = port
        self.base_url = base_url
        self.token = token
        self.origin = f"http://127.0.0.1:{port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def dashboard(self, cluster_id: str, path: str = "") -> str:
        return f"{self.base_url}pangeo-hpc/clusters/{cluster_id}/dashboard{path}"

    async def fetch(
        self, path: str, *, method: str = "GET", auth: bool = True, **headers: str
    ) -> HTTPResponse:
        all_headers = {**(self.auth if auth else {}), **headers}
        body = b"" if method in ("POST", "PUT", "PATCH") else None
        return await AsyncHTTPClient().fetch(
            self.origin + path,
            method=method,
            headers={k.replace("_", "-"): v for k, v in all_headers.items()},
            body=body,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            raise_error=False,
            request_timeout=MESSAGE_TIMEOUT_S,
        )

    async def websocket(
        self,
        path: str,
        *,
        auth: bool = True,
        subprotocols: list[str] | None = None,
        **headers: str,
    ) -> WebSocketClientConnection:
        all_headers = {**(self.auth if auth else {}), **headers}
        request = HTTPRequest(
            f"ws://127.0.0.1:{self.port}{path}",
            headers={k.replace("_", "-"): v for k, v in all_headers.items()},
            connect_timeout=MESSAGE_TIMEOUT_S,
            request_timeout=MESSAGE_TIMEOUT_S,
        )
        return await websocket_connect(request, subprotocols=subprotocols)

    async def websocket_refused(self, path: str, **kwargs: Any) -> int:
        with pytest.raises(HTTPClientError) as refused:
            ws = await self.websocket(path, **kwargs)
            ws.close()
        return refused.value.code


@pytest.fixture
def server(jp_serverapp: Any, jp_http_port: int, jp_base_url: str) -> Server:
    return Server(jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def bokeh_sessions(html: str) -> list[tuple[str, dict[str, Any]]]:
    """Each Bokeh session token in a page, with the request data Bokeh packed into it."""
    sessions = []
    for token in BOKEH_TOKEN.findall(html):
        claims = json.loads(_b64decode(token.split(".")[0]))
        payload = json.loads(zlib.decompress(_b64decode(claims["__bk__zlib_"])))
        sessions.append((token, payload))
    return sessions


class Canary:
    """A local TCP port that is no dashboard of ours; it counts every connection it gets."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    def close(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    """Started by the test (fixtures here are synchronous), closed afterwards."""
    canary = Canary()
    yield canary
    if canary.port:
        canary.close()


async def read_bokeh_message(ws: WebSocketClientConnection) -> tuple[dict[str, Any], Any, Any]:
    """One Bokeh protocol message: header, metadata and content frames (no buffers here)."""
    frames = []
    for _ in range(3):
        frame = await asyncio.wait_for(ws.read_message(), MESSAGE_TIMEOUT_S)
        assert frame is not None, f"the websocket closed after {len(frames)} frames of a message"
        frames.append(json.loads(frame))
    return frames[0], frames[1], frames[2]


async def bokeh_request(
    ws: WebSocketClientConnection, msgtype: str, reply_type: str, msgid: str
) -> tuple[dict[str, Any], Any]:
    for frame in ({"msgid": msgid, "msgtype": msgtype}, {}, {}):
        await ws.write_message(json.dumps(frame))
    # Periodic document patches may arrive first; the reply names our request.
    for _ in range(200):
        header, _, content = await read_bokeh_message(ws)
        if header.get("reqid") == msgid:
            assert header["msgtype"] == reply_type, header
            return header, content
    pytest.fail(f"no {reply_type} to {msgtype} {msgid} within 200 messages")


def with_bytes_decoded(value: Any) -> Any:
    """Bokeh serializes bytes (e.g. query argument values) as {"bytes": <base64>}."""
    if isinstance(value, dict):
        if set(value) == {"bytes"}:
            return base64.b64decode(value["bytes"]).decode(errors="replace")
        return {k: with_bytes_decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_bytes_decoded(v) for v in value]
    return value


def assert_no_secrets(what: str, html: str, secrets: list[str]) -> None:
    assert not [s for s in secrets if s in html], f"{what}: a credential is in the dashboard's HTML"
    for _, payload in bokeh_sessions(html):
        packed = json.dumps(with_bytes_decoded(payload))
        assert not [s for s in secrets if s in packed], f"{what}: a credential is in Bokeh's token"
