"""`pangeo-hpc doctor` says whether jupyter-server-proxy's generic route is closed or open."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_doctor import ENABLED, GOOD_JOBQUEUE, doctor, user_setup

ROW = "generic /proxy/<port> route"


def generic_row(tmp_path: Path, server_config: dict) -> str:
    tmp_path.mkdir()
    result = doctor(user_setup(tmp_path, GOOD_JOBQUEUE, server_config), "--json")
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["name"] == ROW]
    return f"{'PASS' if check['ok'] else 'FAIL'} {check['detail']}"


def test_doctor_shows_which_generic_proxy_setting_is_in_force(tmp_path: Path) -> None:
    assert generic_row(tmp_path / "default", ENABLED).startswith("PASS closed (default")
    opted_in = {**ENABLED, "PangeoHPC": {"allow_generic_proxy": True}}
    assert generic_row(tmp_path / "opted-in", opted_in).startswith("PASS open by choice")
    # pip enables both for the environment; a user may disable ours in their own config.
    extensions = {"jupyter_server_proxy": True, "pangeo_hpc_ext": False}
    proxy_only = {"ServerApp": {"jpserver_extensions": extensions}}
    assert generic_row(tmp_path / "proxy-only", proxy_only).startswith("FAIL open:")
