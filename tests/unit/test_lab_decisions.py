"""What `lab` and `status` decide from our job states (never from a scheduler's own words), and
the lines they print."""

from __future__ import annotations

import pytest

from pangeo_hpc_ext.cli.lab.follow import (
    UNLISTED_GRACE_SECONDS,
    Phase,
    job_host,
    phase_of,
    walltime_left,
)
from pangeo_hpc_ext.cli.lab.report import clock, ready_lines, ssh_line
from pangeo_hpc_ext.cli.lab.session import Connection
from pangeo_hpc_ext.cli.lab.status import ServerState, server_state
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.schedulers.lsf_output import NATIVE_STATES, exec_hosts, job_state

PHASE_OF_STATE = {
    JobState.PENDING: Phase.QUEUED,
    JobState.SUSPENDED: Phase.SUSPENDED,
    JobState.RUNNING: Phase.STARTING,
    JobState.FINISHED: Phase.ENDED,
    JobState.FAILED: Phase.ENDED,
}


def info(native: str, **fields: object) -> JobInfo:
    return JobInfo("7", job_state(native), native, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("native", sorted(NATIVE_STATES))
def test_every_lsf_state_gives_the_phase_of_its_job_state(native: str) -> None:
    assert phase_of(info(native), 0.0) is PHASE_OF_STATE[NATIVE_STATES[native]]


def test_lab_and_server_agree_on_prov_zombi_unkwn() -> None:
    # These were 'running' to the server and 'finished' to lab before one client decided both.
    assert phase_of(info("PROV"), 0.0) is Phase.QUEUED
    assert phase_of(info("ZOMBI"), 0.0) is Phase.ENDED
    assert phase_of(info("UNKWN"), 0.0) is Phase.STARTING


def test_an_unlisted_job_is_waited_for_only_briefly() -> None:
    assert phase_of(None, 0.0) is Phase.UNLISTED
    assert phase_of(None, UNLISTED_GRACE_SECONDS + 1) is Phase.ENDED


CONNECTION = Connection(node="n1", ip="127.0.0.1", port=8890, pid=1, job_started=1000.0)


@pytest.mark.parametrize(
    ("job", "connected", "answering", "server"),
    [
        (None, True, False, ServerState.ENDED),
        (info("DONE"), True, False, ServerState.ENDED),
        (info("ZOMBI"), True, False, ServerState.ENDED),
        (info("PEND"), False, False, ServerState.PENDING),
        (info("PROV"), False, False, ServerState.PENDING),
        (info("USUSP"), True, False, ServerState.SUSPENDED),
        (info("RUN"), False, False, ServerState.STARTING),
        (info("RUN"), True, True, ServerState.RUNNING),
        (info("RUN"), True, False, ServerState.FROZEN),
        (info("UNKWN"), True, True, ServerState.RUNNING),
    ],
)
def test_server_state(
    job: JobInfo | None, connected: bool, answering: bool, server: ServerState
) -> None:
    assert server_state(job, connected, answering) is server


def test_only_pending_starting_and_running_are_healthy() -> None:
    healthy = {state for state in ServerState if state.healthy}
    assert healthy == {ServerState.PENDING, ServerState.STARTING, ServerState.RUNNING}


def test_walltime_left_prefers_the_scheduler_then_counts_from_the_job_start() -> None:
    assert walltime_left(info("RUN", walltime_left_s=600), 30, 1000.0, 1100.0) == 600
    assert walltime_left(info("RUN"), 30, 1000.0, 1100.0) == 30 * 60 - 100
    assert walltime_left(info("RUN"), 30, None, 1100.0) is None
    assert walltime_left(info("PEND", walltime_left_s=600), 30, 1000.0, 1100.0) is None


@pytest.mark.parametrize(
    ("exec_host", "host"),
    [("node01", "node01"), ("node01:node01", "node01"), ("4*node02 node03", "node02")],
)
def test_the_tunnel_reaches_the_first_host_the_scheduler_reports(exec_host: str, host: str) -> None:
    assert job_host(info("RUN", hosts=exec_hosts(exec_host)), CONNECTION) == host


def test_without_a_reported_host_the_node_name_is_used() -> None:
    assert job_host(info("RUN"), CONNECTION) == "n1"
    assert job_host(info("RUN"), None) == ""


def ready(port: int, walltime_left_s: int | None) -> list[str]:
    return ready_lines(
        job_id="7",
        host="node01",
        port=port,
        requested_port=8890,
        token="abc",
        user="ada",
        login_host="login.example.org",
        walltime_left_s=walltime_left_s,
    )


def test_ready_lines_give_the_exact_tunnel_and_url() -> None:
    lines = ready(8891, 3723)
    assert lines[0] == "Port 8890 was taken on node01; JupyterLab uses 8891."
    assert lines[1] == "JupyterLab is running in job 7 on node01, port 8891, walltime left 1:02:03."
    assert "   ssh -N -L localhost:8891:node01:8891 ada@login.example.org" in lines
    assert "   http://localhost:8891/lab?token=abc" in lines
    assert ready(8890, None)[0] == "JupyterLab is running in job 7 on node01, port 8890."
    assert ssh_line("u", "l", "h", 1) == "ssh -N -L localhost:1:h:1 u@l"


def test_clock_is_h_mm_ss() -> None:
    assert clock(0) == "0:00:00"
    assert clock(3723) == "1:02:03"
    assert clock(-5) == "0:00:00"
