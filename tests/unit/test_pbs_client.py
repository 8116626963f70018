"""PBS client parsers on outputs recorded from OpenPBS 23.06.06 on the CI machine kind
(.ci/openpbs.sh), the state table, walltimes and sizes, and the backend's option checks."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from pangeo_hpc_ext.backends.pbs import PBSBackend
from pangeo_hpc_ext.schedulers.arrays import PBS_ARRAYS, ArrayElement
from pangeo_hpc_ext.schedulers.base import JobState
from pangeo_hpc_ext.schedulers.pbs import (
    QDEL_ALREADY_GONE,
    STATES,
    UNKNOWN_JOB,
    default_queue,
    exec_hosts,
    format_walltime,
    load_json,
    parse_job,
    parse_nodes,
    parse_qstat_json,
    parse_qsub,
    parse_queues,
    parse_walltime,
    qdel_batches,
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


def test_directives_that_set_our_options_are_refused_in_pbs_spellings() -> None:
    backend = PBSBackend()
    for refused in ("-l walltime=01:00:00", "-lselect=2:ncpus=4", "-q short", "-N other",
                    "-A acct", "-o /tmp", "-l mem=4gb", "-Vq short"):  # fmt: skip
        errors = backend.directive_errors([refused], {})
        assert errors and errors[0].field.startswith("job_extra_directives"), refused
    assert not backend.directive_errors(["-m n", "-l place=scatter", "-k oed"], {})


def test_qstat_json_running_held_failed_finished_and_queued_jobs() -> None:
    # Five jobs of .ci/openpbs.sh's node "vm", read 2 s after the last was submitted.
    jobs = parse_qstat_json(recorded("qstat_json_mixed.json"))
    assert {j: (i.native_state, i.state) for j, i in jobs.items()} == {
        "0.vm": ("R", JobState.RUNNING),
        "1.vm": ("H", JobState.PENDING),
        "2.vm": ("F", JobState.FAILED),
        "3.vm": ("F", JobState.FINISHED),
        "4.vm": ("Q", JobState.PENDING),
    }
    running = jobs["0.vm"]
    assert running.hosts == ("vm",) and running.name == "running"
    assert running.walltime_left_s == 600  # -l walltime=00:10:00, 00:00:00 used
    assert running.reason is None  # "Job run at ... on (vm:ncpus=1)" is no reason
    assert running.started is not None and running.started.startswith("2026-12-06T20:05:19")
    assert datetime.fromisoformat(running.started).tzinfo is not None
    assert jobs["1.vm"].reason == "held (Hold_Types u)"  # qsub -h
    assert jobs["2.vm"].reason == (
        "Job run at Sun Dec 06 at 20:05 on (vm:ncpus=1) and failed (Exit_status 3)"
    )
    assert jobs["3.vm"].reason is None and jobs["3.vm"].walltime_left_s is None
    queued = jobs["4.vm"]
    assert (
        queued.reason == "Can Never Run: Insufficient amount of resource: ncpus (R: 64 A: 16 T: 16)"
    )
    assert queued.hosts == () and queued.started is None and queued.submitted is not None


def test_qstat_json_suspended_and_deleted_jobs() -> None:
    (suspended,) = parse_qstat_json(recorded("qstat_json_suspended.json")).values()
    assert (suspended.native_state, suspended.state) == ("S", JobState.SUSPENDED)
    assert suspended.reason is None and suspended.walltime_left_s is not None
    deleted = parse_qstat_json(recorded("qstat_json_deleted.json"))
    # qdel of a running job and of a queued one: both F, neither a failure.
    assert {j: i.state for j, i in deleted.items()} == {
        "0.vm": JobState.FINISHED,
        "4.vm": JobState.FINISHED,
    }
    assert deleted["4.vm"].reason is not None and deleted["4.vm"].reason.endswith("and terminated")


def test_unknown_job_ids_and_qdel_answers() -> None:
    # One known and one unknown id: exit 153, the known one answered, the unknown named.
    assert recorded("qstat_json_unknown.rc").strip() == "153"
    assert UNKNOWN_JOB.search(recorded("qstat_json_unknown.stderr"))
    assert set(parse_qstat_json(recorded("qstat_json_unknown.stdout"))) == {"3.vm"}
    assert parse_qstat_json(recorded("qstat_json_only_unknown.stdout")) == {}
    # qdel of a finished and of an unknown job: exit 35, both "already gone".
    for name in ("qdel_finished", "qdel_unknown"):
        assert recorded(f"{name}.rc").strip() == "35"
        lines = recorded(f"{name}.stderr").splitlines()
        assert lines and all(QDEL_ALREADY_GONE.search(line) for line in lines)


def test_queues_default_queue_nodes_version_and_refusals() -> None:
    queues = {q.name: q for q in parse_queues(recorded("qstat_Q_json.json"))}
    assert set(queues) == {"workq", "short"}
    assert queues["short"].max_walltime_min == 5 and queues["short"].extra["max_walltime_s"] == 300
    assert queues["workq"].max_walltime_min is None and queues["workq"].extra["enabled"] is True
    assert default_queue(recorded("qstat_B_json.json")) == "workq"
    (node,) = parse_nodes(recorded("pbsnodes_json.json"))
    assert (node.name, node.state, node.ncpus) == ("vm", "free", 16)
    assert node.mem_bytes == 24683784 * 1024
    assert version(recorded("qstat_version.txt")) == "23.06.06"
    assert parse_qsub(recorded("qsub_submitted.txt")) == "0.vm"
    assert recorded("qsub_unknown_queue.rc").strip() == "170"
    assert recorded("qsub_unknown_queue.stderr").strip() == "qsub: Unknown queue"
    assert "violates queue and/or server resource limits" in recorded("qsub_over_limit.stderr")


def test_a_workers_pbs_jobid_is_the_id_dask_jobqueue_gives_its_job() -> None:
    # A PBSCluster in a kernel knows "12" (dask-jobqueue's job_id_regexp on "12.vm"); its worker
    # reads PBS_JOBID=12.vm: the kernel's registration names the job once, as "12".
    from pangeo_hpc_ext.kernel.scheduler_preload import JOBQUEUE_IDS

    assert JOBQUEUE_IDS["pbs"]("12.vm") == "12"
    assert JOBQUEUE_IDS["slurm"]("77") == "77"
    assert JOBQUEUE_IDS["lsf"]("4711") == "4711"


def test_ledgers_and_records_accept_pbs_job_ids_and_nothing_an_option_parser_reads() -> None:
    import re

    from pangeo_hpc_ext.core.ledger import JOB_ID_PATTERN

    for good in ("12.vm", "13[2].pbs01.example.org", "4711", "7_3"):
        assert re.fullmatch(JOB_ID_PATTERN, good), good
    for bad in ("0", "12.-rf", "-W force", "12 13", "12.vm;rm"):
        assert not re.fullmatch(JOB_ID_PATTERN, bad), bad


def test_an_arrays_elements_from_qsub_to_history() -> None:
    # `qsub -J 1-4` (element 1 exits after 2 s; 6 cpus each on the 16 of "vm": two run at once),
    # then `qstat -f -x -F json` of the four elements by the ids the backend derives; no -t.
    parent = parse_qsub(recorded("qsub_array.txt"))
    assert parent == "1091[].vm"
    ids = [PBS_ARRAYS.element_id(parent, index) for index in (1, 2, 3, 4)]
    assert ids == ["1091[1].vm", "1091[2].vm", "1091[3].vm", "1091[4].vm"]

    def states(name: str) -> list[tuple[str, JobState]]:
        jobs = parse_qstat_json(recorded(name))
        assert list(jobs) == ids
        assert all(jobs[j].array == ArrayElement(parent, i) for i, j in enumerate(ids, 1))
        assert all(info.name == "dask-rec" for info in jobs.values())  # the array's -N
        return [(info.native_state, info.state) for info in jobs.values()]

    assert states("qstat_json_elements.json") == [
        ("X", JobState.FINISHED),
        ("R", JobState.RUNNING),
        ("R", JobState.RUNNING),
        ("Q", JobState.PENDING),
    ]
    waiting = parse_qstat_json(recorded("qstat_json_elements.json"))["1091[4].vm"]
    # It shows the array's stime and comment ("Job Array Began at ..."): neither is its own.
    assert waiting.started is None and waiting.reason is None and waiting.hosts == ()
    assert waiting.submitted is not None

    # One qdel of a running and a waiting element: exit 0, the third runs on.
    assert recorded("qdel_elements.rc").strip() == "0"
    assert not recorded("qdel_elements.stderr").strip()
    assert states("qstat_json_elements_deleted.json") == [
        ("X", JobState.FINISHED),
        ("X", JobState.FINISHED),
        ("R", JobState.RUNNING),
        ("X", JobState.FINISHED),
    ]
    # After the last element was deleted the array ended; history keeps every element, F.
    assert states("qstat_json_elements_finished.json") == [("F", JobState.FINISHED)] * 4
    never_ran = parse_qstat_json(recorded("qstat_json_elements_finished.json"))["1091[4].vm"]
    assert never_ran.started is None


def test_dash_t_of_an_array_lists_the_array_then_its_elements() -> None:
    # What `qstat -t 1091[].vm` adds: the array's own record (B while elements run, F after),
    # which is no element; the backend never asks for it.
    for name, array_state in (
        ("qstat_json_array_t.json", "B"),
        ("qstat_json_array_t_finished.json", "F"),
    ):
        jobs = parse_qstat_json(recorded(name))
        assert list(jobs) == ["1091[].vm", *(f"1091[{i}].vm" for i in (1, 2, 3, 4))]
        assert jobs["1091[].vm"].native_state == array_state
        assert jobs["1091[].vm"].array is None


def test_qdel_of_waiting_elements_goes_one_array_range_per_call() -> None:
    # Recorded: one qdel of elements 2, 4, 6 and 8 of a held array (none ran): exit 0, silent,
    # and only 2 and 4 ended; 6 and 8 wait on.
    assert recorded("qdel_held_elements.rc").strip() == "0"
    assert not recorded("qdel_held_elements.stderr").strip()
    parent = parse_qsub(recorded("qsub_array_held.txt"))
    assert parent == "1149[].vm"
    jobs = parse_qstat_json(recorded("qstat_json_held_elements_after_one_qdel.json"))
    ended = [j for j, info in jobs.items() if info.array and info.state.ended]
    assert ended == ["1149[2].vm", "1149[4].vm"]
    assert jobs["1149[6].vm"].state is JobState.PENDING
    # So jobs of their own go together, and each run of consecutive elements of one array as
    # one range id in a call of its own.
    ids = ["5.vm", "12[4].vm", "12[3].vm", "12[9].vm", "6.vm", "12[5].vm", "13[1]", "5.vm"]
    assert qdel_batches(ids) == [["5.vm", "6.vm"], ["12[3-5].vm"], ["12[9].vm"], ["13[1]"]]
    assert qdel_batches(["1149[2].vm"]) == [["1149[2].vm"]]
    assert qdel_batches([]) == []


def test_qdel_of_an_element_that_ended_is_no_error() -> None:
    assert recorded("qdel_ended_element.rc").strip() == "55"
    (line,) = recorded("qdel_ended_element.stderr").splitlines()
    assert line == "qdel: Request invalid for finished array subjob 1149[2].vm"
    assert QDEL_ALREADY_GONE.search(line)


def test_pbs_profiles_submit_workers_as_one_array_by_default() -> None:
    backend = PBSBackend()
    assert backend.client.arrays is PBS_ARRAYS
    assert backend.default_options()["job_array"] is True


def test_an_array_of_jobs_that_may_not_be_rerun_is_refused_before_qsub() -> None:
    # qsub -r n -J 1-2: "qsub:  cannot submit non-rerunable Array Job" (OpenPBS 23.06.06).
    backend = PBSBackend()
    base = {**backend.default_options(), "queue": None}
    for directive in ("-r n", "-rn", "-h -r n"):
        errors = backend.check_options({**base, "job_extra_directives": [directive]})
        assert [e.field for e in errors] == ["job_array"], directive
    for fine in (["-r y"], ["-m n"], []):
        assert not backend.check_options({**base, "job_extra_directives": fine})
    off = {**base, "job_array": False, "job_extra_directives": ["-r n"]}
    assert not backend.check_options(off)
