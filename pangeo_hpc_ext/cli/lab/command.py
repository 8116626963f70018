"""`pangeo-hpc lab`, `status` and `stop`: JupyterLab as a batch job on a compute node.

`lab` writes a job script, submits it (batch by default, so a dropped laptop connection does not
kill it; `--interactive` holds it with `bsub -Is` like the seed's recipe), follows the job from
PEND to RUN, waits until JupyterLab answers with its token, and prints the URL and the exact
`ssh -N -L` line. LSF is reached only through its commands on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import lsf
from .node import NODE_ADDRESS, answers
from .script import (
    LabRequest,
    OptionError,
    bsub_options,
    format_walltime,
    job_script,
    parse_walltime,
)
from .session import (
    LabState,
    Record,
    default_state_dir,
    log_tail,
    read_connection,
    read_token,
)

LOGIN_HOST_ENV = "PANGEO_HPC_LOGIN_HOST"
POLL_SECONDS = 1.0
PENDING_NOTE_EVERY = 30.0
UNLISTED_GRACE_SECONDS = 10.0
QUERY_GRACE_SECONDS = 60.0
LOG_DELIVERY_SECONDS = 10.0
FROZEN_FIX = "pangeo-hpc stop && pangeo-hpc lab"
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser(
        "lab",
        help="start JupyterLab as a batch job on a compute node and print the ssh tunnel",
        description="Submit JupyterLab as a batch job, wait until it answers, and print its URL "
        "with token and the ssh tunnel command to reach it from your laptop.",
    )
    lab.add_argument("--scheduler", choices=["lsf"], default="lsf")
    lab.add_argument("--queue", "-q", help="queue (default: the cluster's default queue)")
    lab.add_argument("--walltime", "-W", default="01:00", help="hh:mm (default 01:00)")
    lab.add_argument("--cores", "-n", type=int, default=1, help="job slots (default 1)")
    lab.add_argument("--memory", "-M", help="memory limit, e.g. 8GB (converted to lsf.conf units)")
    lab.add_argument("--port", type=int, default=8888, help="first port to try on the node")
    lab.add_argument(
        "--ip",
        default=NODE_ADDRESS,
        help="address JupyterLab binds on the node (default: the node's own address)",
    )
    lab.add_argument(
        "--login-host",
        default=os.environ.get(LOGIN_HOST_ENV) or socket.getfqdn(),
        help=f"host name for the ssh line (default: ${LOGIN_HOST_ENV} or this host's name)",
    )
    lab.add_argument(
        "--interactive",
        action="store_true",
        help="hold the job from this terminal with `bsub -Is` (it ends when this command ends)",
    )
    lab.add_argument("--dry-run", action="store_true", help="show the job script, submit nothing")
    lab.add_argument(
        "--start-timeout",
        type=float,
        default=300.0,
        help="seconds JupyterLab may take to answer once the job runs (default 300)",
    )
    _add_state_dir(lab)
    lab.set_defaults(func=run_lab)

    status = subparsers.add_parser("status", help="show the lab job: state, host, port, url")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    _add_state_dir(status)
    status.set_defaults(func=run_status)

    stop = subparsers.add_parser("stop", help="kill the lab job and remove its record")
    _add_state_dir(stop)
    stop.set_defaults(func=run_stop)


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the lab job's record lives (default: $PANGEO_HPC_STATE_DIR or "
        "~/.local/share/pangeo-hpc/lab)",
    )


def _state(args: argparse.Namespace) -> LabState:
    return LabState((args.state_dir or default_state_dir()).resolve())


def say(text: str = "") -> None:
    print(text, flush=True)


def fail(text: str) -> None:
    print(f"pangeo-hpc: {text}", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    """h:mm:ss, the way bjobs -hms shows times."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


# ---- lab ------------------------------------------------------------------------------------


