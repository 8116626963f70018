"""`pangeo-hpc demo` stopped by a signal closes every cluster and kills every emulated job, as its
README promises for Ctrl-C: whoever sends the signal (a terminal's Ctrl-C or hangup reaches the
whole foreground process group, `kill` reaches the wrapper alone), within a bounded time. And a
server without a terminal stops as cleanly on SIGINT (LSF's bkill sends it first) as on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pangeo_hpc_ext.cli.demo import STOP_TIMEOUT_S, run_until_stopped
from pangeo_hpc_ext.paths import free_port
from tests.support.lsfsim import pid_alive
from tests.support.server_process import ServerProcess, wait_until
from tests.test_lsf_cluster import LSF_OPTIONS, unfinished_records

REPO = str(Path(__file__).resolve().parents[1])
WAIT_S = 90.0
# A clean stop takes seconds; this is well under the wrapper's own bound (after which it kills
# JupyterLab), so that a stop that hangs is caught here, while its stacks can still be dumped.
CLEAN_STOP_S = 90.0
assert CLEAN_STOP_S < STOP_TIMEOUT_S
DEMO = [sys.executable, "-m", "pangeo_hpc_ext.cli", "demo"]
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/lab\?token=(\w+)")


class Demo:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.env = {
            **os.environ,
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(self.data),
            "PYTHONPATH": REPO,
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            # SIGABRT then dumps every thread's stack: how a hung stop explains itself.
            "PYTHONFAULTHANDLER": "1",
        }
        for key in list(self.env):
            if key.startswith("LSFSIM_") or key == "LSF_ENVDIR":
                del self.env[key]
        self.output = tmp_path / "demo.out"
        notebooks = tmp_path / "notebooks"
        notebooks.mkdir()
        with open(self.output, "wb") as out:
            # Its own session, as a shell starts a foreground job: signals to its group reach
            # what a terminal's would, and never this test.
            self.proc = subprocess.Popen(
                [
                    *DEMO,
                    "--port",
                    str(free_port()),
                    "--slots",
                    "1",
                    "--notebook-dir",
                    str(notebooks),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
                # As from a terminal: a runner started under nohup passes SIGHUP on ignored, and
                # the demo (rightly) leaves an ignored signal ignored.
                preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
            )
        found = wait_until(lambda: URL.search(self.output.read_text()), "the demo printing its URL")
        self.port, self.token = int(found.group(1)), found.group(2)
        self.lab = wait_until(self.jupyterlab, "the demo starting JupyterLab")
        wait_until(self.answers, f"the demo's server answering\n{self.log()}")

    def jupyterlab(self) -> psutil.Process | None:
        children = psutil.Process(self.proc.pid).children()
        assert len(children) <= 1, children
        return children[0] if children else None

    def log(self) -> str:
        return self.output.read_text(errors="replace")[-12000:]

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None

    def answers(self) -> bool:
        try:
            return self.request("GET", "api/status")[0] == 200
        except OSError:
            return False

    def lsf(self, *argv: str) -> str:
        """An LSF command of the demo's emulator, through its own shims, as a user would run it."""
        home = self.data / "pangeo-hpc" / "demo"
        env = {
            **self.env,
            "PATH": f"{home / 'bin'}{os.pathsep}{self.env['PATH']}",
            "LSFSIM_HOME": str(home / "lsfsim"),
        }
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=30, check=False
        ).stdout

    def bjobs(self) -> list[dict[str, str]]:
        output = self.lsf("bjobs", "-a", "-u", "all", "-o", "jobid stat exit_reason", "-json")
        if not output.startswith("{"):  # no job yet: LSF's "No job found"
            return []
        return json.loads(output)["RECORDS"]

    def ledgers(self) -> list[Path]:
        return sorted((self.data / "pangeo-hpc" / "server").glob("jobs-*.json"))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    demo = Demo(tmp_path)
    yield demo
    # Whatever the test saw, leave no process or job of ours behind.
    if demo.lab.is_running():  # checks the start time too: never another process with its pid
        demo.lab.kill()
    if demo.proc.poll() is None:
        os.killpg(demo.proc.pid, signal.SIGKILL)
        demo.proc.wait()
    demo.lsf("bkill", "-u", "all", "0")


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, True)],
    ids=["SIGINT as Ctrl-C sends it", "SIGTERM as kill sends it", "SIGHUP as a hangup sends it"],
)
def test_a_signal_to_the_demo_closes_clusters_and_kills_jobs(
    demo: Demo, signum: int, to_group: bool
) -> None:
    lab = demo.lab
    code, cluster = demo.request(
        "POST", "pangeo-hpc/api/clusters", {"profile": "lsf", "workers": 2, "options": {}}
    )
    assert code == 201, cluster
    # One slot: one job runs, the other waits for it.
    wait_until(
        lambda: sorted(r["STAT"] for r in demo.bjobs()) == ["PEND", "RUN"],
        f"one RUN and one PEND job\n{demo.log()}",
    )
    # Written once bsub answered: with both workers in one array, right after they are listed.
    wait_until(demo.ledgers, "the server recording its job ledger")

    if to_group:
        os.killpg(demo.proc.pid, signum)
    else:
        demo.proc.send_signal(signum)
    try:
        demo.proc.wait(CLEAN_STOP_S)
    except subprocess.TimeoutExpired:
        demo.lab.send_signal(signal.SIGABRT)
        wait_until(lambda: gone(demo.lab), "JupyterLab dumping its stacks", timeout=30)
        pytest.fail(
            f"the demo did not exit within {CLEAN_STOP_S:.0f} s of the signal\n{demo.log()}"
        )

    assert gone(lab), f"JupyterLab (pid {lab.pid}) outlived the demo\n{demo.log()}"
    left = [r for r in demo.bjobs() if r["STAT"] not in ("DONE", "EXIT")]
    assert left == [], f"jobs left after the demo stopped: {left}\n{demo.log()}"
    assert demo.ledgers() == [], f"ledger left: {demo.ledgers()}\n{demo.log()}"


