"""The notebook registry's format and checks, without a server: entries a scheduler writes, the
private directory both sides insist on, the kernel API's lookups, and the generic proxy routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server_proxy.config import ServerProxy
from jupyter_server_proxy.handlers import setup_handlers
from tornado import httputil, web

from pangeo_hpc_ext.kernel import RegistryUnavailable, find
from pangeo_hpc_ext.kernel.registry import (
    CATALOG_FILE,
    REGISTRY_VAR,
    private_directory_problem,
    registry_directory,
)
from pangeo_hpc_ext.notebook.entries import JobRef, NotebookCluster
from pangeo_hpc_ext.server.generic_proxy import GenericProxyClosed, close_generic_routes


def entry(**changes: Any) -> dict[str, Any]:
    base = {
        "version": 1,
        "id": "nb-0123456789abcdef",
        "host": "node01",
        "pid": 4242,
        "create_time": 1796100000.25,
        "started": "2026-12-01T05:00:00+00:00",
        "address": "tcp://127.0.0.1:8786",
        "dashboard_port": 8787,
        "name": "seed",
        "cluster_class": "LSFCluster",
        "workers": [
            {
                "address": "tcp://127.0.0.1:4000",
                "host": "127.0.0.1",
                "nthreads": 2,
                "memory_limit": 10**9,
                "dashboard_port": 4001,
                "job": {"kind": "lsf", "job_id": "12"},
            }
        ],
        "jobs": [{"kind": "lsf", "job_id": "12"}, {"kind": "lsf", "job_id": "13"}],
        "requested": 2,
        "adapt": None,
        "tls": None,
    }
    return {**base, **changes}


def test_entry_parsed_with_jobs_once_each() -> None:
    cluster = NotebookCluster.parse(entry())
    assert cluster.job_refs() == [JobRef("lsf", "12"), JobRef("lsf", "13")]
    assert cluster.status == "scaling"  # 1 of 2 workers
    assert cluster.resources() == (2, 10**9)
    assert cluster.worker_dashboards() == {("127.0.0.1", 4001)}


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 2},
        {"pid": "4242"},
        {"pid": True},
        {"dashboard_port": 87.87},
        {"workers": {}},
        {"jobs": [{"kind": "lsf"}]},
        {"adapt": {"minimum": 1}},
        {"tls": "pem"},
    ],
)
def test_malformed_entries_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        NotebookCluster.parse(entry(**changes))


def test_registry_must_be_private_to_this_user(tmp_path: Path) -> None:
    directory = tmp_path / "registry"
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)
    assert private_directory_problem(directory) is None
    directory.chmod(0o750)
    assert "mode 750" in (private_directory_problem(directory) or "")
    directory.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(directory)
    assert "not a directory" in (private_directory_problem(link) or "")
    with pytest.raises(RegistryUnavailable, match=REGISTRY_VAR):
        registry_directory({})
    with pytest.raises(RegistryUnavailable, match="not a directory"):
        registry_directory({REGISTRY_VAR: str(link)})


def test_find_by_id_or_unique_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "registry"
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)
    monkeypatch.setenv(REGISTRY_VAR, str(directory))
    with pytest.raises(RegistryUnavailable, match=CATALOG_FILE):
        find("a")

    def listed(cluster_id: str, name: str) -> dict[str, Any]:
        return {"id": cluster_id, "name": name, "origin": "jupyterlab", "status": "running"}

    catalog = [listed("1", "a"), listed("2", "b"), listed("3", "b")]
    (directory / CATALOG_FILE).write_text(json.dumps({"version": 1, "clusters": catalog}))
    assert find("a").id == "1"
    assert find("3").name == "b"
    with pytest.raises(LookupError, match="connect by id: 2, 3"):
        find("b")
    with pytest.raises(LookupError, match=r"no cluster named 'c'; .*a \(1\)"):
        find("c")


def handler_of(application: web.Application, path: str) -> type:
    request = httputil.HTTPServerRequest(method="GET", uri=path, headers=httputil.HTTPHeaders())
    request.host = "127.0.0.1"
    delegate = application.find_handler(request)
    return delegate.handler_class


def test_generic_proxy_rules_get_the_refusal() -> None:
    application = web.Application(base_url="/user/me/")
    setup_handlers(application, ServerProxy())
    paths = ["/user/me/proxy/8888/", "/user/me/proxy/absolute/8888/", "/user/me/proxy/localhost:1/"]
    assert all(handler_of(application, p) is not GenericProxyClosed for p in paths)
    assert close_generic_routes(application) == 4
    assert all(handler_of(application, p) is GenericProxyClosed for p in paths)
    assert close_generic_routes(application) == 0  # idempotent
