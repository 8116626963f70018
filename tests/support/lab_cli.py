"""`pangeo-hpc lab/status/stop` run as a user runs them, in child processes, for every scheduler's
lab tests. Every JupyterLab they start binds 127.0.0.1."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
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