def build_request(args: argparse.Namespace) -> LabRequest:
    if args.ip in ("0.0.0.0", "::", "*", ""):
        raise OptionError(
            f"--ip {args.ip!r} would expose JupyterLab on every interface of a shared node; "
            "leave --ip out (the node's own address is what the ssh tunnel reaches)"
        )
    if args.cores < 1:
        raise OptionError(f"--cores {args.cores}: give at least 1")
    if not 1024 <= args.port <= 65535:
        raise OptionError(f"--port {args.port}: give a port between 1024 and 65535")
    walltime = parse_walltime(args.walltime)
    memory_limit = None
    if args.memory:
        from dask.utils import parse_bytes

        try:
            n_bytes = parse_bytes(args.memory)
        except ValueError:
            raise OptionError(f"--memory {args.memory!r}: give e.g. 8GB or 500MB") from None
        unit = lsf.unit_for_limits(lsf.lsf_conf_path()) or "KB"
        memory_limit = lsf.memory_in_units(n_bytes, unit)
    return LabRequest(
        queue=args.queue,
        walltime_minutes=walltime,
        cores=args.cores,
        memory_limit=memory_limit,
        port=args.port,
        ip=args.ip,
    )


def run_lab(args: argparse.Namespace) -> int:
    # Ctrl-C must reach us as KeyboardInterrupt so a pending job is killed; importing
    # dask_jobqueue (other commands' modules do) replaces Python's handler with sys.exit().
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        request = build_request(args)
    except OptionError as exc:
        fail(str(exc))
        return 2
    state = _state(args)
    if args.dry_run:
        return _dry_run(request, state, args.interactive)
    missing = lsf.missing_commands()
    if missing:
        fail(_no_scheduler_message(missing))
        return 1

    lab = LabRun(state, request, args)
    try:
        return lab.run()
    except KeyboardInterrupt:
        return lab.interrupted()
    except lsf.SubmitRefused as exc:
        fail(f"bsub refused the job: {exc}")
        hint = _limit_hint(str(exc))
        if hint:
            fail(hint)
        return 1
    except lsf.SchedulerError as exc:
        fail(f"an LSF command failed: {exc}")
        if lab.job_id:
            fail(f"Job {lab.job_id} is left as it is: see `pangeo-hpc status`, `pangeo-hpc stop`.")
        return 1


def _limit_hint(error: str) -> str:
    if "RUNLIMIT" in error:
        return (
            "Ask for a shorter --walltime or another --queue (`bqueues -l QUEUE` shows RUNLIMIT)."
        )
    if "MEMLIMIT" in error:
        return "Ask for less --memory or another --queue (`bqueues -l QUEUE` shows MEMLIMIT)."
    if "No such queue" in error:
        return "`bqueues` lists the queues you can use."
    return ""


def _no_scheduler_message(missing: list[str]) -> str:
    return (
        f"no LSF commands on PATH (missing: {' '.join(missing)}). Run this on a login node of "
        "the cluster, or load LSF first (e.g. `module load lsf` or "
        "`source $LSF_ENVDIR/profile.lsf`); `pangeo-hpc doctor` checks the whole setup."
    )


def _dry_run(request: LabRequest, state: LabState, interactive: bool) -> int:
    session = state.root / "session-<new>"
    log = session / "job.log"
    say(f"# Job script (would be written to {session / 'job.sh'}):")
    say(job_script(request, session, log))
    if interactive:
        command = ["bsub", "-Is", *bsub_options(request, None), "/bin/bash", "<job.sh>"]
        say("# Would run: " + shlex.join(command))
    else:
        say("# Would run: bsub < job.sh")
    say("# The token is generated at submission and stored 0600 in the session directory.")
    return 0


