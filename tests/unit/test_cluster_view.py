"""One view of a cluster of either origin, and the two shapes written from it: the REST Cluster
(valid against the schema the OpenAPI document and the TypeScript types are made from) and the
kernels' catalog entry."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from pangeo_hpc_ext.core.cluster import Phase
from pangeo_hpc_ext.core.manager import ClusterManager
from pangeo_hpc_ext.notebook.clusters import NotebookClusters
from pangeo_hpc_ext.notebook.entries import NotebookCluster
from pangeo_hpc_ext.server import schemas
from pangeo_hpc_ext.server.cluster_view import (
    catalog_entry,
    cluster_json,
    managed_view,
    notebook_view,
)
from tests.unit.fake_backend import FakeBackend
from tests.unit.test_manager import run, settled
from tests.unit.test_notebook_registry import entry

CATALOG_KEYS = {
    "id",
    "name",
    "origin",
    "status",
    "scheduler_address",
    "dashboard_link",
    "workers",
    "tls",
}


def errors(value: dict) -> list[str]:
    validator = Draft202012Validator(
        schemas.CLUSTER, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [error.message for error in validator.iter_errors(value)]


def test_a_notebook_cluster_in_both_shapes(tmp_path: Path) -> None:
    notebooks = NotebookClusters(tmp_path / "registry", kernel_pids=dict, backends={})
    cluster = NotebookCluster.parse(entry(requested=None, tls={"ca_file": "/x"}))
    view = notebook_view(notebooks, cluster, "/user/me/", "analysis.ipynb")

    answer = cluster_json(view)
    assert errors(answer) == []
    assert answer["origin"] == "notebook" and answer["tls"] is None  # credentials stay in kernels
    assert answer["dashboard_url"] == "/user/me/pangeo-hpc/dashboards/8787/status"
    # Never scaled: the REST view shows what is connected, the catalog what was asked (nothing).
    assert answer["workers"] == {"requested": 1, "connected": 1}
    assert answer["notebook"]["path"] == "analysis.ipynb"

    listed = catalog_entry(view)
    assert set(listed) == CATALOG_KEYS
    assert listed["workers"] == {"requested": None, "connected": 1}
    assert listed["tls"] == {"ca_file": "/x"}
    assert listed["dashboard_link"] == answer["dashboard_url"]


def test_a_scheduler_started_without_a_cluster_object_is_a_valid_cluster(tmp_path: Path) -> None:
    # The preload writes no class for a bare Scheduler (scheduler_preload.describe).
    notebooks = NotebookClusters(tmp_path / "registry", kernel_pids=dict, backends={})
    cluster = NotebookCluster.parse(entry(cluster_class=None))
    answer = cluster_json(notebook_view(notebooks, cluster, "/", None))
    assert answer["notebook"]["cluster_class"] is None
    assert errors(answer) == []


def test_a_cluster_of_ours_in_both_shapes(tmp_path: Path) -> None:
    async def scenario(manager: ClusterManager, backend: FakeBackend, seen: list) -> None:
        managed = await manager.create("fake", {}, 2, keep=True)
        await settled(lambda: managed.phase is Phase.RUNNING, "the cluster starting")
        view = managed_view(manager, managed, "/")

        answer = cluster_json(view)
        assert errors(answer) == []
        assert answer["origin"] == "jupyterlab" and "notebook" not in answer
        assert answer["keep"] is True and answer["workers"]["requested"] == 2
        assert set(answer["tls"]) == {"ca_file", "cert_file", "key_file"}

        listed = catalog_entry(view)
        assert set(listed) == CATALOG_KEYS
        # What kernel.connect() reads: other key names than the REST body's.
        assert listed["tls"] == {
            "ca_file": answer["tls"]["ca_file"],
            "cert": answer["tls"]["cert_file"],
            "key": answer["tls"]["key_file"],
        }

    run(tmp_path, scenario, tls=True)
