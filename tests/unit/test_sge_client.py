"""Grid Engine client parsers on outputs recorded from Son of Grid Engine 8.1.9 (Debian 12) on the
CI machine kind (.ci/gridengine.sh), the state table, walltimes, and the backend's option checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from dask_jobqueue.sge import SGEJob

from pangeo_hpc_ext.backends.sge import SGEBackend, memory_request
from pangeo_hpc_ext.schedulers.base import JobState
from pangeo_hpc_ext.schedulers.sge_output import (
    STATES,
    accounting_problem,
    format_walltime,
    in_error_state,
    parse_qacct,
    parse_qstat_j,
    parse_qstat_xml,
    parse_qsub,
    parse_queue_configs,
    parse_walltime,
    qdel_refusals,
    state_of,
    task_indices,
)

RECORDED = Path(__file__).parent / "recorded" / "sge"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_qsub_answer_gives_the_job_id() -> None:
    assert parse_qsub(recorded("qsub_submitted.txt")) == "6"
    # An unknown queue: qsub exits 1 with the reason on stderr and nothing on stdout.
    assert recorded("qsub_unknown_queue.rc").strip() == "1"
    assert parse_qsub(recorded("qsub_unknown_queue.stdout")) is None
    assert 'unknown queue "nosuch.q"' in recorded("qsub_unknown_queue.stderr")


def test_qstat_xml_running_suspended_pending_held_and_error_jobs() -> None:
    # Job 6 started 04:31:01 with h_rt=600 (-l h_rt=0:10:0); read 60 s later.
    jobs = parse_qstat_xml(recorded("qstat_xml_mixed.xml"), now=datetime(2026, 12, 1, 4, 32, 1))
    assert (jobs["6"].name, jobs["10"].name) == ("running", "bigpe")
    assert {j: (i.native_state, i.state) for j, i in jobs.items()} == {
        "6": ("r", JobState.RUNNING),
        "9": ("s", JobState.SUSPENDED),
        "10": ("qw", JobState.PENDING),
        "8": ("Eqw", JobState.FAILED),
        "7": ("hqw", JobState.PENDING),
    }
    running = jobs["6"]
    assert running.hosts == ("vm",)  # from queue_name all.q@vm
    assert running.walltime_left_s == 540
    assert running.started is not None and running.started.startswith("2026-12-01T04:31:01")
    assert datetime.fromisoformat(running.started).tzinfo is not None
    assert running.submitted is None  # qstat gives running jobs' start time only
    assert jobs["9"].walltime_left_s is None  # submitted without h_rt: no limit to count down
    pending = jobs["10"]
    assert pending.hosts == () and pending.started is None and pending.walltime_left_s is None
    assert pending.submitted is not None and pending.submitted.startswith("2026-12-01T04:31:01")


def test_qstat_xml_jobs_being_deleted_hold_their_slots_until_they_end() -> None:
    jobs = parse_qstat_xml(recorded("qstat_xml_deleting.xml"), now=datetime(2026, 12, 1, 4, 45))
    assert (jobs["6"].native_state, jobs["6"].state) == ("dr", JobState.RUNNING)
    assert (jobs["9"].native_state, jobs["9"].state) == ("ds", JobState.SUSPENDED)
    assert not jobs["6"].finished and not jobs["9"].finished
    assert jobs["6"].walltime_left_s == 0  # past its h_rt: never negative


def test_qstat_xml_of_no_jobs_and_of_no_xml() -> None:
    empty = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
  </queue_info>
  <job_info>
  </job_info>
</job_info>"""
    assert parse_qstat_xml(empty) == {}
    # What qstat prints when the qmaster is down must never read as "every job ended".
    with pytest.raises(ValueError):
        parse_qstat_xml("error: commlib error: got select error (Connection refused)\n")


def test_pending_reasons_from_qstat_j_of_several_jobs() -> None:
    reasons = parse_qstat_j(recorded("qstat_j_three_pending.txt"))
    assert reasons == {
        "15": 'cannot run in PE "smp" because it only offers 0 slots',
        "16": "Job is in hold state",
        # Continuation lines are one reason.
        "17": 'cannot run in queue "all.q" because it is not contained in its hard queue list'
        ' (-q); (-l h_rt=3600) cannot run in queue "short.q" because of cluster queue',
    }
    assert parse_qstat_j(recorded("qstat_j_held.txt")) == {"7": "Job is in hold state"}