class Progress:
    """PEND progress: one line rewritten in place on a terminal, a line per change (and every
    PENDING_NOTE_EVERY seconds) otherwise, so logs of `pangeo-hpc lab > file` stay readable."""

    def __init__(self, job_id: str, live: bool) -> None:
        self.job_id = job_id
        self.live = live
        self.shown = ""
        self.noted_at = 0.0
        self.open_line = False

    def pending(self, queue: str, reason: str, submitted: float) -> None:
        waited = _clock(time.time() - submitted)
        head = f"PEND  job {self.job_id} is waiting in queue {queue}"
        why = f": {reason.rstrip(';')}" if reason else ""
        if self.live:
            sys.stdout.write(f"\r\033[K{head} for {waited}{why}")
            sys.stdout.flush()
            self.open_line = True
            return
        key = head + why
        if key != self.shown:
            say(head + why)
            self.shown = key
            self.noted_at = time.monotonic()
        elif time.monotonic() - self.noted_at >= PENDING_NOTE_EVERY:
            say(f"PEND  still waiting after {waited}{why}")
            self.noted_at = time.monotonic()

    def other(self, state: str) -> None:
        if state != self.shown:
            self.done()
            say(f"{state:<5} job {self.job_id}")
            self.shown = state

    def done(self) -> None:
        if self.open_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.open_line = False


@contextlib.contextmanager
def sigint_deferred() -> Iterator[list[int]]:
    """Hold Ctrl-C until the block ends: a Ctrl-C while bsub runs could otherwise leave a job
    that LSF accepted but whose id we never read, pending behind the user's back."""
    received: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        if not received:
            fail("Ctrl-C: letting bsub finish, then its job is killed ...")
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class Ready:
    info: lsf.JobInfo
    connection: dict


