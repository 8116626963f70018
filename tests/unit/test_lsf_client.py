"""LSF's outputs parsed once, for the backend, `lab` and `doctor` alike (recorded outputs)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from pangeo_hpc_ext.schedulers.base import JobState, walltime_left
from pangeo_hpc_ext.schedulers.lsf import memory_in_units, unit_for_limits
from pangeo_hpc_ext.schedulers.lsf_output import (
    NATIVE_STATES,
    LongRecord,
    exec_hosts,
    job_state,
    lsf_timestamp,
    parse_bhosts_slots,
    parse_bjobs_json,
    parse_bqueues,
    parse_submission,
    walltime_minutes,
)

RECORDED = Path(__file__).parent / "recorded" / "lsf"
# Dec 1 2026, 12:00 local time: the recorded stamps carry no year.
NOW = datetime(2026, 12, 1, 12, 0).timestamp()


def test_every_lsf_state_is_mapped() -> None:
    lsf_states = "PEND PSUSP RUN USUSP SSUSP DONE EXIT UNKWN WAIT ZOMBI PROV".split()
    assert set(NATIVE_STATES) == set(lsf_states)
    assert job_state("PROV") is JobState.PENDING
    assert job_state("ZOMBI").ended and not job_state("UNKWN").ended
    assert job_state("NEWWORD") is JobState.RUNNING  # never taken for ended


def test_bjobs_json_records() -> None:
    jobs = parse_bjobs_json((RECORDED / "bjobs.json").read_text(), now=NOW)
    assert set(jobs) == {"101", "102", "103", "104", "106"}
    running = jobs["101"]
    assert running.state is JobState.RUNNING and running.native_state == "RUN"
    assert running.hosts == ("node01",)
    assert running.name == "dask-worker-ab12"
    assert jobs["102"].name is None  # an empty JOB_NAME is not a name
    assert running.walltime_left_s == 30 * 60 - 600
    assert running.submitted == datetime(2026, 11, 30, 9, 3).astimezone().isoformat()
    pending = jobs["102"]
    assert pending.state is JobState.PENDING
    assert pending.reason == "New job is waiting for scheduling"
    assert pending.hosts == () and pending.started is None and pending.walltime_left_s is None
    ended = jobs["103"]
    assert ended.state is JobState.FAILED and ended.finished
    assert ended.reason.startswith("TERM_RUNLIMIT")
    assert ended.hosts == ("node02", "node03")
    assert jobs["104"].state is JobState.FINISHED and jobs["104"].reason is None
    assert jobs["106"].reason == "exit code 3"
    assert jobs["101"].to_json()["hosts"] == ["node01"]


@pytest.mark.parametrize(
    ("text", "hosts"),
    [("", ()), ("node01", ("node01",)), ("a:a:b", ("a", "b")), ("4*a:2*b", ("a", "b"))],
)
def test_exec_hosts(text: str, hosts: tuple[str, ...]) -> None:
    assert exec_hosts(text) == hosts


def test_timestamps_take_the_latest_year_not_in_the_future() -> None:
    assert lsf_timestamp("Dec 31 23:59", now=NOW).startswith("2025-12-31T23:59")
    assert lsf_timestamp("Dec  1 11:00", now=NOW).startswith("2026-12-01T11:00")
    assert lsf_timestamp("", now=NOW) is None
    assert lsf_timestamp("garbage", now=time.time()) is None


@pytest.mark.parametrize(
    ("output", "parsed"),
    [
        ("Job <123> is submitted to queue <bigmem>.\n", ("123", "bigmem")),
        ("Job <9> is submitted to default queue <normal>.\n", ("9", "normal")),
        ("esub: site check ok\nJob <77> is submitted to queue <normal>.\n", ("77", "normal")),
        ("bigmem2: No such queue. Job not submitted.\n", None),
    ],
)
def test_submission_lines(output: str, parsed: tuple[str, str] | None) -> None:
    assert parse_submission(output) == parsed


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("30", 30), ("00:30", 30), ("8:00", 480), ("1:75", None), ("1:60", None), ("x", None)],
)
def test_walltime_is_parsed_once(value: str, minutes: int | None) -> None:
    assert walltime_minutes(value) == minutes


def test_bqueues_names() -> None:
    text = (
        "QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP\n"
        "interactive      40  Open:Active       -    -    -    -     0     0     0     0\n"
        "normal           30  Open:Active       -    -    -    -     2     1     1     0\n"
    )
    assert [q.name for q in parse_bqueues(text)] == ["interactive", "normal"]
    assert parse_bqueues("No queues found\n") == []


RECORDED = Path(__file__).parent / "recorded" / "lsf"


def test_bhosts_slots_are_the_largest_hosts_max() -> None:
    text = (
        "HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV\n"
        "node01             ok              -      4      0      0      0      0      0\n"
        "node02             closed_Full     -     16     16     16      0      0      0\n"
    )
    assert parse_bhosts_slots(text) == 16
    # volclava's own answer, recorded: one host of 8 slots.
    assert parse_bhosts_slots((RECORDED / "volclava" / "bhosts_w.stdout").read_text()) == 8
    # A host without a slot limit: nothing is known to be too large.
    assert parse_bhosts_slots(text.replace("     16     16", "      -     16")) is None
    assert parse_bhosts_slots("No matching host found\n") is None


def test_memory_units(tmp_path: Path) -> None:
    conf = tmp_path / "lsf.conf"
    conf.write_text("LSF_LOGDIR=/x\nLSF_UNIT_FOR_LIMITS = 'mb'\n")
    assert unit_for_limits(conf) == "MB"
    assert unit_for_limits(None) is None
    assert memory_in_units(20 * 10**9, "MB") == 19074
    assert memory_in_units(20 * 10**9, "KB") == 19531250


@pytest.mark.parametrize(
    "value", ["30", "00:30", "8:00", "1:5", "99999", "1:75", "99:99", "1:60", "1:123", "x", ""]
)
def test_the_form_pattern_accepts_what_lsf_walltime_parsing_accepts(value: str) -> None:
    # The browser checks the schema's pattern; 99:99 must be refused there, not only by the server.
    from pangeo_hpc_ext.backends.lsf import LSFBackend

    pattern = LSFBackend.walltime_property["pattern"]
    assert bool(re.fullmatch(pattern, value)) == (walltime_minutes(value) is not None)


def test_walltime_left_never_exceeds_the_run_limit() -> None:
    # A start stamp a second ahead of this host's clock: the whole 00:30 is left, not 0:30:01.
    started = datetime.fromtimestamp(NOW + 1).astimezone()
    record = LongRecord(job_id="1", started=started, runlimit_min=30)
    assert record.walltime_left_s(NOW) == 30 * 60
    assert walltime_left(1800, -5) == 1800
    assert walltime_left(1800, 1799.5) == 0
    assert walltime_left(1800, 2000) == 0