def test_error_state_reason_is_the_error_not_the_scheduling_info() -> None:
    reasons = parse_qstat_j(recorded("qstat_j_error.txt"))
    assert reasons["8"].endswith("can't chdir to /nonexistent: No such file or directory")


def test_scheduling_info_turned_off_is_no_reason() -> None:
    text = recorded("qstat_j_pending_pe.txt").replace(
        'cannot run in PE "smp" because it only offers 0 slots',
        "(Collecting of scheduler job information is turned off)",
    )
    assert parse_qstat_j(text) == {"10": None}


@pytest.mark.parametrize(
    ("name", "job_id", "state", "reason"),
    [
        ("qacct_ok.txt", "12", JobState.FINISHED, None),
        ("qacct_exit3.txt", "11", JobState.FAILED, "exit_status 3"),
        (
            "qacct_h_rt.txt",
            "4",
            JobState.FAILED,
            "qmaster enforced h_rt, h_cpu, or h_vmem limit (failed 37, exit_status 137 (Killed))",
        ),
        (
            "qacct_qdel.txt",
            "13",
            JobState.FAILED,
            "assumedly after job (failed 100, exit_status 137 (Killed))",
        ),
    ],
)
def test_how_ended_jobs_ended_from_qacct(
    name: str, job_id: str, state: JobState, reason: str | None
) -> None:
    ended = parse_qacct(recorded(name))
    assert list(ended) == [job_id]
    info = ended[job_id]
    assert (info.state, info.reason, info.native_state) == (state, reason, "z")
    assert info.finished and info.hosts == ("vm",)
    assert info.started is not None and info.submitted is not None


def test_qacct_of_several_jobs_and_of_an_unknown_one() -> None:
    ended = parse_qacct(recorded("qacct_several.txt"))
    assert sorted(ended, key=int) == ["1", "4", "6", "9", "11", "12", "13"]
    assert ended["4"].reason is not None and "h_rt" in ended["4"].reason
    assert ended["12"].state is JobState.FINISHED
    assert recorded("qacct_unknown.rc").strip() == "1"
    assert parse_qacct(recorded("qacct_unknown.stdout")) == {}


def test_accounting_missing_record_or_file_is_not_yet_written() -> None:
    assert accounting_problem(1, recorded("qacct_unknown.stderr")) is None
    # A fresh Grid Engine: qmaster creates the file when the first job ends.
    assert recorded("qacct_no_accounting_file.rc").strip() == "1"
    assert accounting_problem(1, recorded("qacct_no_accounting_file.stderr")) is None
    assert parse_qacct(recorded("qacct_no_accounting_file.stdout")) == {}
    denied = "/var/lib/gridengine/default/common/accounting: Permission denied"
    assert accounting_problem(1, denied) == denied
    assert accounting_problem(0, "") is None


def test_qdel_of_ended_jobs_is_no_refusal() -> None:
    assert recorded("qdel_mixed.rc").strip() == "1"  # one of the three did not exist
    assert qdel_refusals(recorded("qdel_mixed.stdout") + recorded("qdel_mixed.stderr")) == []
    assert qdel_refusals(recorded("qdel_unknown.txt")) == []
    refused = 'denied: job "5" belongs to user "alice"'
    assert qdel_refusals(refused) == [refused]
    assert qdel_refusals("error: commlib error: got select error (Connection refused)") != []
    assert qdel_refusals("") == ["no answer"]


def test_an_arrays_qsub_answer_gives_the_arrays_own_id() -> None:
    assert recorded("qsub_array.txt").startswith("Your job-array 164.1-20:1")
    assert parse_qsub(recorded("qsub_array.txt")) == "164"