def test_sigint_stops_a_server_without_a_terminal_cleanly(tmp_path: Path, lsf_env: Any) -> None:
    # jupyter_server handles SIGINT only when stdin is a terminal; ServerProcess gives it none.
    server = ServerProcess(
        tmp_path / "server",
        env={**lsf_env.env, "PYTHONPATH": REPO},
        pangeo_config={"state_dir": str(tmp_path / "state"), "job_poll_interval": 0.25},
    ).start()
    try:
        code, cluster = server.api(
            "POST", "clusters", {"profile": "lsf", "workers": 2, "options": LSF_OPTIONS}
        )
        assert code == 201, cluster
        wait_until(lambda: len(unfinished_records(lsf_env)) == 2, "2 jobs submitted")
        server.signal(signal.SIGINT)
        server.wait(timeout=WAIT_S)
    finally:
        server.stop()
    left = unfinished_records(lsf_env)
    assert left == [], f"jobs left after SIGINT: {left}\n{server.log_tail()}"
    assert "Shutting down" in server.log_tail(), "the server's clean stop did not run"
    assert list((tmp_path / "state").glob("jobs-*.json")) == []


def test_a_server_that_does_not_stop_is_killed_after_the_bound(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pid_file = tmp_path / "pid"
    deaf_server = (
        "import os, pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(600)"
    )
    # Ctrl-C to this process (the wrapper here) once the server runs, from another process.
    ctrl_c = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_WHEN_FILE, str(pid_file), str(os.getpid())]
    )
    started = time.monotonic()
    code = run_until_stopped([sys.executable, "-c", deaf_server], stop_timeout=2.0)
    elapsed = time.monotonic() - started
    assert ctrl_c.wait(WAIT_S) == 0
    assert code == 1
    assert elapsed < 30, f"the wrapper took {elapsed:.0f} s for a 2 s bound"
    server_pid = int(pid_file.read_text())
    assert not pid_alive(server_pid), "the server outlived the wrapper's bound"
    assert "did not stop within 2 s: killed it" in capfd.readouterr().err


CTRL_C_WHEN_FILE = """
import os, pathlib, signal, sys, time
path, pid = pathlib.Path(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 60
while not path.exists():
    if time.monotonic() > deadline:
        sys.exit("the server never started")
    time.sleep(0.05)
os.kill(pid, signal.SIGINT)
"""
