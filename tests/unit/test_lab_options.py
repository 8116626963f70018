"""`pangeo-hpc lab` options: what is refused before anything is submitted, and why."""

from __future__ import annotations

from typing import Any

import pytest

from pangeo_hpc_ext.cli.lab.options import (
    OptionError,
    format_walltime,
    lab_options,
    parse_walltime,
)

GOOD: dict[str, Any] = {
    "queue": None,
    "walltime": "01:00",
    "cores": 1,
    "memory": None,
    "port": 8888,
    "ip": "node",
    "login_host": "login.example.org",
}


@pytest.mark.parametrize(("text", "minutes"), [("1:30", 90), ("45", 45), (" 02:00 ", 120)])
def test_walltime_in_hh_mm_or_minutes(text: str, minutes: int) -> None:
    assert parse_walltime(text) == minutes
    assert parse_walltime(format_walltime(minutes)) == minutes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:75", "minutes below 60"),  # the form refuses it too; so does LSF's -W
        ("1h", "hh:mm"),
        ("", "hh:mm"),
        ("0:04", "too short"),
        ("4", "too short"),
    ],
)
def test_walltime_refused(text: str, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        parse_walltime(text)


def test_good_options_are_kept() -> None:
    options = lab_options(**{**GOOD, "queue": "normal", "memory": "2GB", "cores": 4})
    assert options.queue == "normal"
    assert options.memory_bytes == 2 * 10**9
    assert (options.cores, options.walltime_minutes, options.port) == (4, 60, 8888)
    assert lab_options(**{**GOOD, "queue": ""}).queue is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ip": "0.0.0.0"}, "every interface"),
        ({"ip": "::"}, "every interface"),
        ({"queue": "normal\n#BSUB -G admins"}, "--queue"),
        ({"queue": "a b"}, "--queue"),
        ({"login_host": "-oProxyCommand=x"}, "--login-host"),
        ({"login_host": "host;rm"}, "--login-host"),
        ({"cores": 0}, "--cores 0"),
        ({"port": 80}, "--port 80"),
        ({"port": 70000}, "--port 70000"),
        ({"memory": "lots"}, "--memory 'lots'"),
        ({"start_timeout_s": 0}, "--start-timeout"),
    ],
)
def test_bad_options_name_the_option(change: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        lab_options(**{**GOOD, **change})
