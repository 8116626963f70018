"""The emulator's OpenLava dialect against what volclava 2.2 printed (tests/unit/recorded/lsf/
volclava: byte-exact stdout/stderr, exit codes in its README.md). Each test is one fact volclava
showed that the emulator, speaking only IBM LSF 10.1, never did."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import lsfsim as lsfsim_fixtures
from tests.support.lsfsim import LsfSim

make_lsf = lsfsim_fixtures.make_lsf

VOLCLAVA = Path(__file__).parent / "unit" / "recorded" / "lsf" / "volclava"


def recorded(name: str) -> str:
    return (VOLCLAVA / name).read_text()


@pytest.fixture
def volclava(make_lsf: Callable[..., LsfSim]) -> LsfSim:
    return make_lsf(dialect="openlava")


def test_lsid_banner(volclava: LsfSim) -> None:
    out = volclava.run("lsid").stdout.splitlines()
    want = recorded("lsid.stdout").splitlines()
    assert re.fullmatch(r"volclava project 2\.2, \w{3} [ \d]\d \d{4}", out[0]), out
    assert re.fullmatch(r"volclava project 2\.2, \w{3} [ \d]\d \d{4}", want[0]), want
    assert [line.split(" is ")[0] for line in out[1:]] == [
        line.split(" is ")[0] for line in want[1:]
    ]


def test_no_job_exit_codes_and_empty_json(volclava: LsfSim) -> None:
    plain = volclava.run("bjobs")
    assert (plain.returncode, plain.stderr) == (254, recorded("bjobs_nojobs.stderr"))
    empty = volclava.run("bjobs", "-o", "jobid stat", "-json")
    assert empty.returncode == 255
    assert empty.stdout == recorded("bjobs_o_json_nojobs.stdout")


def test_only_fifteen_fields_and_no_noheader(volclava: LsfSim) -> None:
    # Unknown fields are found when a job is shown, so there must be one.
    volclava.submit("-J", "running-job", stdin="sleep 60\n")
    refused = volclava.run("bjobs", "-o", "jobid stat run_time", "-json")
    assert (refused.returncode, refused.stdout) == (99, "")
    assert refused.stderr == recorded("bjobs_o_run_time.stderr")
    delimited = volclava.run("bjobs", "-o", "jobid stat delimiter='^'")
    assert delimited.returncode == 99 and "<DELIMITER='^'>" in delimited.stderr
    noheader = volclava.run("bjobs", "-noheader")
    assert (noheader.returncode, noheader.stderr) == (255, recorded("bjobs_noheader.stderr"))


def test_job_name_cut_in_default_output_whole_in_wide(volclava: LsfSim) -> None:
    volclava.submit("-J", "running-job", stdin="sleep 60\n")
    volclava.wait_stat(1, "RUN")
    row = volclava.run("bjobs").stdout.splitlines()[1]
    assert "*nning-job" in row and "*nning-job" in recorded("bjobs.stdout")
    assert " running-job " in volclava.run("bjobs", "-w").stdout


def test_pending_reason_wording_and_wide_dash(make_lsf: Callable[..., LsfSim]) -> None:
    volclava = make_lsf(dialect="openlava", slots=1)
    volclava.submit(stdin="sleep 60\n")
    volclava.submit("-J", "pending-job", stdin="sleep 60\n")
    volclava.wait_stat(2, "PEND")
    long = volclava.run("bjobs", "-l", "2").stdout
    # volclava: ` Job slot limit reached: 1 host;` (IBM 10.1: no host count).
    assert re.search(r"(?m)^ PENDING REASONS:\n Job slot limit reached: \d+ hosts?;$", long)
    assert re.search(
        r"(?m)^ PENDING REASONS:\n Job slot limit reached: 1 host;$",
        recorded("bjobs_l_pend.stdout"),
    )
    wide = volclava.run("bjobs", "-w", "2").stdout.splitlines()[1]
    want = next(line for line in recorded("bjobs_a_w_ids.stdout").splitlines() if "PEND" in line)
    assert wide[45:56] == want[45:56] == "   -       ", (wide, want)  # EXEC_HOST column


def test_memory_limit_is_mb_without_lsf_unit_for_limits(volclava: LsfSim) -> None:
    conf = (Path(volclava.env["LSF_ENVDIR"]) / "lsf.conf").read_text()
    assert "LSF_UNIT_FOR_LIMITS" not in conf
    assert "LSF_UNIT_FOR_LIMITS" not in recorded("lsf_conf.stdout")
    volclava.submit("-M", "1024", "-J", "mem-1024", stdin="sleep 60\n")
    memlimit = " MEMLIMIT\n 1048576 K\n"
    assert memlimit in recorded("bjobs_l_M_1024.stdout")
    assert memlimit in volclava.run("bjobs", "-l", "1").stdout


def test_long_form_is_not_wrapped_and_killed_jobs_exit_130(volclava: LsfSim) -> None:
    name = "dask-worker-a-very-long-job-name-that-exceeds-the-column-0123456789"
    volclava.submit("-J", name, stdin="sleep 60\n")
    volclava.wait_stat(1, "RUN")
    header = volclava.run("bjobs", "-l", "1").stdout.splitlines()[1]
    assert header.startswith(f"Job <1>, Job Name <{name}>, User <")
    assert header.endswith(", Command <sleep 60>")
    assert recorded("bjobs_l_long.stdout").splitlines()[1].endswith(", Command <sleep 600>")
    killed = volclava.run("bkill", "1")
    assert killed.stdout == "Job <1> is being terminated\n"
    volclava.wait_stat(1, "EXIT")
    exited = "Exited with exit code 130. The CPU time used is"
    assert exited in recorded("bjobs_l_killed.stdout")
    assert exited in volclava.run("bjobs", "-l", "1").stdout


def test_json_with_unknown_ids(volclava: LsfSim) -> None:
    volclava.submit(stdin="sleep 60\n")
    volclava.wait_stat(1, "RUN")
    mixed = volclava.run("bjobs", "-o", "jobid stat exec_host", "-json", "1", "99999")
    records = json.loads(mixed.stdout)["RECORDS"]
    assert mixed.returncode == 0
    assert records[1] == {"JOBID": "99999", "ERROR": "Job <99999> is not found"}
    assert json.loads(recorded("bjobs_o_ids_json.stdout"))["RECORDS"][2] == {
        "JOBID": "99999",
        "ERROR": "Job <99999> is not found",
    }
    unknown = volclava.run("bjobs", "-o", "jobid stat", "-json", "99999")
    assert unknown.returncode == 255  # volclava: only unknown ids
    assert json.loads(unknown.stdout) == json.loads(recorded("bjobs_a_o_json_unknown_only.stdout"))


def test_bqueues_columns(volclava: LsfSim) -> None:
    out = volclava.run("bqueues").stdout.splitlines()
    want = recorded("bqueues.stdout").splitlines()
    assert out[0] == want[0]  # with volclava's trailing space
    normal = next(line for line in out if line.startswith("normal "))
    assert normal == want[1]