def test_qstat_lists_every_array_element_once_running_or_waiting() -> None:
    # Recorded with 16 slots: tasks 1-16 run on rows of their own, 17-20 wait on one row.
    jobs = parse_qstat_xml(recorded("qstat_xml_array.xml"))
    assert sorted(jobs, key=lambda j: int(j.split(".")[1])) == [f"164.{i}" for i in range(1, 21)]
    assert {jobs[f"164.{i}"].state for i in range(1, 17)} == {JobState.RUNNING}
    assert {jobs[f"164.{i}"].state for i in range(17, 21)} == {JobState.PENDING}
    element = jobs["164.17"].array
    assert element is not None and (element.parent, element.index) == ("164", 17)
    assert jobs["164.3"].hosts == ("vm",)


@pytest.mark.parametrize(
    ("tasks", "indices"),
    [("4", [4]), ("1-3:1", [1, 2, 3]), ("1-9:4", [1, 5, 9]), ("17,19,20", [17, 19, 20])],
)
def test_task_ranges_as_qstat_writes_them(tasks: str, indices: list[int]) -> None:
    assert task_indices(tasks) == indices


@pytest.mark.parametrize("tasks", ["", "a-b", "3-1:1", "1-5:0", "1-999999999:1"])
def test_unreadable_task_ranges_are_refused(tasks: str) -> None:
    with pytest.raises(ValueError, match="tasks"):
        task_indices(tasks)


def test_qstat_j_of_an_array_answers_for_its_own_id() -> None:
    reasons = parse_qstat_j(recorded("qstat_j_array.txt"))
    assert list(reasons) == ["164"]
    assert reasons["164"] is not None and "full" in reasons["164"]


def test_qacct_of_an_array_gives_one_record_per_element() -> None:
    ended = parse_qacct(recorded("qacct_array.txt"))
    assert sorted(ended) == ["163.1", "163.2", "163.3"]
    killed = ended["163.2"]
    assert killed.array is not None and killed.array.index == 2
    assert killed.state is JobState.FAILED and "137" in (killed.reason or "")
    # A single job's record says `taskid undefined` and keeps its plain id.
    (single,) = parse_qacct(recorded("qacct_ok.txt")).values()
    assert single.array is None and "." not in single.job_id


def test_qdel_of_array_elements_is_no_refusal() -> None:
    assert qdel_refusals(recorded("qdel_array_running.txt")) == []
    assert qdel_refusals(recorded("qdel_array_pending.txt")) == []
    # An element that already ended: qdel exits 1 and says so.
    assert recorded("qdel_array_unknown.rc").strip() == "1"
    answer = recorded("qdel_array_unknown.stdout") + recorded("qdel_array_unknown.stderr")
    assert 'task "99" does not exist' in answer
    assert qdel_refusals(answer) == []


def test_queue_walltime_limits_from_qconf() -> None:
    assert recorded("qconf_sql.txt").split() == ["all.q", "short.q"]
    (short,) = parse_queue_configs(recorded("qconf_sq_short.txt"))
    assert (short.name, short.max_walltime_min) == ("short.q", 5)
    unlimited = (
        recorded("qconf_sq_short.txt")
        .replace("short.q", "all.q")
        .replace("h_rt                  0:5:0", "h_rt                  INFINITY")
    )
    both = parse_queue_configs(recorded("qconf_sq_short.txt") + unlimited)
    assert [(q.name, q.max_walltime_min) for q in both] == [("short.q", 5), ("all.q", None)]
    # Per-host overrides: the longest applies (a job may land anywhere); any INFINITY wins.
    per_host = recorded("qconf_sq_short.txt").replace("0:5:0", "0:5:0,[@big=2:00:00],[vm=90]")
    assert parse_queue_configs(per_host)[0].max_walltime_min == 120
    anywhere = recorded("qconf_sq_short.txt").replace("0:5:0", "0:5:0,[@big=INFINITY]")
    assert parse_queue_configs(anywhere)[0].max_walltime_min is None