class LabRun:
    """One `pangeo-hpc lab` invocation: reuse or submit, then follow the job until it answers."""

    def __init__(self, state: LabState, request: LabRequest, args: argparse.Namespace) -> None:
        self.state = state
        self.request = request
        self.args = args
        self.record: Record | None = None
        self.job_id: str | None = None
        self.bsub_is: subprocess.Popen | None = None
        self.owns_job = False
        self.session: Path | None = None

    def run(self) -> int:
        with self.state.locked():
            existing = self.state.load()
            if existing is not None:
                outcome = self._existing(existing)
                if outcome is not None:
                    return outcome
            self._submit()
        return self._follow()

    # An earlier lab job: reuse it when it is alive, refuse when it is stuck, forget it when over.
    def _existing(self, record: Record) -> int | None:
        info = lsf.job_info(record.job_id)
        if info is None or not info.unfinished:
            what = info.state if info else "no longer known to LSF"
            say(f"Forgetting the earlier lab job {record.job_id} ({what}).")
            self.state.remove(record)
            return None
        token = read_token(record.session) or ""
        connection = read_connection(record.session)
        note = "(this command's options are ignored; `pangeo-hpc stop` first for a new one)"
        if info.state == "RUN" and connection is not None:
            if answers(connection["ip"], connection["port"], token, timeout=5):
                say(f"A lab job is already running: job {record.job_id}; reusing it {note}.")
                self._print_ready(record, Ready(info, connection), token)
                return 0
            say(frozen_message(record, info, connection))
            return 1
        say(f"A lab job is already {info.state}: job {record.job_id}; following it {note}.")
        self.record = record
        self.job_id = record.job_id
        return None

    def _submit(self) -> None:
        if self.record is not None:
            return
        with sigint_deferred() as interrupted:
            self._submit_and_record()
        if interrupted:
            raise KeyboardInterrupt

    def _submit_and_record(self) -> None:
        session, _token = self.state.new_session()
        self.session = session
        log = session / "job.log"
        script = job_script(self.request, session, log)
        (session / "job.sh").write_text(script)
        self.owns_job = True
        if self.args.interactive:
            submission = self._submit_interactive(session, log)
        else:
            submission = lsf.submit_script(script)
        self.job_id = submission.job_id
        self.record = Record(
            job_id=submission.job_id,
            scheduler="lsf",
            session_dir=str(session),
            queue=submission.queue,
            walltime_minutes=self.request.walltime_minutes,
            requested_port=self.request.port,
            login_host=self.args.login_host,
            user=getpass.getuser(),
            submitted=time.time(),
            interactive=bool(self.args.interactive),
        )
        self.state.save(self.record)
        say(f"Job <{submission.job_id}> is submitted to queue <{submission.queue}>.")

    def _submit_interactive(self, session: Path, log: Path) -> lsf.Submission:
        # LSF reads #BSUB lines only from stdin; with -Is the options go on the command line.
        command = [
            "bsub",
            "-Is",
            *bsub_options(self.request, None),
            "/bin/bash",
            str(session / "job.sh"),
        ]
        with open(log, "wb") as handle:
            self.bsub_is = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT
            )
        while True:
            text = log.read_text(errors="replace")
            parsed = lsf.parse_submission(text)
            if parsed:
                return lsf.Submission(parsed[0], parsed[1], text)
            if self.bsub_is.poll() is not None:
                self.state.remove_session(session)
                raise lsf.SubmitRefused(
                    text.strip() or f"bsub -Is exited {self.bsub_is.returncode}"
                )
            time.sleep(0.1)

    def _follow(self) -> int:
        assert self.record is not None
        record = self.record
        token = read_token(record.session) or ""
        ready = self._wait_until_ready(record, token)
        if isinstance(ready, int):
            return ready
        self._print_ready(record, ready, token)
        if self.bsub_is is None:
            return 0
        return self._hold_interactive(record)

    def _wait_until_ready(self, record: Record, token: str) -> Ready | int:
        progress = Progress(record.job_id, live=sys.stdout.isatty())
        run_seen: float | None = None
        failing_since: float | None = None
        while True:
            now = time.monotonic()
            try:
                info = lsf.job_info(record.job_id)
            except lsf.SchedulerError as exc:
                # A busy mbatchd makes bjobs fail now and then; only a lasting failure is fatal.
                if failing_since is None:
                    failing_since = now
                    progress.done()
                    say(f"      bjobs failed ({str(exc).splitlines()[0]}); retrying ...")
                elif now - failing_since > QUERY_GRACE_SECONDS:
                    raise
                time.sleep(POLL_SECONDS)
                continue
            failing_since = None
            if info is None:
                # mbatchd may not list a job in the first moments after bsub answered.
                if time.time() - record.submitted < UNLISTED_GRACE_SECONDS:
                    time.sleep(POLL_SECONDS)
                    continue
                progress.done()
                return self._ended(record, None)
            if info.state == "PEND":
                progress.pending(info.queue or record.queue, info.pend_reason, record.submitted)
            elif info.state == "RUN":
                if run_seen is None:
                    run_seen = now
                    progress.done()
                    waited = _clock(time.time() - record.submitted)
                    where = f"on {info.host} after {waited} in the queue"
                    say(f"RUN   job {record.job_id} started {where}")
                    say(f"      waiting for JupyterLab to answer on {info.host} ...")
                connection = read_connection(record.session)
                if connection and answers(connection["ip"], connection["port"], token, timeout=5):
                    return Ready(info, connection)
                if now - run_seen > self.args.start_timeout:
                    log = record.session / "job.log"
                    fail(
                        f"job {record.job_id} has been RUN on {info.host} for "
                        f"{_clock(now - run_seen)} but JupyterLab does not answer. Its log "
                        f"(LSF may only write it when the job ends): {log}\n"
                        f"{_indent(log_tail(log))}\nThe job is left running; fix: {FROZEN_FIX}"
                    )
                    return 1
            elif info.unfinished:
                progress.other(info.state)
            else:
                progress.done()
                return self._ended(record, info)
            if self.bsub_is is not None and self.bsub_is.poll() is not None:
                # bsub -Is returned: the job is over even if bjobs has not caught up yet.
                progress.done()
                return self._ended(record, lsf.job_info(record.job_id))
            time.sleep(POLL_SECONDS)

    def _ended(self, record: Record, info: lsf.JobInfo | None) -> int:
        log = record.session / "job.log"
        # LSF delivers the -o file when the job ends, which can trail the EXIT state a little.
        deadline = time.monotonic() + LOG_DELIVERY_SECONDS
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        tail = log_tail(log)
        state = info.state if info else "gone"
        details = []
        if info and info.exit_code:
            details.append(f"exit code {info.exit_code}")
        if info and info.exit_reason:
            details.append(info.exit_reason)
        detail = f" ({', '.join(details)})" if details else ""
        fail(f"job {record.job_id} ended {state}{detail} before JupyterLab answered.")
        if "TERM_RUNLIMIT" in (info.exit_reason if info else "") + tail:
            fail(
                f"It reached its walltime ({format_walltime(record.walltime_minutes)}): the "
                "walltime is too short; ask for more, e.g. --walltime 01:00."
            )
        kept = self.state.root / f"failed-job-{record.job_id}.log"
        if log.exists():
            log.replace(kept)
            fail(f"Last lines of its log ({kept}):\n{_indent(tail)}")
        else:
            fail("It left no log.")
        self.state.remove(record)
        return 1

    def _print_ready(self, record: Record, ready: Ready, token: str) -> None:
        port = ready.connection["port"]
        host = ready.info.host or ready.connection.get("node", "")
        left = walltime_left(record, ready.info, ready.connection)
        if port != record.requested_port:
            say(f"Port {record.requested_port} was taken on {host}; JupyterLab uses {port}.")
        say(
            f"JupyterLab is running in job {record.job_id} on {host}, port {port}"
            + (f", walltime left {_clock(left)}." if left is not None else ".")
        )
        say("1. On your laptop, open the tunnel (leave it running):")
        say(f"   {ssh_line(record, host, port)}")
        say("2. Then open:")
        say(f"   {lab_url(port, token)}")
        say("Check it with `pangeo-hpc status`; end it with `pangeo-hpc stop`.")

    def _hold_interactive(self, record: Record) -> int:
        assert self.bsub_is is not None
        say("This terminal holds the interactive job: Ctrl-C (or `pangeo-hpc stop`) ends it.")
        self.bsub_is.wait()
        info = lsf.job_info(record.job_id)
        say(f"Job {record.job_id} ended ({info.state if info else 'gone'}).")
        self.state.remove(record)
        return 0

    def interrupted(self) -> int:
        # A second Ctrl-C must not leave the job half-killed and its record behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        job_id = self.job_id
        if job_id is None:
            if self.session is not None:
                self.state.remove_session(self.session)
            fail("interrupted before anything was submitted.")
            return EXIT_INTERRUPTED
        if not self.owns_job and self.bsub_is is None:
            fail(f"stopped following job {job_id}; it keeps its place (`pangeo-hpc stop` ends it).")
            return EXIT_INTERRUPTED
        info = lsf.job_info(job_id)
        was = info.state if info else "submitted"
        lsf.kill_job(job_id)
        finished = wait_until_finished(job_id, timeout=60)
        if self.bsub_is is not None:
            try:
                self.bsub_is.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.bsub_is.kill()
        self.state.remove(self.record)
        if self.session is not None:
            self.state.remove_session(self.session)
        if finished:
            fail(f"interrupted: killed job {job_id} (it was {was}) and removed its record.")
        else:
            fail(
                f"interrupted: asked LSF to kill job {job_id} (it was {was}); see `bjobs {job_id}`"
            )
        return EXIT_INTERRUPTED


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) if text else "    (empty)"


