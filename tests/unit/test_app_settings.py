"""Server settings refuse values that cannot work, naming the setting, before anything starts."""

from __future__ import annotations

import pytest

from pangeo_hpc_ext.core.profiles import build_profiles
from pangeo_hpc_ext.server.app import PangeoHPC


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("scheduler_timeout", 0.0),
        ("scheduler_timeout", -1.0),
        ("job_poll_interval", 0.0),
        ("max_clusters", 0),
        ("max_workers", 0),
    ],
)
def test_settings_that_cannot_work_are_refused(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=setting):
        PangeoHPC(**{setting: value})


def test_profiles_refuse_unknown_keys_and_backends() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        build_profiles({"p": {"backend": "local", "tsl": False}})
    with pytest.raises(ValueError, match="unknown backend 'torque'"):
        build_profiles({"p": {"backend": "torque"}})
    profile = build_profiles({"p": {"backend": "local", "tls": False}})["p"]
    assert profile.tls is False and profile.allow_extra_directives is True
