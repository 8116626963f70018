"""The default state_dir: one per JupyterHub server, so that a user's named servers (on one node
or on several sharing $HOME) keep, reattach and clean up only their own clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from pangeo_hpc_ext.paths import default_state_dir, safe_file_name
from pangeo_hpc_ext.server.app import PangeoHPC


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("JUPYTERHUB_SERVER_NAME", raising=False)
    return tmp_path / "pangeo-hpc"


def test_plain_jupyterlab_keeps_its_folder(data_home: Path) -> None:
    assert default_state_dir({}) == data_home / "server"
    assert Path(PangeoHPC().state_dir) == data_home / "server"


def test_each_jupyterhub_server_has_its_own(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = default_state_dir({"JUPYTERHUB_SERVER_NAME": ""})
    gpu = default_state_dir({"JUPYTERHUB_SERVER_NAME": "gpu"})
    other = default_state_dir({"JUPYTERHUB_SERVER_NAME": "big-mem"})
    assert default == data_home / "jupyterhub" / "default"
    assert len({default, gpu, other, data_home / "server"}) == 4
    # What the server reads: its own environment, as the spawner set it.
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "gpu")
    assert Path(PangeoHPC().state_dir) == gpu


@pytest.mark.parametrize("name", ["..", ".", "a/../../b", "x y"])
def test_a_server_name_never_leaves_the_folder(data_home: Path, name: str) -> None:
    path = default_state_dir({"JUPYTERHUB_SERVER_NAME": name})
    assert path.parent == data_home / "jupyterhub"
    assert "/" not in safe_file_name(name, "default")