def ssh_line(record: Record, host: str, port: int) -> str:
    return f"ssh -N -L localhost:{port}:{host}:{port} {record.user}@{record.login_host}"


def lab_url(port: int, token: str) -> str:
    return f"http://localhost:{port}/lab?token={token}"


def walltime_left(record: Record, info: lsf.JobInfo, connection: dict | None) -> int | None:
    left = lsf.parse_time_left(info.time_left)
    if left is not None:
        return left
    if connection and connection.get("job_started"):
        return int(record.walltime_minutes * 60 - (time.time() - connection["job_started"]))
    return None


def wait_until_finished(job_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = lsf.job_info(job_id)
        if info is None or not info.unfinished:
            return True
        time.sleep(0.5)
    return False


def frozen_message(record: Record, info: lsf.JobInfo, connection: dict) -> str:
    return (
        f"Job {record.job_id} is RUN on {info.host} but JupyterLab on port "
        f"{connection['port']} does not answer (frozen). Fix: {FROZEN_FIX}"
    )


# ---- status ---------------------------------------------------------------------------------

# Same keys as a recorded job's status, so scripts can read `status --json` without special cases.
NO_JOB_STATUS = {
    "job_id": None,
    "state": None,
    "server": "none",
    "host": None,
    "port": None,
    "url": None,
    "ssh": None,
    "walltime_left_s": None,
    "queue": None,
    "interactive": None,
    "log": None,
}


def describe(state: LabState) -> dict | None:
    record = state.load()
    if record is None:
        return None
    info = lsf.job_info(record.job_id)
    connection = read_connection(record.session)
    token = read_token(record.session) or ""
    job_state = info.state if info else "UNKNOWN"
    host = (info.host if info else "") or (connection or {}).get("node", "")
    port = connection["port"] if connection else None
    if info is None or not info.unfinished:
        server = "ended"
    elif job_state == "RUN" and connection is None:
        server = "starting"
    elif job_state == "RUN":
        server = (
            "running"
            if answers(connection["ip"], connection["port"], token, timeout=5)
            else "frozen"
        )
    elif job_state == "PEND":
        server = "pending"
    else:
        server = job_state.lower()
    left = walltime_left(record, info, connection) if info and job_state == "RUN" else None
    return {
        "job_id": record.job_id,
        "state": job_state,
        "server": server,
        "host": host or None,
        "port": port,
        "url": lab_url(port, token) if port else None,
        "ssh": ssh_line(record, host, port) if port and host else None,
        "walltime_left_s": left,
        "queue": record.queue,
        "interactive": record.interactive,
        "log": str(record.session / "job.log"),
    }


def run_status(args: argparse.Namespace) -> int:
    state = _state(args)
    if state.load() is not None and lsf.missing_commands():
        fail(_no_scheduler_message(lsf.missing_commands()))
        return 1
    try:
        status = describe(state)
    except lsf.SchedulerError as exc:
        fail(f"could not ask the scheduler: {exc}")
        return 1
    healthy = status is not None and status["server"] in ("running", "starting", "pending")
    if args.json:
        print(json.dumps(status or NO_JOB_STATUS))
        return 0 if healthy else 1
    if status is None:
        say(f"No lab job (nothing recorded in {state.root}). Start one with `pangeo-hpc lab`.")
        return 1
    rows = [
        ("job", status["job_id"]),
        ("state", status["state"]),
        ("server", status["server"]),
        ("host", status["host"] or "-"),
        ("port", status["port"] or "-"),
        ("walltime left", _clock(status["walltime_left_s"]) if status["walltime_left_s"] else "-"),
        ("url", status["url"] or "-"),
        ("tunnel", status["ssh"] or "-"),
    ]
    for name, value in rows:
        say(f"{name:<14}{value}")
    if status["server"] == "frozen":
        say(f"JupyterLab does not answer although the job is RUN (frozen). Fix: {FROZEN_FIX}")
    elif status["server"] == "ended":
        say(f"The job has ended; see {status['log']}. `pangeo-hpc stop` clears the record.")
    return 0 if healthy else 1


# ---- stop -----------------------------------------------------------------------------------


def run_stop(args: argparse.Namespace) -> int:
    state = _state(args)
    record = state.load()
    if record is None:
        say(f"No lab job recorded in {state.root}; nothing to stop.")
        return 0
    missing = lsf.missing_commands()
    if missing:
        fail(_no_scheduler_message(missing))
        return 1
    try:
        info = lsf.job_info(record.job_id)
        if info is not None and info.unfinished:
            where = f" on {info.host}" if info.host else ""
            lsf.kill_job(record.job_id)
            if not wait_until_finished(record.job_id, timeout=60):
                fail(
                    f"asked LSF to kill job {record.job_id} but it is still unfinished after 60 s; "
                    f"the record is kept (see `bjobs {record.job_id}`; run `pangeo-hpc stop` again)"
                )
                return 1
            say(f"Killed job {record.job_id} (was {info.state}{where}).")
        else:
            say(f"Job {record.job_id} had already ended ({info.state if info else 'gone'}).")
    except lsf.SchedulerError as exc:
        fail(f"could not stop job {record.job_id}: {exc}")
        return 1
    state.remove(record)
    say(f"Removed its record and session directory from {state.root}.")
    return 0
