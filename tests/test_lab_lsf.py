"""`pangeo-hpc lab/status/stop` against the LSF emulator, with real JupyterLab processes.

The emulator is reached only through its shims on PATH, exactly as the CLI reaches a real LSF.
Every server binds 127.0.0.1; nothing is ever sent anywhere but loopback.
"""

from __future__ import annotations

import getpass
import json
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from pangeo_hpc_ext.lsfsim import environment
from pangeo_hpc_ext.paths import free_port
from tests.support.lab_cli import (
    LOGIN_HOST,
    SSH_LINE,
    URL,
    LabCLI,
    api_status,
    lab_env,
    submitted_job_id,
    wait_gone,
)


class EmulatedLSF(LabCLI):
    def job(self, job_id: str) -> dict[str, str]:
        out = self.command("bjobs", "-a", "-o", "jobid stat exec_host", "-json", job_id).stdout
        return json.loads(out)["RECORDS"][0]

    def unfinished_jobs(self) -> str:
        result = self.command("bjobs")
        return result.stdout + result.stderr

    def wait_for_state(self, job_id: str, states: set[str], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        record = self.job(job_id)
        while record["STAT"] not in states:
            assert time.monotonic() < deadline, f"job {job_id} never reached {states}: {record}"
            time.sleep(0.2)
            record = self.job(job_id)
        return record


def make_lsf(
    tmp_path: Path, slots: int | None = None, dialect: str | None = None, **extra: str
) -> EmulatedLSF:
    env = lab_env(tmp_path / "state", **extra)
    env.update(environment(tmp_path / "lsfsim", tmp_path / "shims", slots=slots, dialect=dialect))
    return EmulatedLSF(env=env, state_dir=tmp_path / "state")


def cleanup(lsf: EmulatedLSF) -> None:
    lsf.end_started()
    lsf.command("bkill", "0")
    deadline = time.monotonic() + 60
    try:
        while "No unfinished job found" not in lsf.unfinished_jobs():
            assert time.monotonic() < deadline, f"jobs left after cleanup:\n{lsf.unfinished_jobs()}"
            time.sleep(0.2)
    finally:
        lsf.kill_lab_servers()


@pytest.fixture
def lsf(tmp_path: Path) -> Iterator[EmulatedLSF]:
    emulated = make_lsf(tmp_path)
    yield emulated
    cleanup(emulated)


@pytest.fixture
def one_slot(tmp_path: Path) -> Iterator[EmulatedLSF]:
    emulated = make_lsf(tmp_path, slots=1)
    yield emulated
    cleanup(emulated)


@pytest.fixture
def knobbed_lsf(tmp_path: Path) -> Iterator[Callable[..., EmulatedLSF]]:
    """Call once with LSFSIM_* knobs; its jobs are cleaned up after the test."""
    made: list[EmulatedLSF] = []

    def make(**knobs: str) -> EmulatedLSF:
        assert not made, "one emulator per tmp_path"
        made.append(make_lsf(tmp_path, **knobs))
        return made[0]

    yield make
    for emulated in made:
        cleanup(emulated)


def test_lab_runs_jupyterlab_reachable_with_printed_token_then_stop_cleans_up(
    lsf: EmulatedLSF,
) -> None:
    # The asked-for port is taken on the node, so the job must pick another and say so.
    taken = socket.socket()
    taken.bind(("127.0.0.1", free_port()))
    taken.listen()
    asked = taken.getsockname()[1]
    try:
        result = lsf.cli("lab", "--ip", "127.0.0.1", "--port", str(asked), "--walltime", "00:30")
    finally:
        taken.close()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    job_id = submitted_job_id(out)
    assert re.search(rf"RUN +job {job_id} started on ", out)

    ssh = SSH_LINE.search(out)
    url = URL.search(out)
    assert ssh and url, out
    local_port, node, remote_port, user, login = ssh.groups()
    port = int(remote_port)
    token = url.group(2)
    assert local_port == remote_port == url.group(1)
    assert port != asked and f"Port {asked} was taken" in out
    assert (user, login) == (getpass.getuser(), LOGIN_HOST)
    assert node == lsf.job(job_id)["EXEC_HOST"].split(":")[0]  # the emulated node, from bjobs
    assert api_status(port, token) == 200
    assert api_status(port, None) == 403

    status = json.loads(lsf.cli("status", "--json").stdout)
    assert status["job_id"] == job_id
    assert status["state"] == "RUN"
    assert status["scheduler"] == "lsf"
    assert status["server"] == "running"
    assert (status["host"], status["port"]) == (node, port)
    assert status["url"] == url.group(0)
    assert 0 < status["walltime_left_s"] <= 30 * 60

    # Secure defaults: token not on any command line, no allow_origin='*', bound to the asked ip.
    session = Path(status["log"]).parent
    connection = json.loads((session / "connection.json").read_text())
    server = psutil.Process(connection["pid"])
    assert not any(token in arg for arg in server.cmdline())
    assert not any("allow_origin=*" in arg for arg in server.cmdline())
    assert (session / "token").stat().st_mode & 0o077 == 0
    listening = {c.laddr for c in server.net_connections() if c.status == psutil.CONN_LISTEN}
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)

    # A second `lab` reuses the running job instead of submitting another.
    again = lsf.cli("lab", "--ip", "127.0.0.1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"already running: job {job_id}" in again.stdout
    assert URL.search(again.stdout).group(2) == token
    assert "is submitted" not in again.stdout

    # A frozen server (job RUN, JupyterLab stopped) is reported as such, with the fix.
    server.suspend()
    try:
        frozen = lsf.cli("status")
        assert frozen.returncode == 1
        assert "frozen" in frozen.stdout and "pangeo-hpc stop" in frozen.stdout
        refused = lsf.cli("lab", "--ip", "127.0.0.1")
        assert refused.returncode == 1 and "frozen" in refused.stdout
    finally:
        server.resume()

    stopped = lsf.cli("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"Killed job {job_id}" in stopped.stdout
    assert "No unfinished job found" in lsf.unfinished_jobs()
    wait_gone(connection["pid"])
    assert not (lsf.state_dir / "record.json").exists()
    assert not session.exists()
    after = json.loads(lsf.cli("status", "--json").stdout)
    assert after["server"] == "none" and set(after) == set(status)


@pytest.fixture
def volclava_like(tmp_path: Path) -> Iterator[EmulatedLSF]:
    emulated = make_lsf(tmp_path, dialect="openlava")
    yield emulated
    cleanup(emulated)


def test_lab_status_stop_on_openlava_and_stop_kills_even_when_bjobs_fails(
    volclava_like: EmulatedLSF,
) -> None:
    lsf = volclava_like
    result = lsf.cli("lab", "--ip", "127.0.0.1", "--walltime", "00:30")
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = submitted_job_id(result.stdout)
    status = json.loads(lsf.cli("status", "--json").stdout)
    assert (status["job_id"], status["state"], status["server"]) == (job_id, "RUN", "running")
    assert status["host"] == lsf.job(job_id)["EXEC_HOST"]
    assert 0 < status["walltime_left_s"] <= 30 * 60

    # bjobs fails; stop still reaches bkill, and keeps the record until it can confirm.
    failing = emulator_home(lsf) / "bjobs_fail"
    failing.write_text("")
    try:
        stopped = lsf.cli("stop")
    finally:
        failing.unlink()
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "killing it all the same" in stopped.stdout
    assert "cannot confirm it ended" in stopped.stdout + stopped.stderr
    lsf.wait_for_state(job_id, {"EXIT"})
    again = lsf.cli("stop")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "had already ended (EXIT)" in again.stdout
    assert not (lsf.state_dir / "record.json").exists()


def emulator_home(lsf: EmulatedLSF) -> Path:
    return Path(lsf.env["LSFSIM_HOME"])


def test_interactive_lab_is_held_by_bsub_is_and_ends_with_stop(lsf: EmulatedLSF) -> None:
    lab = lsf.cli_background(
        "lab", "--interactive", "--ip", "127.0.0.1", "--port", str(free_port())
    )
    ssh = lab.expect(SSH_LINE.pattern)
    token = lab.expect(URL.pattern).group(2)
    lab.expect("This terminal holds the interactive job")
    port = int(ssh.group(3))
    assert api_status(port, token) == 200
    status = json.loads(lsf.cli("status", "--json").stdout)
    assert status["interactive"] is True and status["port"] == port
    assert status["host"] == ssh.group(2)

    stopped = lsf.cli("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert lab.finish() == 0, lab.text
    assert f"Job {status['job_id']} ended" in lab.text
    assert "No unfinished job found" in lsf.unfinished_jobs()


def block_the_only_slot(lsf: EmulatedLSF) -> str:
    result = lsf.command("bsub", "-J", "blocker", "sleep", "600")
    job_id = submitted_job_id(result.stdout)
    lsf.wait_for_state(job_id, {"RUN"})
    return job_id


def test_lab_waits_while_pending_and_starts_when_a_slot_frees(one_slot: EmulatedLSF) -> None:
    blocker = block_the_only_slot(one_slot)
    lab = one_slot.cli_background("lab", "--ip", "127.0.0.1", "--port", str(free_port()))
    job_id = lab.expect(r"Job <(\d+)> is submitted").group(1)
    lab.expect(rf"PEND +job {job_id} is waiting in queue normal: \w")  # with LSF's reason
    assert one_slot.job(job_id)["STAT"] == "PEND"

    one_slot.command("bkill", blocker)
    lab.expect(rf"RUN +job {job_id} started on \S+ after \d+:\d\d:\d\d in the queue")
    ssh = lab.expect(SSH_LINE.pattern)
    token = lab.expect(URL.pattern).group(2)
    assert lab.finish() == 0, lab.text
    assert api_status(int(ssh.group(3)), token) == 200
    assert one_slot.cli("stop").returncode == 0


def test_ctrl_c_while_pending_kills_the_pending_job(one_slot: EmulatedLSF) -> None:
    block_the_only_slot(one_slot)
    lab = one_slot.cli_background("lab", "--ip", "127.0.0.1")
    job_id = lab.expect(r"Job <(\d+)> is submitted").group(1)
    lab.expect("PEND")

    lab.proc.send_signal(signal.SIGINT)
    assert lab.finish() == 130, lab.text
    assert f"killed job {job_id} (it was PEND)" in lab.text
    assert one_slot.job(job_id)["STAT"] == "EXIT"
    assert not (one_slot.state_dir / "record.json").exists()
    assert not list(one_slot.state_dir.glob("session-*"))


def test_job_exit_before_jupyter_started_shows_the_log_tail(lsf: EmulatedLSF) -> None:
    # 192.0.2.1 (TEST-NET-1) is not an address of this host: binding it fails at once, locally.
    result = lsf.cli("lab", "--ip", "192.0.2.1", "--port", "8920")
    assert result.returncode == 1
    job_id = submitted_job_id(result.stdout)
    assert f"job {job_id} ended EXIT" in result.stderr
    assert "cannot bind 192.0.2.1:8920" in result.stderr  # from the job's own log
    assert lsf.job(job_id)["STAT"] == "EXIT"
    assert not (lsf.state_dir / "record.json").exists()
    assert (lsf.state_dir / f"failed-job-{job_id}.log").exists()


def test_walltime_reached_before_jupyter_answers_says_walltime_too_short(
    knobbed_lsf: Callable[..., EmulatedLSF],
) -> None:
    # One emulated minute lasts 0.1 s, so the 5-minute walltime ends before JupyterLab answers.
    lsf = knobbed_lsf(LSFSIM_MINUTE_SECONDS="0.1")
    result = lsf.cli("lab", "--ip", "127.0.0.1", "--walltime", "00:05")
    assert result.returncode == 1
    assert "TERM_RUNLIMIT" in result.stderr
    assert "walltime is too short" in result.stderr
    assert not (lsf.state_dir / "record.json").exists()


def test_lab_refuses_before_submitting(lsf: EmulatedLSF) -> None:
    short = lsf.cli("lab", "--walltime", "00:02")
    assert short.returncode == 2 and "too short" in short.stderr
    # The form refuses 1:75 (minutes past 59 with hours); so does lab, before submitting.
    bad_minutes = lsf.cli("lab", "--walltime", "1:75", "--ip", "127.0.0.1")
    assert bad_minutes.returncode == 2 and "minutes below 60" in bad_minutes.stderr
    open_ip = lsf.cli("lab", "--ip", "0.0.0.0")
    assert open_ip.returncode == 2 and "every interface" in open_ip.stderr
    no_queue = lsf.cli("lab", "--queue", "nosuchqueue", "--ip", "127.0.0.1")
    assert no_queue.returncode == 1
    assert "nosuchqueue: No such queue. Job not submitted." in no_queue.stderr
    assert "No unfinished job found" in lsf.unfinished_jobs()
    assert not (lsf.state_dir / "record.json").exists()


def test_no_scheduler_commands_is_a_clear_error(lsf: EmulatedLSF) -> None:
    without_lsf = EmulatedLSF({**lsf.env, "PATH": "/nonexistent"}, lsf.state_dir)
    result = without_lsf.cli("lab", "--ip", "127.0.0.1")
    assert result.returncode == 1
    assert "no LSF commands on PATH (missing: bsub bjobs bkill)" in result.stderr


def test_dry_run_shows_the_script_and_submits_nothing(lsf: EmulatedLSF) -> None:
    result = lsf.cli(
        "lab", "--dry-run", "-q", "interactive", "--memory", "2GB", "--cores", "2", "-W", "00:30"
    )
    assert result.returncode == 0, result.stderr
    script = result.stdout
    for directive in ("-q interactive", "-n 2", '-R "span[hosts=1]"', "-W 00:30"):
        assert f"#BSUB {directive}" in script
    # 2 GB in the emulator's lsf.conf unit (MB), rounded up as dask-jobqueue does.
    assert "#BSUB -M 1908" in script
    assert "0.0.0.0" not in script and "allow_origin" not in script
    assert "No unfinished job found" in lsf.unfinished_jobs()
    assert not lsf.state_dir.exists()


def test_ctrl_c_during_a_slow_bsub_still_kills_the_job_it_submitted(
    knobbed_lsf: Callable[..., EmulatedLSF],
) -> None:
    lsf = knobbed_lsf(LSFSIM_SUBMIT_DELAY="3")
    lab = lsf.cli_background("lab", "--ip", "127.0.0.1")
    deadline = time.monotonic() + 60
    # job.sh is written just before bsub starts: interrupt while bsub is still busy.
    while not list(lsf.state_dir.glob("session-*/job.sh")):
        assert time.monotonic() < deadline, f"lab never wrote its job script:\n{lab.text}"
        time.sleep(0.05)
    lab.proc.send_signal(signal.SIGINT)
    assert lab.finish() == 130, lab.text
    job_id = re.search(r"killed job (\d+)", lab.text)
    assert job_id, lab.text
    assert lsf.job(job_id.group(1))["STAT"] == "EXIT"
    assert not list(lsf.state_dir.glob("session-*"))


def test_bsub_refusal_is_shown_in_lsf_words(knobbed_lsf: Callable[..., EmulatedLSF]) -> None:
    lsf = knobbed_lsf(LSFSIM_SUBMIT_FAIL="1")
    result = lsf.cli("lab", "--ip", "127.0.0.1")
    assert result.returncode == 1
    assert "bsub refused the job:" in result.stderr
    assert "Job not submitted." in result.stderr
    assert not (lsf.state_dir / "record.json").exists()
