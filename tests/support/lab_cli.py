"""`pangeo-hpc lab/status/stop` run as a user runs them, in child processes, for every scheduler's
lab tests. Every JupyterLab they start binds 127.0.0.1."""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import pty
import queue
import re
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
import pytest

from pangeo_hpc_ext.paths import free_port

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

    def _start(self, args: tuple[str, ...], **popen: Any) -> subprocess.Popen:
        """The CLI in the background; ended at the end of the test if still running."""
        proc = subprocess.Popen([*CLI, *args], env=self.env, cwd=REPO, **popen)
        self.started.append(proc)
        return proc

    def cli_background(self, *args: str) -> LineReader:
        proc = self._start(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return LineReader(proc)

    def cli_in_terminal(self, *args: str) -> Terminal:
        """The CLI as a user runs it from a terminal: a pseudo-terminal is its stdin, stdout,
        stderr and controlling terminal, so what is typed there (Ctrl-C) reaches it through the
        terminal's line discipline."""
        master, slave = pty.openpty()
        proc = self._start(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            # After setsid: the new session takes the terminal as its controlling terminal.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        # The reader owns the master side and reads it to the end.
        stream = open(master, errors="replace", newline="")
        return Terminal(LineReader(proc, stream), master)

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

    def __init__(self, proc: subprocess.Popen, stream: IO[str] | None = None) -> None:
        self.proc = proc
        self._stream = stream if stream is not None else proc.stdout
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self._stream is not None
        try:
            for line in self._stream:
                self._queue.put(line)
        except OSError:  # a terminal's side reads EIO once every process closed the other side
            pass
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


@dataclass
class Terminal:
    """A CLI running in a pseudo-terminal: its output, and the keyboard."""

    reader: LineReader
    master: int

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def settings(self) -> list:
        """The terminal's line settings (termios), to see that nothing changed them."""
        return termios.tcgetattr(self.master)


def api_status(port: int, token: str | None, timeout: float = 10) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def submitted_job_id(text: str) -> str:
    match = re.search(r"Job <([\w.\[\]-]+)> is submitted", text)
    assert match, f"no submission line in:\n{text}"
    return match.group(1)


def wait_gone(pid: int, timeout: float = 30) -> None:
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    wait_for(lambda: ended(process), f"the end of process {pid} after its job", timeout)


def ended(process: psutil.Process) -> bool:
    # A process may end between any two questions about it.
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


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
    # "completing" is a node still cleaning up the job before: it takes the next one in seconds.
    if not any(s.startswith(("idle", "mix", "alloc", "comp")) for s in result.stdout.split()):
        return f"no Slurm node is up (sinfo says {result.stdout.split()})"
    return None


def require_slurm() -> None:
    require_daemon(slurm_problem(), "PANGEO_HPC_REQUIRE_SLURM")


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


@dataclass(frozen=True)
class Lab:
    """A lab job as `pangeo-hpc lab` announced it, checked line against line."""

    job_id: str
    node: str
    port: int
    token: str
    url: str
    ssh: str


def announced(text: str) -> Lab:
    """The job, URL and tunnel line `lab` printed; the URL and the tunnel agree on the port, and
    the tunnel is the user's, through the login host."""
    ssh, url = SSH_LINE.search(text), URL.search(text)
    assert ssh and url, text
    local_port, node, remote_port, user, login = ssh.groups()
    assert local_port == remote_port == url.group(1), text
    assert (user, login) == (getpass.getuser(), LOGIN_HOST), text
    # PBS ids carry the server's name: "12.vm".
    job_id = re.search(r"Job <([\w.\[\]-]+)> is submitted", text)
    assert job_id, text
    return Lab(job_id.group(1), node, int(remote_port), url.group(2), url.group(0), ssh.group(0))


def answers_only_with_its_token(lab: Lab) -> None:
    assert api_status(lab.port, lab.token) == 200
    assert api_status(lab.port, None) == 403


def start_batch_lab(cli: LabCLI, scheduler: str) -> Lab:
    """A small batch lab job (1 core, 1 GB, 30 minutes, loopback), answering."""
    port = free_port()
    result = cli.cli(
        *("lab", "--scheduler", scheduler, "--walltime", "00:30", "--cores", "1"),
        *("--memory", "1GB", "--ip", "127.0.0.1", "--port", str(port)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lab = announced(result.stdout)
    assert lab.port == port, result.stdout
    assert re.search(
        rf"\n\w+ +job {re.escape(lab.job_id)} started on {lab.node} after ", result.stdout
    )
    answers_only_with_its_token(lab)
    return lab


def start_interactive_lab(cli: LabCLI, scheduler: str) -> tuple[LineReader, Lab]:
    """`lab --interactive` in the background, once it holds an answering job."""
    reader = cli.cli_background(
        *("lab", "--scheduler", scheduler, "--interactive", "--walltime", "00:30"),
        *("--ip", "127.0.0.1", "--port", str(free_port())),
    )
    reader.expect("This terminal holds the interactive job")
    lab = announced(reader.text)
    answers_only_with_its_token(lab)
    return reader, lab


def status_of(cli: LabCLI, lab: Lab, scheduler: str, native_state: str) -> dict:
    """`status --json` of a running lab job, checked against what `lab` printed."""
    status = json.loads(cli.cli("status", "--json").stdout)
    assert (status["job_id"], status["scheduler"]) == (lab.job_id, scheduler), status
    assert (status["state"], status["server"]) == (native_state, "running"), status
    assert (status["host"], status["port"]) == (lab.node, lab.port), status
    assert (status["url"], status["ssh"]) == (lab.url, lab.ssh), status
    assert 0 < status["walltime_left_s"] <= 30 * 60, status
    return status


def stop_lab(cli: LabCLI, status: dict) -> None:
    """`stop` kills the job; its JupyterLab, record and session directory go with it."""
    session = Path(status["log"]).parent
    server_pid = json.loads((session / "connection.json").read_text())["pid"]
    stopped = cli.cli("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"Killed job {status['job_id']} (was {status['state']} on {status['host']})." in (
        stopped.stdout
    )
    wait_gone(server_pid)
    assert not session.exists() and not (cli.state_dir / "record.json").exists()
    assert json.loads(cli.cli("status", "--json").stdout)["server"] == "none"


def only_commands(directory: Path, *names: str) -> str:
    """A PATH with these real commands (linked, under their own names) and this Python."""
    directory.mkdir()
    for name in names:
        found = shutil.which(name)
        assert found, f"{name} not on PATH"
        (directory / name).symlink_to(found)
    return os.pathsep.join([str(directory), str(Path(sys.executable).parent)])


def fails_only(result: subprocess.CompletedProcess, check: str, says: str, fix: str) -> None:
    """`doctor --json` failed on this one check, saying this and naming this fix."""
    assert result.returncode == 1, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert [name for name, c in checks.items() if not c["ok"]] == [check], result.stdout
    assert says in checks[check]["detail"], checks[check]
    assert fix in checks[check]["fix"], checks[check]


def with_setting(jobqueue_yaml: str, setting: str) -> str:
    """The jobqueue YAML (one scheduler section, 4-space keys) with one key set differently."""
    key = setting.split(":")[0]
    kept = [line for line in jobqueue_yaml.splitlines() if not line.strip().startswith(key + ":")]
    return "\n".join([*kept, f"    {setting}", ""])


class SchedulerLab(LabCLI):
    """`pangeo-hpc` on a real scheduler, telling lab jobs apart from other jobs there."""

    cancel_command = ""

    def our_jobs(self) -> set[str]:
        """Every lab job the scheduler still holds (this test's and other tests')."""
        raise NotImplementedError


def tidy(lab: SchedulerLab) -> Iterator[SchedulerLab]:
    """Yields lab; afterwards cancels the lab jobs that appeared meanwhile (other lab jobs on
    this machine are not ours to cancel) and any JupyterLab left."""
    before = lab.our_jobs()
    yield lab
    lab.end_started()
    mine = lab.our_jobs() - before
    if mine:
        lab.command(lab.cancel_command, *mine)
        wait_for(lambda: not (lab.our_jobs() & mine), f"{lab.cancel_command} of jobs {mine}")
    lab.kill_lab_servers()


def refused_before_submitting(lab: SchedulerLab, scheduler: str, *args: str) -> str:
    """`lab` with these options ends with 1, submitting nothing and leaving nothing; its
    stderr."""
    before = lab.our_jobs()
    result = lab.cli("lab", "--scheduler", scheduler, "--ip", "127.0.0.1", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert lab.our_jobs() == before, result.stdout
    assert not (lab.state_dir / "record.json").exists()
    assert not list(lab.state_dir.glob("session-*"))
    return result.stderr


def interactive_ends_with_stop(
    lab: SchedulerLab, reader: LineReader, status: dict, holder: psutil.Process
) -> None:
    """`stop` ends the interactive job; the `lab` holding it and its holder process end too."""
    stop_lab(lab, status)
    assert reader.finish() == 0, reader.text
    assert f"Job {status['job_id']} ended" in reader.text
    assert status["job_id"] not in lab.our_jobs()
    wait_for(lambda: ended(holder), f"the end of the holding process {holder.pid}")


def doctor_table(
    tmp_path: Path, jobqueue_yaml: str, scheduler: str, *, path: str | None = None
) -> tuple[int, dict[str, str], str]:
    """`doctor --scheduler` for a user with this dask config and an enabled extension (and this
    PATH): its exit code, CHECK -> PASS/FAIL, and its output."""
    # Imported here: a test module, whose helpers every doctor test shares.
    from tests.test_doctor import ENABLED, doctor, rows, user_setup

    env = user_setup(tmp_path, jobqueue_yaml, ENABLED)
    if path is not None:
        env["PATH"] = path
    result = doctor(env, "--scheduler", scheduler)
    return result.returncode, rows(result.stdout), result.stdout
