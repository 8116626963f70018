"""PBS client parsers on outputs recorded from OpenPBS 23.06.06 on the CI machine kind
(.ci/openpbs.sh), the state table, walltimes and sizes, and the backend's option checks."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from pangeo_hpc_ext.backends.pbs import PBSBackend
from pangeo_hpc_ext.schedulers.base import JobState
from pangeo_hpc_ext.schedulers.pbs import (
    QDEL_ALREADY_GONE,
    STATES,
    UNKNOWN_JOB,
    exec_hosts,
    format_walltime,
    load_json,
    parse_job,
    parse_qstat_json,
    parse_qsub,
    parse_walltime,
    sequence_number,
    size_bytes,
    version,
)

RECORDED = Path(__file__).parent / "recorded" / "pbs"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_every_job_state_letter_is_mapped() -> None:
    # qstat(1B): B E F H M Q R S T U W X; F and X are decided by Exit_status.
    assert set(STATES) | {"F", "X"} == set("BEFHMQRSTUWX")
    assert {k for k, v in STATES.items() if v is JobState.PENDING} == set("QHWTM")
    assert {k for k, v in STATES.items() if v is JobState.RUNNING} == set("REB")
    assert {k for k, v in STATES.items() if v is JobState.SUSPENDED} == set("SU")


@pytest.mark.parametrize(
    ("attributes", "state", "reason"),
    [
        ({"job_state": "F", "Exit_status": 0}, JobState.FINISHED, None),
        ({"job_state": "F", "Exit_status": 3, "comment": "Job run at x and failed"},
         JobState.FAILED, "Job run at x and failed (Exit_status 3)"),
        ({"job_state": "F", "Exit_status": 271}, JobState.FAILED, "Exit_status 271 (signal 15)"),
        ({"job_state": "F", "Exit_status": -29}, JobState.FAILED, "Exit_status -29"),
        # Deleted before it ran: no Exit_status, the comment says why.
        ({"job_state": "F", "comment": "Job deleted"}, JobState.FINISHED, "Job deleted"),
        ({"job_state": "X", "Exit_status": 0}, JobState.FINISHED, None),
        ({"job_state": "Q", "comment": "Not Running: Insufficient amount of resource: ncpus"},
         JobState.PENDING, "Not Running: Insufficient amount of resource: ncpus"),
        ({"job_state": "R", "comment": "Job run at Sun Dec 06 at 19:50 on (vm:ncpus=1)"},
         JobState.RUNNING, None),
        ({"job_state": "H", "comment": "job held, since ..."}, JobState.PENDING,
         "job held, since ..."),
        ({"job_state": "S"}, JobState.SUSPENDED, None),
    ],
)  # fmt: skip
def test_end_state_from_exit_status_and_reason_from_comment(
    attributes: dict, state: JobState, reason: str | None
) -> None:
    info = parse_job("1.vm", attributes)
    assert (info.state, info.reason) == (state, reason)


def test_walltime_left_is_requested_minus_used() -> None:
    info = parse_job(
        "1.vm",
        {
            "job_state": "R",
            "Resource_List": {"walltime": "00:10:00"},
            "resources_used": {"walltime": "00:01:40"},
            "stime": "Sun Dec  6 20:00:00 2026",
        },
    )
    assert info.walltime_left_s == 500
    # Before the mom's first usage report: the clock since the start.
    early = parse_job(
        "1.vm",
        {"job_state": "R", "Resource_List": {"walltime": "00:10:00"},
         "stime": "Sun Dec  6 20:00:00 2026"},
        now=datetime(2026, 12, 6, 20, 0, 30),
    )  # fmt: skip
    assert early.walltime_left_s == 570
    over = parse_job(
        "1.vm",
        {"job_state": "E", "Resource_List": {"walltime": "00:01:00"},
         "resources_used": {"walltime": "00:01:05"}},
    )  # fmt: skip
    assert over.walltime_left_s == 0  # never negative


def test_exec_host_gives_each_host_once() -> None:
    assert exec_hosts("vm/0") == ("vm",)
    assert exec_hosts("node1/0*2+node2/1+node1/1") == ("node1", "node2")
    assert exec_hosts(None) == ()


def test_walltimes_and_sizes() -> None:
    assert parse_walltime("01:30:00") == 5400
    assert parse_walltime("90:00") == 5400
    assert parse_walltime("5400") == 5400
    assert parse_walltime("100:00:00") == 360000
    for bad in ("", "1:60:00", "1h", "1:2:3:4"):
        with pytest.raises(ValueError):
            parse_walltime(bad)
    assert format_walltime(5400) == "01:30:00"
    assert size_bytes("954mb") == 954 * 2**20
    assert size_bytes("8gb") == 8 * 2**30
    assert size_bytes("1024kb") == 2**20
    assert size_bytes("100") == 100
    assert size_bytes("2w") == 16
    assert size_bytes("lots") is None


def test_unescaped_backslashes_in_qstat_json_are_read() -> None:
    # qstat 23.06 copies the job's environment into Variable_List without escaping backslashes.
    broken = r'{"Jobs": {"1.vm": {"job_state": "R", "Variable_List": {"PS1": "\u@\h:\w \\ok"}}}}'

    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert parse_qstat_json(broken)["1.vm"].state is JobState.RUNNING
    assert load_json(broken, "qstat")["Jobs"]["1.vm"]["Variable_List"]["PS1"] == r"\u@\h:\w \ok"
    with pytest.raises(ValueError, match="not JSON"):
        load_json("qstat: cannot connect to server", "qstat")


def test_ids_and_versions() -> None:
    assert parse_qsub("12.vm\n") == "12.vm"
    assert parse_qsub("13[].vm\n") == "13[].vm"
    assert parse_qsub("qsub: Unknown queue\n") is None
    assert sequence_number("12.vm") == "12"
    assert version("pbs_version = 23.06.06\n") == "23.06.06"
    assert version("SGE 8.1.9\nusage: qstat [options]") is None
    assert UNKNOWN_JOB.search("qstat: Unknown Job Id 99.vm")
    assert QDEL_ALREADY_GONE.search("qdel: Job has finished 3.vm")


def test_option_checks_refuse_directives_that_set_our_resources() -> None:
    backend = PBSBackend()
    options = {
        "cores": 1,
        "memory": "1GB",
        "processes": 1,
        "walltime": "00:10:00",
        "job_extra_directives": [
            "-l walltime=01:00:00",
            "-lselect=2:ncpus=4",
            "-l place=scatter",
            "-m n",
        ],
    }
    errors = backend.check_options(options)
    assert [e.field for e in errors] == ["job_extra_directives"] * 3
    assert "sets walltime, which the walltime option sets" in errors[0].message
    assert {"ncpus", "select"} <= {e.message.split(" sets ")[1].split(",")[0] for e in errors}
    assert backend.directive_errors(["-q short"])[0].field.startswith("job_extra_directives")
    assert backend.directive_errors(["-N other"])
    assert not backend.directive_errors(["-m n", "-l place=scatter"])
