"""Every LSF dialect read by the one client: outputs recorded from volclava 2.2 (recorded/lsf/
volclava, see its README.md for each command and exit code) and the forms LSF-REFERENCE.md
documents for IBM LSF 10.1 and 9.1."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from pangeo_hpc_ext.schedulers.base import JobState
from pangeo_hpc_ext.schedulers.lsf import NOTHING_FOUND, default_limits_unit, unit_for_limits
from pangeo_hpc_ext.schedulers.lsf_output import (
    BJOBS_FIELDS,
    FORM_REJECTED,
    BjobsForm,
    form_for_banner,
    lsf_timestamp,
    parse_bjobs_delimited,
    parse_bjobs_json,
    parse_bjobs_long,
    parse_bjobs_wide,
)

VOLCLAVA = Path(__file__).parent / "recorded" / "lsf" / "volclava"
# The recordings were made on Dec 6 2026 around 19:29, local time.
NOW = datetime(2026, 12, 6, 19, 35).timestamp()


def recorded(name: str) -> str:
    return (VOLCLAVA / name).read_text()


def local(*parts: int) -> str:
    return datetime(*parts).astimezone().isoformat()


def volclava_long() -> str:
    names = ["run", "stdin", "pend", "done", "exit", "killed", "long"]
    return "\n".join(recorded(f"bjobs_l_{name}.stdout") for name in names)


@pytest.mark.parametrize(
    ("banner", "form"),
    [
        (recorded("lsid.stdout").splitlines()[0], BjobsForm.OPENLAVA),  # volclava project 2.2
        ("openlava project 4.0.0, Jun 4 2016", BjobsForm.OPENLAVA),
        ("IBM Spectrum LSF Standard 10.1.0.6, Oct 10 2019", BjobsForm.JSON),
        ("IBM Spectrum LSF 10.1.0, Jan 5 2016", BjobsForm.JSON),
        ("IBM Platform LSF Standard 9.1.3.0, Jul 04 2014", BjobsForm.DELIMITED),
        ("Platform LSF HPC 7 Update 6, Sep 04 2009", BjobsForm.PLAIN),
        (None, BjobsForm.JSON),  # no lsid: try the best form, step down if refused
    ],
)
def test_lsid_banner_chooses_the_first_form_to_try(banner: str | None, form: BjobsForm) -> None:
    assert form_for_banner(banner) is form


@pytest.mark.parametrize(
    "name",
    ["bjobs_o_run_time", "bjobs_o_delim", "bjobs_o_widths", "bjobs_noheader", "bjobs_json_no_o"],
)
def test_volclava_refusing_a_form_is_told_from_a_failure(name: str) -> None:
    assert FORM_REJECTED.search(recorded(f"{name}.stderr"))


def test_volclava_field_error_is_the_one_users_met() -> None:
    assert recorded("bjobs_o_run_time.stderr") == (
        "<RUN_TIME> in the format string is not a valid field name.\n"
    )


@pytest.mark.parametrize(
    "text", ["bjobs: LSF is down. Please wait...", "Job <99999> is not found", "No unfinished"]
)
def test_failures_and_answers_are_not_form_rejections(text: str) -> None:
    assert not FORM_REJECTED.search(text)


def test_nothing_found_is_an_answer() -> None:
    assert NOTHING_FOUND.search(recorded("bjobs_nojobs.stderr"))  # exit 254
    assert NOTHING_FOUND.search(recorded("bjobs_unknown.stderr"))  # exit 255
    # -json answers with an empty document and exit 255: no job, no failure.
    assert parse_bjobs_json(recorded("bjobs_o_json_nojobs.stdout")) == {}
    assert parse_bjobs_json(recorded("bjobs_a_o_json_unknown_only.stdout")) == {}


def test_volclava_json_with_long_records() -> None:
    long = parse_bjobs_long(volclava_long(), now=NOW)
    jobs = parse_bjobs_json(recorded("bjobs_a_o_json.stdout"), now=NOW, long=long)
    running = jobs["40"]
    assert (running.state, running.native_state, running.name) == (
        JobState.RUNNING,
        "RUN",
        "running-job",
    )
    assert running.hosts == ("vm",)
    assert running.submitted == local(2026, 12, 6, 19, 29, 34)  # -l has the seconds
    assert running.started == local(2026, 12, 6, 19, 29, 37)
    assert running.walltime_left_s is None  # submitted without -W: no run limit
    assert running.reason is None
    # #BSUB -W 00:30 from a script on stdin: the run limit from -l, the start with seconds.
    limited = jobs["42"]
    assert limited.walltime_left_s == 30 * 60 - (
        NOW - datetime(2026, 12, 6, 19, 29, 37).timestamp()
    )
    pending = jobs["44"]
    assert pending.state is JobState.PENDING and pending.hosts == () and pending.started is None
    assert pending.reason == "Job slot limit reached: 1 host"  # volclava's wording
    assert jobs["38"].state is JobState.FAILED and jobs["38"].reason == "exit code 3"
    assert jobs["39"].reason == "exit code 130"  # bkill: SIGINT first
    assert jobs["37"].state is JobState.FINISHED and jobs["37"].reason is None
    assert jobs["41"].name == "dask-worker-a-very-long-job-name-that-exceeds-the-column-0123456789"


def test_volclava_without_long_records_leaves_what_it_cannot_know_unknown() -> None:
    jobs = parse_bjobs_json(recorded("bjobs_a_o_json.stdout"), now=NOW)
    assert jobs["44"].reason is None and jobs["38"].reason is None
    assert jobs["42"].walltime_left_s is None
    # START_TIME is volclava's MM/DD-HH:MM:SS; a 5-slot job names its first host only.
    assert jobs["40"].started == local(2026, 12, 6, 19, 29, 37)
    assert jobs["43"].hosts == ("vm",)
    assert jobs["44"].started is None  # "-"


def test_volclava_plain_wide_with_long_records() -> None:
    long = parse_bjobs_long(volclava_long(), now=NOW)
    jobs = parse_bjobs_wide(recorded("bjobs_a_w_ids.stdout"), now=NOW, long=long)
    assert set(jobs) == {"40", "44", "37", "38", "39"}
    assert jobs["40"].native_state == "RUN" and jobs["40"].hosts == ("vm",)
    assert jobs["40"].name == "running-job"
    assert jobs["44"].hosts == () and jobs["44"].reason == "Job slot limit reached: 1 host"
    assert jobs["39"].reason == "exit code 130"
    # Without -l: state and submit time only; a name or host from -w's columns could be wrong.
    bare = parse_bjobs_wide(recorded("bjobs_a_w.stdout"), now=NOW)
    assert bare["43"].native_state == "RUN" and bare["43"].hosts == () and bare["43"].name is None
    assert bare["9"].state is JobState.FAILED
    assert bare["41"].submitted == local(2026, 12, 6, 19, 29)


def test_volclava_memory_unit_is_mb_when_lsf_conf_names_none(tmp_path: Path) -> None:
    conf = tmp_path / "lsf.conf"
    conf.write_text(recorded("lsf_conf.stdout"))
    assert unit_for_limits(conf) is None
    assert default_limits_unit(recorded("lsid.stdout").splitlines()[0]) == "MB"
    assert default_limits_unit("IBM Spectrum LSF Standard 10.1.0.6, Oct 10 2019") == "KB"
    # bsub -M 1024 with no LSF_UNIT_FOR_LIMITS: 1024 MB.
    assert " MEMLIMIT\n 1048576 K\n" in recorded("bjobs_l_M_1024.stdout")


def test_lsf9_delimited_rows() -> None:
    # LSF-REFERENCE 2.5: -o "... delimiter='^'", "-" for nothing, a header row of field names.
    header = "^".join(field.upper() for field in BJOBS_FIELDS.split())
    rows = [
        header,
        "101^RUN^normal^dask-w1^node01:node01^Nov 30 09:03^Nov 30 09:04^600 second(s)^30.0^-^-^-",
        "102^PEND^normal^dask-w2^-^Nov 30 09:03^-^0 second(s)^30.0^-^-^"
        "Job slot limit reached: 1 host; a ^ in the text;",
        "103^EXIT^normal^dask-w3^node02^Nov 30 08:00^Nov 30 08:01^1800 second(s)^30.0^140^"
        "TERM_RUNLIMIT: job killed after reaching LSF run time limit^-",
    ]
    jobs = parse_bjobs_delimited("\n".join(rows), BJOBS_FIELDS, now=NOW)
    assert set(jobs) == {"101", "102", "103"}
    assert jobs["101"].hosts == ("node01",) and jobs["101"].walltime_left_s == 1200
    assert jobs["101"].name == "dask-w1" and jobs["101"].started == local(2026, 11, 30, 9, 4)
    assert jobs["102"].reason == "Job slot limit reached: 1 host; a ^ in the text"
    assert jobs["102"].started is None and jobs["102"].hosts == ()
    assert jobs["103"].reason.startswith("TERM_RUNLIMIT")


def test_ibm_long_form_wrapped_at_79_columns() -> None:
    # LSF-REFERENCE 2.4: IBM 10.1 wraps at 79 columns, continuing 21 spaces in, words cut.
    text = (
        "\n"
        "Job <806290>, Job Name <dask-worker>, User <u>, Project <default>, Status <EXIT>, "
        "Queue <b\n"
        "                     atch>, Command <dask-worker>\n"
        "Thu Dec  3 16:31:05: Submitted from host <login1>, CWD <$HOME>, 6 Task(s), Reques\n"
        "                     ted Resources <span[hosts=1]>;\n"
        "Thu Dec  3 16:31:09: Started 6 Task(s) on Host(s) <6*cn809>, Allocated 6 Slot(s) o\n"
        "                     n Host(s) <6*cn809>, Execution Home </home/u>;\n"
        "\n"
        " RUNLIMIT\n"
        " 480.0 min\n"
        "\n"
        "Thu Dec  3 20:31:09: Exited with exit code 140. The CPU time used is 2.0 seconds.\n"
        "Thu Dec  3 20:31:09: Completed <exit>; TERM_RUNLIMIT: job killed after reaching LSF \n"
        "                     run time limit.\n"
    )
    record = parse_bjobs_long(text, now=NOW)["806290"]
    assert record.native_state == "EXIT" and record.name == "dask-worker"
    assert record.hosts == ("cn809",)
    assert record.runlimit_min == 480.0
    assert record.started is not None and record.started.isoformat() == local(
        2026, 12, 3, 16, 31, 9
    )
    assert record.reason == "TERM_RUNLIMIT: job killed after reaching LSF run time limit"


@pytest.mark.parametrize(
    ("text", "stamp"),
    [
        ("12/06-19:29:37", (2026, 12, 6, 19, 29, 37)),  # volclava START_TIME, bjobs -W
        ("Sun Dec  6 19:29:34", (2026, 12, 6, 19, 29, 34)),  # -l event lines
        ("Mon Aug  4 12:28:51 2014", (2014, 8, 4, 12, 28, 51)),  # LSB_DISPLAY_YEAR=Y
        ("Dec  6 19:29", (2026, 12, 6, 19, 29, 0)),
    ],
)
def test_every_stamp_form(text: str, stamp: tuple[int, ...]) -> None:
    assert lsf_timestamp(text, now=NOW) == local(*stamp)
