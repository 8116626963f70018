"""The seed's notebook, with no dask config edit: a kernel started by the server prints a
dashboard link that opens through Jupyter (jupyter-server-proxy's /proxy/<port>/status)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection

from pangeo_hpc_ext.server.kernel_link import (
    DASHBOARD_LINK_VAR,
    KernelDashboardLink,
    proxied_dashboard_link,
)

REPLY_TIMEOUT_S = 90.0

SEED_CELL = """
import json, os
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0")
client = Client(cluster)
print(json.dumps({
    "env": os.environ.get("DASK_DISTRIBUTED__DASHBOARD__LINK"),
    "cluster_link": cluster.dashboard_link,
    "client_link": client.dashboard_link,
    "port": cluster.scheduler.http_server.port,
}))
"""
ENV_CELL = """
import json, os
print(json.dumps({"env": os.environ.get("DASK_DISTRIBUTED__DASHBOARD__LINK")}))
"""
CLOSE_CELL = "client.close(); cluster.close()"


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    # The links point at jupyter-server-proxy's routes: enable its server extension too.
    config = json.loads(json.dumps(jp_server_config))
    config["ServerApp"]["jpserver_extensions"]["jupyter_server_proxy"] = True
    return config


class Kernel:
    """A kernel started through the REST API and driven over its websocket, as a notebook is."""

    def __init__(self, jp_fetch: Any, jp_ws_fetch: Any) -> None:
        self._fetch = jp_fetch
        self._ws_fetch = jp_ws_fetch
        self.kernel_id = ""
        self.session = uuid.uuid4().hex
        self.ws: WebSocketClientConnection | None = None

    async def start(self) -> None:
        response = await self._fetch(
            "api", "kernels", method="POST", body=json.dumps({"name": "python3"})
        )
        self.kernel_id = json.loads(response.body)["id"]
        self.ws = await self._ws_fetch("api", "kernels", self.kernel_id, "channels")

    async def run(self, code: str) -> str:
        """Execute code; its stdout, or a test failure with the kernel's error."""
        assert self.ws is not None
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "session": self.session,
                        "username": "test",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "allow_stdin": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        stdout: list[str] = []
        replied = idle = False
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), max(remaining, 0.01))
            except asyncio.TimeoutError:
                pytest.fail(f"the cell did not finish within {REPLY_TIMEOUT_S:.0f} s: {code!r}")
            assert raw is not None, "the kernel websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                pytest.fail(f"the cell failed: {content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True  # iopub: every output of the cell came before this
            if replied and idle:
                return "".join(stdout)

    async def shutdown(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.kernel_id:
            await self._fetch("api", "kernels", self.kernel_id, method="DELETE")


@pytest.fixture
def kernel(started_server: Any, jp_fetch: Any, jp_ws_fetch: Any) -> Kernel:
    return Kernel(jp_fetch, jp_ws_fetch)


async def test_notebook_local_cluster_prints_proxied_link(
    kernel: Kernel, jp_fetch: Any, jp_base_url: str
) -> None:
    await kernel.start()
    try:
        seen = json.loads(await kernel.run(SEED_CELL))
        link = f"{jp_base_url}proxy/{seen['port']}/status"
        assert seen["env"] == f"{jp_base_url}proxy/{{port}}/status"
        assert seen["cluster_link"] == link
        assert seen["client_link"] == link
        # The printed link opens the dashboard through Jupyter.
        page = await jp_fetch(link.removeprefix(jp_base_url))
        assert page.code == 200
        assert b"Bokeh.embed" in page.body
        await kernel.run(CLOSE_CELL)
    finally:
        await kernel.shutdown()
    assert DASHBOARD_LINK_VAR in os.environ, "the variable is set for the server's lifetime"


async def test_client_of_our_cluster_prints_proxied_link(
    kernel: Kernel, api: Any, jp_fetch: Any, jp_base_url: str, jp_serverapp: Any
) -> None:
    """A cluster started from the sidebar, used from a notebook with Client(address): the
    Client formats its link from the kernel's variable, so it also opens through Jupyter."""
    code, cluster = await api.call(
        "POST", "clusters", body={"profile": "local", "workers": 0, "options": {}}
    )
    assert code == 201, cluster
    cluster = await api.wait_for(cluster["id"], lambda c: c["status"] == "running", "running")
    port = jp_serverapp.web_app.settings["pangeo_hpc_ext"].manager.get(cluster["id"]).dashboard_port
    await kernel.start()
    try:
        tls = cluster["tls"]
        cell = (
            "from distributed import Client\n"
            "from distributed.security import Security\n"
            f"security = Security(tls_ca_file={tls['ca_file']!r}, tls_client_cert="
            f"{tls['cert_file']!r}, tls_client_key={tls['key_file']!r}, require_encryption=True)\n"
            f"client = Client({cluster['scheduler_address']!r}, security=security)\n"
            "print(client.dashboard_link)\n"
            "client.close()\n"
        )
        link = (await kernel.run(cell)).strip()
    finally:
        await kernel.shutdown()
    assert link == f"{jp_base_url}proxy/{port}/status"
    page = await jp_fetch(link.removeprefix(jp_base_url))
    assert page.code == 200 and b"Bokeh.embed" in page.body


class TestConfiguredOff:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"kernel_dashboard_link": False}

    async def test_kernel_keeps_dask_default(self, kernel: Kernel) -> None:
        await kernel.start()
        try:
            seen = json.loads(await kernel.run(ENV_CELL))
        finally:
            await kernel.shutdown()
        assert seen["env"] is None


def test_link_template_keeps_base_url_literal() -> None:
    assert proxied_dashboard_link("/") == "/proxy/{port}/status"
    template = proxied_dashboard_link("/user/{odd}/")
    assert template.format(port=8787) == "/user/{odd}/proxy/8787/status"


def test_users_own_link_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DASHBOARD_LINK_VAR, "https://hub.example/user/me/proxy/{port}/status")
    link = KernelDashboardLink("/user/me/")
    link.install()
    assert not link.installed
    assert os.environ[DASHBOARD_LINK_VAR] == "https://hub.example/user/me/proxy/{port}/status"
    link.uninstall()
    assert os.environ[DASHBOARD_LINK_VAR] == "https://hub.example/user/me/proxy/{port}/status"
