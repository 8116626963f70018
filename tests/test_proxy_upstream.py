"""The dashboard proxy's upstream side: a dashboard that breaks off mid-answer is a 502 that
says so (not a 500 or 599), connections to a dashboard are kept alive and reused, and the
dashboard's static files carry validators and a cache lifetime, so a reload moves no body."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Api
from tests.support.dashboard import Server
from tests.support.kernel import Kernel
from tests.test_dashboard_port_route import forge, registry
from tests.test_proxy import start_cluster

# Runs in a kernel, as a notebook's scheduler would: a "dashboard" that answers by path.
# /partial: headers and part of the promised body, then the connection closes.
# /silent: the connection closes without a byte.  /ok: a whole answer.
BROKEN_DASHBOARD_CELL = """
import json, socket, threading
_srv = socket.socket()
_srv.bind(("127.0.0.1", 0))
_srv.listen(16)
def _serve():
    while True:
        conn, _ = _srv.accept()
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        path = data.split(b" ")[1] if data.count(b" ") >= 2 else b""
        if path.startswith(b"/partial"):
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100000\\r\\n\\r\\npartial")
        elif path.startswith(b"/ok"):
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
        conn.close()
threading.Thread(target=_serve, daemon=True).start()
print(json.dumps(_srv.getsockname()[1]))
"""


async def test_dashboard_breaking_off_is_a_502_that_says_so(
    kernel: Kernel, server: Server, jp_serverapp: Any
) -> None:
    await kernel.start()
    kernel_pid = await kernel.run_json("import os, json; print(json.dumps(os.getpid()))")
    port = await kernel.run_json(BROKEN_DASHBOARD_CELL)
    forge(registry(jp_serverapp), kernel_pid, port)
    route = f"{server.base_url}pangeo-hpc/dashboards/{port}"

    control = await server.fetch(f"{route}/ok")
    assert control.code == 200 and control.body == b"ok", control.code

    for path, says in (
        ("/partial", b"closed the connection mid-response"),
        ("/silent", b"closed the connection"),
    ):
        response = await server.fetch(route + path)
        assert response.code == 502, f"{path}: {response.code} {response.body[:300]!r}"
        assert says in response.body, f"{path}: {response.body[:2000]!r}"

    # A websocket whose dashboard refuses the handshake ends at once, as a closed socket.
    ws = await server.websocket(f"{route}/silent/ws")
    assert await asyncio.wait_for(ws.read_message(), 30) is None
    # The server still proxies after all of that.
    assert (await server.fetch(f"{route}/ok")).code == 200


async def test_connections_to_a_dashboard_are_reused(
    api: Api, server: Server, jp_serverapp: Any
) -> None:
    cluster = await start_cluster(api, workers=0)
    pool = jp_serverapp.web_app.settings["pangeo_hpc_ext"].upstream_pool
    port = jp_serverapp.web_app.settings["pangeo_hpc_ext"].manager.get(cluster["id"]).dashboard_port
    for _ in range(5):
        response = await server.fetch(server.dashboard(cluster["id"], "/json/counts.json"))
        assert response.code == 200
    # One after another, five requests needed one connection, idle again now.
    assert pool.idle_count(port) == 1


async def test_static_files_revalidate_without_a_body(api: Api, server: Server) -> None:
    cluster = await start_cluster(api, workers=0)
    css = server.dashboard(cluster["id"], "/statics/css/base.css")
    first = await server.fetch(css)
    assert first.code == 200 and first.body
    assert first.headers["Cache-Control"] == "private, max-age=86400"
    etag = first.headers["Etag"]

    again = await server.fetch(css, If_None_Match=etag)
    assert again.code == 304, again.code
    assert not again.body
    # Pages are not static files: the dashboard decides, and we add no lifetime.
    counts = await server.fetch(server.dashboard(cluster["id"], "/json/counts.json"))
    assert "max-age" not in counts.headers.get("Cache-Control", "")
