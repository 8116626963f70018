"""LSF emulator: jobs really run, pend for slots, hit walltimes, die with their process group."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import lsfsim as lsfsim_fixtures
from tests.support.lsfsim import (
    WAIT_S,
    LsfSim,
    pid_alive,
    wait_gone,
)

# The shared fixtures, under the names the tests ask for.
lsf = lsfsim_fixtures.lsf
make_lsf = lsfsim_fixtures.make_lsf


def wait_for_file(path: Path, what: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never appeared at {path}")
        time.sleep(0.05)
    return path.read_text()


def test_job_environment_output_header_and_percent_j(lsf: LsfSim) -> None:
    script = (
        "#!/bin/sh\n"
        "#BSUB -J envjob\n"
        "#BSUB -n 2\n"
        '#BSUB -R "span[hosts=1]"\n'
        "#BSUB -o out.%J\n"
        "echo JOBID=$LSB_JOBID NAME=$LSB_JOBNAME QUEUE=$LSB_QUEUE INDEX=$LSB_JOBINDEX\n"
        "echo HOSTS=$LSB_HOSTS\n"
        "echo MCPU=$LSB_MCPU_HOSTS NUMPROC=$LSB_DJOB_NUMPROC\n"
        "echo SUBCWD=$LS_SUBCWD PWD=$(pwd) OUT=$LSB_OUTPUTFILE\n"
        "echo to-stderr >&2\n"
    )
    job = lsf.submit(stdin=script)
    record = lsf.wait_stat(job, "DONE", "EXIT")
    assert record["STAT"] == "DONE", record
    assert record["EXIT_CODE"] == ""
    host = record["EXEC_HOST"].split(":")[0]
    assert record["EXEC_HOST"] == f"{host}:{host}"
    text = (lsf.workdir / f"out.{job}").read_text()
    assert text.startswith("Sender: LSF System <")
    assert f"Subject: Job {job}: <envjob> in cluster <lsfsim> Done" in text
    assert "Successfully completed." in text
    header, output = text.split("The output (if any) follows:\n\n", 1)
    assert "# LSBATCH: User input\n#!/bin/sh\n#BSUB -J envjob" in header
    assert output.splitlines() == [
        f"JOBID={job} NAME=envjob QUEUE=normal INDEX=0",
        f"HOSTS={host} {host}",
        f"MCPU={host} 2 NUMPROC=2",
        f"SUBCWD={lsf.workdir} PWD={lsf.workdir} OUT=out.{job}",
        "to-stderr",
    ]


def test_exit_status_and_separate_error_file(lsf: LsfSim) -> None:
    job = lsf.submit("-o", "o.txt", "-e", "e.txt", "echo out; echo err >&2; exit 3")
    record = lsf.wait_stat(job, "DONE", "EXIT")
    assert (record["STAT"], record["EXIT_CODE"], record["EXIT_REASON"]) == ("EXIT", "3", "")
    assert (lsf.workdir / "e.txt").read_text() == "err\n"
    text = (lsf.workdir / "o.txt").read_text()
    assert "Exited with exit code 3." in text
    assert text.split("The output (if any) follows:\n\n", 1)[1].startswith("out\n")


def test_jobs_beyond_the_slots_pend_until_a_kill_frees_one(make_lsf: Callable[..., LsfSim]) -> None:
    lsf = make_lsf(slots=1)
    first = lsf.submit("sleep", "300")
    second = lsf.submit("sleep", "300")
    lsf.wait_stat(first, "RUN")
    pending = lsf.record(second)
    assert (pending["STAT"], pending["EXEC_HOST"], pending["START_TIME"]) == ("PEND", "", "")
    assert lsf.run("bkill", str(first)).stdout == f"Job <{first}> is being terminated\n"
    running = lsf.wait_stat(second, "RUN")
    assert running["EXEC_HOST"] != ""
    killed = lsf.wait_stat(first, "EXIT")
    assert killed["EXIT_REASON"] == "TERM_OWNER: job killed by owner"
    assert killed["EXIT_CODE"] == "130"  # the shell died of bkill's first signal, SIGINT


def test_multi_slot_job_takes_that_many_slots(make_lsf: Callable[..., LsfSim]) -> None:
    lsf = make_lsf(slots=2)
    wide = lsf.submit("-n", "2", "sleep", "300")
    small = lsf.submit("sleep", "300")
    lsf.wait_stat(wide, "RUN")
    assert lsf.record(small)["STAT"] == "PEND"
    table = lsf.run("bjobs").stdout.splitlines()
    # The second host of the two-slot job is on a continuation line under EXEC_HOST.
    assert table[2].startswith(" " * 45) and table[2].strip() in ("node01", "node02")
    lsf.run("bkill", str(wide))
    lsf.wait_stat(small, "RUN")


def test_walltime_ends_the_job_with_term_runlimit(make_lsf: Callable[..., LsfSim]) -> None:
    lsf = make_lsf(minute_seconds=0.5)  # test knob: one -W minute lasts half a second
    job = lsf.submit("-W", "1", "-o", "wall.out", "sleep 300")
    record = lsf.wait_stat(job, "EXIT", "DONE")
    assert record["STAT"] == "EXIT"
    assert record["EXIT_REASON"] == "TERM_RUNLIMIT: job killed after reaching LSF run time limit"
    assert record["EXIT_CODE"] == "140"
    assert record["RUNTIMELIMIT"] == "1.0"
    text = (lsf.workdir / "wall.out").read_text()
    assert "TERM_RUNLIMIT: job killed after reaching LSF run time limit.\n" in text
    assert "Exited with exit code 140." in text


def test_bkill_kills_the_whole_process_group(lsf: LsfSim) -> None:
    job = lsf.submit("sleep 300 & echo $$ $! > pids; wait")
    text = wait_for_file(lsf.workdir / "pids", "the job's pid file")
    shell, child = (int(pid) for pid in text.split())
    assert pid_alive(shell) and pid_alive(child)
    assert lsf.run("bkill", str(job)).returncode == 0
    record = lsf.wait_stat(job, "EXIT")
    assert record["EXIT_REASON"] == "TERM_OWNER: job killed by owner"
    wait_gone(lambda: pid_alive(shell), f"job shell {shell}")
    wait_gone(lambda: pid_alive(child), f"background child {child}")


def test_a_job_that_ignores_sigint_is_still_killed(make_lsf: Callable[..., LsfSim]) -> None:
    lsf = make_lsf()
    job = lsf.submit("trap '' INT TERM; echo $$ > pid; while :; do sleep 0.1; done")
    shell = int(wait_for_file(lsf.workdir / "pid", "the job's pid file"))
    lsf.run("bkill", str(job))
    record = lsf.wait_stat(job, "EXIT")
    assert record["EXIT_CODE"] == "137"  # only SIGKILL got through
    assert not pid_alive(shell)


def test_bkill_0_ends_all_my_unfinished_jobs(make_lsf: Callable[..., LsfSim]) -> None:
    lsf = make_lsf(slots=1)
    jobs = [lsf.submit("sleep", "300") for _ in range(3)]
    lsf.wait_stat(jobs[0], "RUN")
    result = lsf.run("bkill", "0")
    assert result.returncode == 0
    assert sorted(result.stdout.splitlines()) == sorted(
        f"Job <{job}> is being terminated" for job in jobs
    )
    for job in jobs:
        assert lsf.wait_stat(job, "EXIT")["EXIT_REASON"] == "TERM_OWNER: job killed by owner"


def test_concurrent_bsubs_get_unique_ids_and_consistent_state(
    make_lsf: Callable[..., LsfSim],
) -> None:
    lsf = make_lsf(slots=0)
    processes = [
        subprocess.Popen(
            ["bsub", "-J", f"c{index}", "true"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=lsf.workdir,
            env=lsf.env,
        )
        for index in range(16)
    ]
    ids = []
    for process in processes:
        out, err = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, err
        ids.append(int(out.split("<", 1)[1].split(">", 1)[0]))
    assert sorted(ids) == list(range(1, 17))
    records = lsf.records()
    assert sorted(int(r["JOBID"]) for r in records) == list(range(1, 17))
    assert {r["JOB_NAME"] for r in records} == {f"c{index}" for index in range(16)}


def test_interactive_job_banners_and_exit_status(lsf: LsfSim) -> None:
    # Like LSF, bsub joins its command words with spaces and runs the line with a shell.
    command = "read x; echo got $x; exit 7"
    result = lsf.run("bsub", "-Is", "-q", "interactive", command, stdin="hello\n")
    assert result.returncode == 7
    assert result.stdout.splitlines() == [
        "Job <1> is submitted to queue <interactive>.",
        "got hello",
    ]
    assert result.stderr.startswith("<<Waiting for dispatch ...>>\n<<Starting on node0")
    assert result.stderr.endswith(">>\n")  # "\r\n" on the wire, as nios writes it
    record = lsf.record(1)
    assert (record["STAT"], record["EXIT_CODE"]) == ("EXIT", "7")


def test_interrupting_an_interactive_bsub_ends_its_job(lsf: LsfSim) -> None:
    process = subprocess.Popen(
        ["bsub", "-Is", "-q", "interactive", "sleep 300"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=lsf.workdir,
        env=lsf.env,
    )
    try:
        lsf.wait_for(1, lambda r: r.get("STAT") == "RUN", "RUN")
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert out.startswith("Job <1> is submitted to queue <interactive>.")
    record = lsf.wait_stat(1, "EXIT")
    assert record["EXIT_REASON"] == "TERM_OWNER: job killed by owner"


def test_bsub_k_waits_and_returns_the_job_status(lsf: LsfSim) -> None:
    result = lsf.run("bsub", "-K", "exit 4")
    assert result.returncode == 4
    assert result.stdout == "Job <1> is submitted to default queue <normal>.\n"
    assert result.stderr.startswith("<<Waiting for dispatch ...>>\n<<Starting on node0")
    assert result.stderr.endswith("<<Job is finished>>\n")


def test_finished_jobs_are_forgotten_after_the_clean_period(lsf: LsfSim) -> None:
    job = lsf.submit("true")
    lsf.wait_stat(job, "DONE")  # listed once it ended, under the default period
    config_file = lsf.home / "config.json"
    config = json.loads(config_file.read_text())
    config["clean_period_s"] = 1
    config_file.write_text(json.dumps(config))
    deadline = time.monotonic() + WAIT_S
    while (result := lsf.run("bjobs", str(job))).stderr != f"Job <{job}> is not found\n":
        assert time.monotonic() < deadline, f"job {job} still listed: {result.stdout}"
        time.sleep(0.1)
    assert result.returncode == 0


def test_deleting_the_emulator_home_ends_its_running_jobs(lsf: LsfSim) -> None:
    import shutil

    lsf.submit("echo $$ > pid; sleep 300")
    shell = int(wait_for_file(lsf.workdir / "pid", "the job's pid file"))
    assert pid_alive(shell)
    shutil.rmtree(lsf.home)  # e.g. a test's temporary LSFSIM_HOME going away
    wait_gone(lambda: pid_alive(shell), f"job shell {shell} of the deleted cluster")


@pytest.mark.parametrize("dialect", ["lsf10", "lsf9", "openlava"])
def test_job_array_elements_run_and_die_alone(
    make_lsf: Callable[..., LsfSim], dialect: str
) -> None:
    """`bsub -J "name[1-3]"`: one job id, three elements each with its LSB_JOBINDEX and %I
    file; bjobs shows them under one JOBID named name[i]; bkill "id[2]" ends that one alone."""
    lsf = make_lsf(dialect=dialect)
    script = (
        '#!/bin/sh\n#BSUB -J "arr[1-3]"\n#BSUB -o out.%J_%I\necho index=$LSB_JOBINDEX\nsleep 60\n'
    )
    job_id = lsf.submit(stdin=script)
    deadline = time.monotonic() + WAIT_S
    while sorted(r["STAT"] for r in lsf.records(job_id)) != ["RUN"] * 3:
        assert time.monotonic() < deadline, f"3 elements never ran: {lsf.records(job_id)}"
        time.sleep(0.05)
    records = lsf.records(job_id)
    assert {r["JOBID"] for r in records} == {str(job_id)}
    assert sorted(r["JOB_NAME"] for r in records) == ["arr[1]", "arr[2]", "arr[3]"]
    # The product's form for the dialect takes one element by its own id.
    wide = lsf.run("bjobs", "-w", f"{job_id}[2]")
    assert wide.returncode == 0 and "arr[2]" in wide.stdout and "arr[1]" not in wide.stdout
    long = lsf.run("bjobs", "-l", f"{job_id}[3]").stdout
    assert f"Job <{job_id}[3]>, Job Name <arr[3]>" in long
    assert "[3] started" in long

    killed = lsf.run("bkill", f"{job_id}[2]")
    assert killed.stdout.strip() == f"Job <{job_id}[2]> is being terminated"
    deadline = time.monotonic() + WAIT_S
    while True:
        stats = {r["JOB_NAME"]: r["STAT"] for r in lsf.records(job_id)}
        if stats["arr[2]"] == "EXIT":
            break
        assert time.monotonic() < deadline, f"element 2 never ended: {stats}"
        time.sleep(0.05)
    assert stats == {"arr[1]": "RUN", "arr[2]": "EXIT", "arr[3]": "RUN"}
    # `bkill ID` ends every element; each writes its own %I file (LSF writes it at the end).
    assert lsf.run("bkill", str(job_id)).returncode == 255  # element 2 had already finished
    for index in (1, 3):
        output = wait_for_file(lsf.workdir / f"out.{job_id}_{index}", f"element {index}'s file")
        assert f"index={index}" in output
