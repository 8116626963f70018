"""`pangeo-hpc lab/status/stop` against the LSF emulator, with real JupyterLab processes.

The emulator is reached only through its shims on PATH, exactly as the CLI reaches a real LSF.
Every server binds 127.0.0.1; nothing is ever sent anywhere but loopback.
"""

from __future__ import annotations

import getpass
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from pangeo_hpc_ext.cli.lab import lsf as labjob_lsf
from pangeo_hpc_ext.cli.lab.script import OptionError, parse_walltime
from pangeo_hpc_ext.lsfsim import environment

REPO = Path(__file__).resolve().parents[1]
LOGIN_HOST = "login.example.org"
SSH_LINE = re.compile(r"ssh -N -L localhost:(\d+):(\S+):(\d+) (\S+)@(\S+)")
URL = re.compile(r"http://localhost:(\d+)/lab\?token=([0-9a-f]+)")
LAB_TIMEOUT = 180
CLI = [sys.executable, "-m", "pangeo_hpc_ext.cli"]


@dataclass
class EmulatedLSF:
    env: dict[str, str]
    state_dir: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = LAB_TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli_background(self, *args: str) -> LineReader:
        proc = subprocess.Popen(
            [*CLI, *args],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append(proc)
        return LineReader(proc)

    def lsf(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(command), env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def job(self, job_id: str) -> dict[str, str]:
        out = self.lsf("bjobs", "-a", "-o", "jobid stat exec_host", "-json", job_id).stdout
        return json.loads(out)["RECORDS"][0]

    def unfinished_jobs(self) -> str:
        result = self.lsf("bjobs")
        return result.stdout + result.stderr

    def wait_for_state(self, job_id: str, states: set[str], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        record = self.job(job_id)
        while record["STAT"] not in states:
            assert time.monotonic() < deadline, f"job {job_id} never reached {states}: {record}"
            time.sleep(0.2)
            record = self.job(job_id)
        return record


class LineReader:
    """Output of a CLI we started, read line by line so a test can wait for a given line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def expect(self, pattern: str, timeout: float = LAB_TIMEOUT) -> re.Match:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no line matching {pattern!r} within {timeout} s:\n{self.text}"
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"CLI ended without a line matching {pattern!r}:\n{self.text}")
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match

    def finish(self, timeout: float = LAB_TIMEOUT) -> int:
        code = self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code

    @property
    def text(self) -> str:
        return "".join(self.lines)


def make_lsf(tmp_path: Path, slots: int | None = None, **extra: str) -> EmulatedLSF:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.update(environment(tmp_path / "lsfsim", tmp_path / "shims", slots=slots))
    env["PANGEO_HPC_STATE_DIR"] = str(tmp_path / "state")
    env["PANGEO_HPC_LOGIN_HOST"] = LOGIN_HOST
    env.update(extra)
    return EmulatedLSF(env=env, state_dir=tmp_path / "state")


def cleanup(lsf: EmulatedLSF) -> None:
    for proc in lsf.started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    lsf.lsf("bkill", "0")
    deadline = time.monotonic() + 60
    try:
        while "No unfinished job found" not in lsf.unfinished_jobs():
            assert time.monotonic() < deadline, f"jobs left after cleanup:\n{lsf.unfinished_jobs()}"
            time.sleep(0.2)
    finally:
        # Whatever the emulator says, no JupyterLab a test started may outlive it.
        for connection in lsf.state_dir.glob("session-*/connection.json"):
            pid = json.loads(connection.read_text())["pid"]
            if psutil.pid_exists(pid):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


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


def api_status(port: int, token: str | None, timeout: float = 10) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def submitted_job_id(text: str) -> str:
    match = re.search(r"Job <(\d+)> is submitted", text)
    assert match, f"no submission line in:\n{text}"
    return match.group(1)


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"process {pid} still alive after the job ended"
        time.sleep(0.2)


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
    result = lsf.lsf("bsub", "-J", "blocker", "sleep", "600")
    job_id = submitted_job_id(result.stdout)
    lsf.wait_for_state(job_id, {"RUN"})
    return job_id


def test_lab_waits_while_pending_and_starts_when_a_slot_frees(one_slot: EmulatedLSF) -> None:
    blocker = block_the_only_slot(one_slot)
    lab = one_slot.cli_background("lab", "--ip", "127.0.0.1", "--port", str(free_port()))
    job_id = lab.expect(r"Job <(\d+)> is submitted").group(1)
    lab.expect(rf"PEND +job {job_id} is waiting in queue normal: \w")  # with LSF's reason
    assert one_slot.job(job_id)["STAT"] == "PEND"

    one_slot.lsf("bkill", blocker)
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


@pytest.mark.parametrize(
    ("exec_host", "first"),
    [("node01", "node01"), ("node01:node01", "node01"), ("4*node02 node03", "node02"), ("", "")],
)
def test_first_host_of_every_exec_host_spelling(exec_host: str, first: str) -> None:
    assert labjob_lsf.first_host(exec_host) == first


@pytest.mark.parametrize(
    ("time_left", "seconds"), [("0:59 L", 3540), ("1:02:03 L", 3723), ("", None), ("-", None)]
)
def test_time_left_as_bjobs_prints_it(time_left: str, seconds: int | None) -> None:
    assert labjob_lsf.parse_time_left(time_left) == seconds


def test_walltime_and_memory_follow_lsf_conventions() -> None:
    assert parse_walltime("1:30") == 90
    assert parse_walltime("45") == 45
    with pytest.raises(OptionError, match="too short"):
        parse_walltime("0:04")
    with pytest.raises(OptionError, match="hh:mm"):
        parse_walltime("1h")
    # The same rounding as dask-jobqueue: 20GB in MB units is 19074, in KB 19531250.
    assert labjob_lsf.memory_in_units(20 * 10**9, "MB") == 19074
    assert labjob_lsf.memory_in_units(20 * 10**9, "KB") == 19531250
