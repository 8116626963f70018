"""Keep-alive HTTP/1.1 connections from the dashboard proxy to dashboards on 127.0.0.1.

jupyter-server-proxy fetches each request with a new tornado client: a name lookup in a thread,
a TCP handshake, and a connection the dashboard tears down again, for every asset of a page.
Here each dashboard port keeps a few idle connections that the next request reuses. It is built
on tornado's own HTTP/1.1 parser (HTTP1Connection, client side), so no new dependency, no C
library (pycurl's curl_httpclient would also keep connections alive, but brings its own libcurl
and a per-request header callback in Python), and the same parser the server side uses.

Only GET and HEAD reach this client: both are idempotent, so a request that meets a connection
the dashboard closed while it was idle is sent once more on a new one.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tornado import httputil, iostream
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.ioloop import PeriodicCallback
from tornado.websocket import WebSocketProtocol13

UPSTREAM_HOST = "127.0.0.1"
# A page loads a handful of assets at once; more idle connections than that only hold fds.
MAX_IDLE_PER_PORT = 8
# Well below the idle timeouts of dashboards' servers (tornado's default is an hour), and short
# enough that a closed cluster's port holds no fd of ours for long.
IDLE_TIMEOUT_S = 30.0
# Dashboard pages and assets; bokeh.min.js is the largest, about 1 MB.
MAX_BODY_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
RESPONSE_TIMEOUT_S = 300.0
# Websocket bytes are copied in chunks of up to this size.
SPLICE_CHUNK_BYTES = 256 * 1024
# Answers without a body, whatever their headers say.
BODYLESS_CODES = frozenset({204, 304})


class UpstreamError(Exception):
    """The dashboard could not be reached, or stopped answering mid-response."""


@dataclass
class UpstreamResponse:
    code: int
    reason: str
    headers: httputil.HTTPHeaders
    body: bytes


@dataclass
class _Collector(httputil.HTTPMessageDelegate):
    start_line: httputil.ResponseStartLine | None = None
    headers: httputil.HTTPHeaders | None = None
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.start_line, self.headers = start_line, headers

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        self.complete = True

    def on_connection_close(self) -> None:
        self.complete = False


def _peer_closed(stream: iostream.IOStream) -> bool:
    """Whether an idle connection was closed by the dashboard (or sent something unasked)."""
    if stream.closed():
        return True
    try:
        stream.socket.recv(1, socket.MSG_PEEK)  # b"" (closed) or unasked bytes: unusable
    except BlockingIOError:
        return False  # nothing to read: still open
    except OSError:
        pass
    return True


def _reusable(response: _Collector, stream: iostream.IOStream) -> bool:
    assert response.start_line is not None and response.headers is not None
    if stream.closed() or not response.complete:
        return False
    connection = response.headers.get("Connection", "").lower()
    if response.start_line.version == "HTTP/1.1":
        return connection != "close"
    return connection == "keep-alive"


class UpstreamPool:
    """Idle keep-alive connections by dashboard port, shared by every proxied request of one
    server (one event loop)."""

    def __init__(self) -> None:
        self._idle: dict[int, list[tuple[float, iostream.IOStream]]] = {}
        self._params = HTTP1ConnectionParameters(
            decompress=False,  # the browser asked for the encoding; pass the body as it is
            max_body_size=MAX_BODY_BYTES,
        )
        self._sweeper: PeriodicCallback | None = None

    async def fetch(
        self, port: int, method: str, target: str, headers: httputil.HTTPHeaders
    ) -> UpstreamResponse:
        """`target` is the request target (path and query) on 127.0.0.1:`port`."""
        headers["Host"] = f"{UPSTREAM_HOST}:{port}"
        stream = self._checkout(port)
        if stream is not None:
            try:
                return await self._exchange(port, stream, method, target, headers)
            except _Stale:
                pass  # closed by the dashboard while idle: once more on a new connection
        try:
            return await self._exchange(port, await _connect(port), method, target, headers)
        except _Stale as stale:
            raise UpstreamError(str(stale)) from None

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        for idle in self._idle.values():
            for _, stream in idle:
                stream.close()
        self._idle.clear()

    def idle_count(self, port: int | None = None) -> int:
        if port is not None:
            return len(self._idle.get(port, ()))
        return sum(len(idle) for idle in self._idle.values())

    async def _exchange(
        self,
        port: int,
        stream: iostream.IOStream,
        method: str,
        target: str,
        headers: httputil.HTTPHeaders,
    ) -> UpstreamResponse:
        connection = HTTP1Connection(stream, True, self._params)
        response = _Collector()
        expired: list[bool] = []
        timeout = f"the dashboard on port {port} did not answer within {RESPONSE_TIMEOUT_S:.0f} s"

        def expire() -> None:
            expired.append(True)
            stream.close()

        # One timer for the whole exchange: tornado's header and body timeouts wrap every read
        # in a timeout future, a fifth of the time this exchange takes.
        timer = asyncio.get_running_loop().call_later(RESPONSE_TIMEOUT_S, expire)
        try:
            await connection.write_headers(
                httputil.RequestStartLine(method, target, "HTTP/1.1"), headers
            )
            connection.finish()
            await connection.read_response(response)
        except (iostream.StreamClosedError, OSError) as error:
            stream.close()
            if expired:
                raise UpstreamError(
                    f"the dashboard on port {port} did not answer within {RESPONSE_TIMEOUT_S:.0f} s"
                ) from None
            if response.start_line is None:
                raise _Stale(f"the dashboard on port {port} closed the connection") from error
            raise UpstreamError(
                f"the dashboard on port {port} closed the connection mid-response"
            ) from error
        finally:
            timer.cancel()
        if expired:  # a body that ends with the connection looks complete when the timer closes it
            raise UpstreamError(timeout)
        if response.start_line is None or response.headers is None:
            stream.close()
            raise UpstreamError(f"the dashboard on port {port} sent no valid HTTP response")
        if not response.complete and not (
            method == "HEAD" or response.start_line.code in BODYLESS_CODES
        ):
            stream.close()
            raise UpstreamError(f"the dashboard on port {port} closed the connection mid-response")
        # The stream outlives this exchange; the connection object must not close it.
        connection.detach()
        if _reusable(response, stream):
            self._checkin(port, stream)
        else:
            stream.close()
        start, body = response.start_line, b"".join(response.chunks)
        return UpstreamResponse(start.code, start.reason, response.headers, body)

    def _checkout(self, port: int) -> iostream.IOStream | None:
        idle = self._idle.get(port)
        while idle:
            since, stream = idle.pop()
            if time.monotonic() - since < IDLE_TIMEOUT_S and not _peer_closed(stream):
                return stream
            stream.close()
        return None

    def _checkin(self, port: int, stream: iostream.IOStream) -> None:
        idle = self._idle.setdefault(port, [])
        if len(idle) >= MAX_IDLE_PER_PORT:
            stream.close()
            return
        idle.append((time.monotonic(), stream))
        if self._sweeper is None:
            self._sweeper = PeriodicCallback(self._sweep, IDLE_TIMEOUT_S * 1000 / 2)
            self._sweeper.start()

    def _sweep(self) -> None:
        """Closes connections idle too long or closed by their dashboard (a cluster that ended)."""
        now = time.monotonic()
        for port in list(self._idle):
            kept = []
            for since, stream in self._idle[port]:
                if now - since < IDLE_TIMEOUT_S and not _peer_closed(stream):
                    kept.append((since, stream))
                else:
                    stream.close()
            if kept:
                self._idle[port] = kept
            else:
                del self._idle[port]


async def _connect(port: int) -> iostream.IOStream:
    # No resolver: the host is always a literal loopback address.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = iostream.IOStream(sock)
    try:
        await asyncio.wait_for(stream.connect((UPSTREAM_HOST, port)), CONNECT_TIMEOUT_S)
    except (OSError, iostream.StreamClosedError, TimeoutError) as error:
        stream.close()
        cause = stream.error or error
        raise UpstreamError(
            f"the dashboard on port {port} refused the connection ({cause})"
        ) from None
    return stream


class _Stale(Exception):
    """The connection closed before any byte of the response."""


async def open_websocket(
    port: int, target: str, headers: httputil.HTTPHeaders, subprotocols: list[str] | None
) -> iostream.IOStream:
    """A websocket handshake with the dashboard; the stream then carries its frames as bytes.

    Neither leg negotiates an extension (the browser's leg offers none, this one asks for none),
    so frames are valid on both legs unchanged: the browser's are masked as a server expects,
    the dashboard's unmasked as a browser expects."""
    key = base64.b64encode(os.urandom(16)).decode()
    headers["Host"] = f"{UPSTREAM_HOST}:{port}"
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key
    headers["Sec-WebSocket-Version"] = "13"
    if subprotocols:
        headers["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
    lines = [f"GET {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.get_all())]
    stream = await _connect(port)
    try:
        await stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
        head = await asyncio.wait_for(
            stream.read_until_regex(b"\r?\n\r?\n", max_bytes=65536), RESPONSE_TIMEOUT_S
        )
    except (iostream.StreamClosedError, iostream.UnsatisfiableReadError, TimeoutError):
        stream.close()
        raise UpstreamError(
            f"the dashboard on port {port} broke off the websocket handshake"
        ) from None
    status, _, rest = head.decode("latin1").partition("\n")
    answer = httputil.HTTPHeaders.parse(rest)
    if (
        httputil.parse_response_start_line(status.strip()).code != 101
        or answer.get("Sec-WebSocket-Accept") != WebSocketProtocol13.compute_accept_value(key)
        or "Sec-WebSocket-Extensions" in answer
    ):
        stream.close()
        raise UpstreamError(f"the dashboard on port {port} refused the websocket ({status})")
    return stream


async def splice(a: iostream.IOStream, b: iostream.IOStream, on_data: Callable[[], None]) -> None:
    """Copies bytes both ways until either side closes; then closes both."""

    async def copy(source: iostream.IOStream, sink: iostream.IOStream) -> None:
        try:
            while True:
                chunk = await source.read_bytes(SPLICE_CHUNK_BYTES, partial=True)
                on_data()
                await sink.write(chunk)  # a slow reader holds back its writer
        except iostream.StreamClosedError:
            pass
        finally:
            a.close()
            b.close()

    await asyncio.gather(copy(a, b), copy(b, a))
