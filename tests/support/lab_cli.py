"""`pangeo-hpc lab/status/stop` run as a user runs them, in child processes, for every scheduler's
lab tests. Every JupyterLab they start binds 127.0.0.1."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
LOGIN_HOST = "login.example.org"
SSH_LINE = re.compile(r"ssh -N -L localhost:(\d+):(\S+):(\d+) (\S+)@(\S+)")
URL = re.compile(r"http://localhost:(\d+)/lab\?token=([0-9a-f]+)")
LAB_TIMEOUT = 180
CLI = [sys.executable, "-m", "pangeo_hpc_ext.cli"]


def lab_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env["PANGEO_HPC_STATE_DIR"] = str(state_dir)
    env["PANGEO_HPC_LOGIN_HOST"] = LOGIN_HOST
    env.update(extra)
    return env


@dataclass
class LabCLI:
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

    def command(self, *argv: str) -> subprocess.CompletedProcess:
        """A scheduler command, with the environment the CLI gets."""
        return subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def end_started(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    def kill_lab_servers(self) -> None:
        """Whatever the scheduler says, no JupyterLab a test started may outlive the test."""
        for connection in self.state_dir.glob("session-*/connection.json"):
            pid = json.loads(connection.read_text())["pid"]
            if psutil.pid_exists(pid):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


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


def api_status(port: int, token: str | None, timeout: float = 10) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def submitted_job_id(text: str) -> str:
    match = re.search(r"Job <(\d+)> is submitted", text)
    assert match, f"no submission line in:\n{text}"
    return match.group(1)


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"process {pid} still alive after the job ended"
        time.sleep(0.2)


def wait_for(check: Callable[[], object], what: str, timeout: float = 90) -> object:
    """check()'s first true answer, polled; fails saying what did not happen in time."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        assert time.monotonic() < deadline, f"within {timeout:.0f} s: {what} did not happen"
        time.sleep(0.5)
    return answer


def require_daemon(problem: str | None, require_variable: str) -> None:
    """Skip with the reason when the scheduler is not usable here, unless the variable says it
    must be (CI), then fail."""
    if problem is None:
        return
    if os.environ.get(require_variable) == "1":
        pytest.fail(f"{require_variable}=1 but {problem}")
    pytest.skip(problem)


def _answer(argv: list[str]) -> subprocess.CompletedProcess | str:
    """The command's result, or why it could not be run."""
    if shutil.which(argv[0]) is None:
        return f"no {argv[0]} on PATH"
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(argv)}` did not answer within 20 s"


def slurm_problem() -> str | None:
    """Why real Slurm cannot run a job here, or None."""
    result = _answer(["sinfo", "-h", "-o", "%T"])
    if isinstance(result, str):
        return f"Slurm is not here: {result} (`.ci/slurm.sh up` as root starts it)"
    if result.returncode != 0:
        return f"sinfo failed: {result.stderr.strip()} (`.ci/slurm.sh up` starts the daemons)"
    if not any(s.startswith(("idle", "mix", "alloc")) for s in result.stdout.split()):
        return f"no Slurm node is up (sinfo says {result.stdout.split()})"
    return None


def sge_problem() -> str | None:
    """Why real Grid Engine cannot run a job here, or None."""
    if not os.environ.get("SGE_ROOT"):
        return "Grid Engine is not here: SGE_ROOT is not set (`.ci/gridengine.sh up` prints it)"
    result = _answer(["qstat", "-f"])
    if isinstance(result, str):
        return f"Grid Engine is not here: {result}"
    if result.returncode != 0:
        return f"qstat failed: {(result.stderr or result.stdout).strip()}"
    # qstat -f: queue instance, type, slots, load, arch, states. u: its execd does not report,
    # d: disabled, E: error; none of these starts jobs.
    instances = [line.split() for line in result.stdout.splitlines() if "@" in line]
    if not any(len(words) < 6 or not set("udE") & set(words[5]) for words in instances):
        return f"no Grid Engine queue instance takes jobs (is sge_execd running?):\n{result.stdout}"
    return None
