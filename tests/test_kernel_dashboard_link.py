"""The seed's notebook, with no dask config edit: a kernel started by the server prints a
dashboard link that opens through Jupyter, on our port route (never the generic /proxy/<port>)."""

from __future__ import annotations

import os
from typing import Any

import dask.config
import pytest

from pangeo_hpc_ext.kernel.registry import REGISTRY_VAR
from pangeo_hpc_ext.notebook.kernel_environment import (
    DASHBOARD_LINK_VAR,
    PRELOAD_ARGV_VAR,
    PRELOAD_FILE,
    PRELOAD_VAR,
    KernelEnvironment,
    dashboard_link_template,
    preload_values,
)
from tests.support.kernel import Kernel

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
print(json.dumps({k: os.environ.get(k) for k in %r}))
"""
CLOSE_CELL = "client.close(); cluster.close()"


async def test_notebook_local_cluster_prints_proxied_link(
    kernel: Kernel, jp_fetch: Any, jp_base_url: str
) -> None:
    await kernel.start()
    seen = await kernel.run_json(SEED_CELL)
    link = f"{jp_base_url}pangeo-hpc/dashboards/{seen['port']}/status"
    assert seen["env"] == f"{jp_base_url}pangeo-hpc/dashboards/{{port}}/status"
    assert seen["cluster_link"] == link
    assert seen["client_link"] == link
    # The printed link opens the dashboard through Jupyter.
    page = await jp_fetch(link.removeprefix(jp_base_url))
    assert page.code == 200
    assert b"Bokeh.embed" in page.body
    await kernel.run(CLOSE_CELL)
    assert DASHBOARD_LINK_VAR in os.environ, "the variable is set for the server's lifetime"


async def test_client_of_our_cluster_prints_proxied_link(
    kernel: Kernel, api: Any, jp_fetch: Any, jp_base_url: str, jp_serverapp: Any
) -> None:
    """A cluster started from the sidebar, used from a notebook with Client(address): the
    Client formats its link from the kernel's variable; our port route serves our clusters too."""
    code, cluster = await api.call(
        "POST", "clusters", body={"profile": "local", "workers": 0, "options": {}}
    )
    assert code == 201, cluster
    cluster = await api.wait_for(cluster["id"], lambda c: c["status"] == "running", "running")
    port = jp_serverapp.web_app.settings["pangeo_hpc_ext"].manager.get(cluster["id"]).dashboard_port
    await kernel.start()
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
    assert link == f"{jp_base_url}pangeo-hpc/dashboards/{port}/status"
    page = await jp_fetch(link.removeprefix(jp_base_url))
    assert page.code == 200 and b"Bokeh.embed" in page.body


class TestConfiguredOff:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"kernel_dashboard_link": False, "register_notebook_clusters": False}

    async def test_kernel_keeps_dask_defaults(self, kernel: Kernel) -> None:
        await kernel.start()
        names = [DASHBOARD_LINK_VAR, PRELOAD_VAR, REGISTRY_VAR]
        seen = await kernel.run_json(ENV_CELL % names)
        assert seen[DASHBOARD_LINK_VAR] is None
        assert seen[PRELOAD_VAR] is None
        # The registry stays: pangeo_hpc_ext.kernel.connect() finds sidebar clusters through it.
        assert seen[REGISTRY_VAR]


def test_link_template_keeps_base_url_literal() -> None:
    assert dashboard_link_template("/") == "/pangeo-hpc/dashboards/{port}/status"
    template = dashboard_link_template("/user/{odd}/")
    assert template.format(port=8787) == "/user/{odd}/pangeo-hpc/dashboards/8787/status"


def test_users_own_settings_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = "https://hub.example/user/me/proxy/{port}/status"
    monkeypatch.setenv(DASHBOARD_LINK_VAR, mine)
    monkeypatch.setenv(PRELOAD_VAR, "['my_preload']")
    environment = KernelEnvironment()
    environment.install_dashboard_link("/user/me/")
    environment.install_preload()
    assert environment.installed == {}
    environment.uninstall()
    assert os.environ[DASHBOARD_LINK_VAR] == mine
    assert os.environ[PRELOAD_VAR] == "['my_preload']"


def test_preloads_from_dask_config_are_kept_and_ours_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRELOAD_VAR, raising=False)
    with dask.config.set(
        {
            "distributed.scheduler.preload": ["site_preload"],
            "distributed.scheduler.preload-argv": [["--site-option"]],
        }
    ):
        values = preload_values()
        environment = KernelEnvironment()
        environment.install_preload()
        try:
            # What a kernel's dask reads back from these variables.
            with monkeypatch.context() as env:
                for name, value in values.items():
                    env.setenv(name, value)
                collected = dask.config.collect_env()
        finally:
            environment.uninstall()
    scheduler = collected["distributed"]["scheduler"]
    assert scheduler["preload"] == ["site_preload", str(PRELOAD_FILE)]
    assert scheduler["preload_argv"] == [["--site-option"], []]
    assert PRELOAD_ARGV_VAR not in os.environ and PRELOAD_VAR not in os.environ
    assert PRELOAD_FILE.is_file()
