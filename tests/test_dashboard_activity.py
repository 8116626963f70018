"""A user watching a dashboard is active for JupyterHub: while a dashboard websocket is open the
server's last activity (what jupyterhub-singleuser reports to the hub, and what its idle culler
reads) keeps advancing, even when the dashboard has nothing new to send."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pangeo_hpc_ext.server import proxy
from tests.conftest import Api
from tests.support.dashboard import Server, bokeh_sessions, read_bokeh_message
from tests.test_proxy import start_cluster

WAIT_S = 30.0


async def test_open_dashboard_websocket_keeps_the_server_active(
    api: Api, server: Server, jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interval only, so that the test takes a second, not tens.
    monkeypatch.setattr(proxy, "ACTIVITY_WHILE_OPEN_S", 0.2, raising=False)
    cluster = await start_cluster(api, workers=1)
    page = await server.fetch(server.dashboard(cluster["id"], "/individual-task-stream"))
    [(session_token, _)] = bokeh_sessions(page.body.decode())
    ws = await server.websocket(
        server.dashboard(cluster["id"], "/individual-task-stream/ws"),
        subprotocols=["bokeh", session_token],
    )
    try:
        header, _, _ = await read_bokeh_message(ws)
        assert header["msgtype"] == "ACK", header
        # From here on nothing passes: no document was pulled, so Bokeh has nothing to send.
        opened = jp_serverapp.web_app.last_activity()
        deadline = time.monotonic() + WAIT_S
        while jp_serverapp.web_app.last_activity() <= opened:
            assert time.monotonic() < deadline, (
                f"the server's last activity stayed at {opened} for {WAIT_S:.0f} s "
                "while a dashboard websocket was open"
            )
            await asyncio.sleep(0.1)
    finally:
        ws.close()