def test_every_state_word_maps_once_and_letters_agree() -> None:
    documented = (
        "qw hqw hRwq r t Rr Rt s ts S tS T tT Rs Rts RS RtS RT RtT Eqw Ehqw EhRqw "
        "dr dt dRr dRt ds dS dT dRs dRS dRT"
    ).split()
    assert set(documented) <= set(STATES)
    for word, state in STATES.items():
        assert state_of(word) is state
        # The letter rule, for words a newer Grid Engine might add, agrees with the table: an
        # unknown character makes the word unlisted without changing its letters' meaning.
        assert state_of(f"{word}?") is state, word
    assert {w for w in documented if in_error_state(w)} == {"Eqw", "Ehqw", "EhRqw"}
    assert all(STATES[w] is JobState.FAILED for w in ("Eqw", "Ehqw", "EhRqw"))
    assert all(not STATES[w].ended for w in documented if w.startswith("d"))
    assert STATES["z"] is JobState.FINISHED


def test_state_of_unlisted_words_reads_the_letters() -> None:
    assert state_of("Rq") is JobState.PENDING
    assert state_of("dRq") is JobState.PENDING
    assert state_of("hRs") is JobState.SUSPENDED
    assert state_of("EhRs") is JobState.FAILED


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:30:00", 1800),
        ("1:0:0", 3600),
        ("0:5:0", 300),
        ("5400", 5400),
        ("12:34", 754),
        ("100:00:00", 360000),
        ("INFINITY", None),
    ],
)
def test_walltime_values(text: str, seconds: int | None) -> None:
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize("text", ["", "1:2:3:4", "00:60:00", "00:30:75", "1h", "-5", "0:30:"])
def test_walltime_values_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_walltime(text)


def test_format_walltime() -> None:
    assert format_walltime(300) == "00:05:00"
    assert format_walltime(360000 + 61) == "100:01:01"


def test_memory_request_is_per_slot_in_mebibytes() -> None:
    assert memory_request("1GB", 1) == "954M"
    assert memory_request("8GiB", 4) == "2048M"


def check(**options: object) -> dict[str, str]:
    base: dict[str, object] = {"cores": 2, "processes": 1, "memory": "1GB", "walltime": "00:10:00"}
    errors = SGEBackend().check_options({**base, **options})
    return {e.field: e.message for e in errors}


def test_backend_option_checks() -> None:
    assert check() == {}
    assert "walltime" in check(walltime="00:75:00")
    assert "walltime" in check(walltime="0")
    assert "memory" in check(memory="lots")
    assert "processes" in check(processes=3)


def directive_check(directives: list[str], **options: object) -> dict[str, str]:
    errors = SGEBackend().directive_errors(directives, dict(options))
    return {e.field: e.message for e in errors}


def test_resource_directives_may_not_set_what_options_set() -> None:
    refused = directive_check(["-l gpu=1,h_rt=99:00:00"])
    assert "-l h_rt" in refused["job_extra_directives.0"]
    assert directive_check(["-l gpu=1", "-m e", "-l h_vmem=100G"]) == {}
    # With a memory resource requested, neither it nor another memory complex may be.
    for directive in ("-l h_vmem=100G", "-l mf=100G", "-l H_VMEM=1T"):
        assert "job_extra_directives.0" in directive_check([directive], memory_resource="h_vmem")


def job_script(**options: object) -> str:
    base: dict[str, object] = {"cores": 1, "processes": 1, "memory": "1GB", "walltime": "00:10:00"}
    job = SGEJob(
        scheduler="tcp://127.0.0.1:8786", name="w", **SGEBackend().job_options({**base, **options})
    )
    return job.job_script()


def test_job_script_directives() -> None:
    script = job_script(queue="all.q", project="geo", job_extra_directives=["-m e"])
    assert "#$ -q all.q" in script and "#$ -P geo" in script and "#$ -m e" in script
    assert "#$ -l h_rt=00:10:00" in script
    assert "-pe" not in script and "h_vmem" not in script  # one core, no memory resource
    several = job_script(cores=4, pe="mpi", memory="8GiB", memory_resource="h_vmem")
    # Grid Engine multiplies per-slot requests by the slots: 8 GiB over 4 slots.
    assert "#$ -pe mpi 4" in several and "#$ -l h_vmem=2048M" in several
    assert SGEBackend.directive_syntax is not None
    assert set(SGEBackend.directive_syntax.refused) >= {"-q", "-pe", "-P"}
