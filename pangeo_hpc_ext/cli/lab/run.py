"""One `pangeo-hpc lab`: reuse the recorded job or submit one, then follow it until JupyterLab
answers, print the URL and tunnel line, and (interactive) hold the job until it ends."""

from __future__ import annotations

import contextlib
import getpass
import signal
import subprocess
import time
from collections.abc import Iterator

from ...errors import SchedulerCommandFailed
from ...schedulers.base import JobState
from .adapters import (
    LabScheduler,
    QueueLimitExceeded,
    Submission,
    SubmitRefused,
    adapter_for,
)
from .follow import Follower, Ready, job_host, print_ready
from .options import LabOptions
from .report import fail, frozen_message, say
from .script import job_script
from .session import LabState, Record, Session

KILL_WAIT_SECONDS = 60.0
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def sigint_held() -> Iterator[list[int]]:
    """Hold Ctrl-C until the block ends: a Ctrl-C while the scheduler's submit command runs
    could otherwise leave a job it accepted but whose id we never read, pending behind the
    user's back."""
    received: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        if not received:
            fail("Ctrl-C: letting the submission finish, then its job is killed ...")
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


class LabRun:
    def __init__(self, state: LabState, adapter: LabScheduler, options: LabOptions) -> None:
        self.state = state
        self.adapter = adapter
        self.options = options
        self.record: Record | None = None
        self.session: Session | None = None  # created by this run
        self.owns_job = False
        self.holder: subprocess.Popen | None = None  # the interactive command holding the job

    def run(self) -> int:
        try:
            try:
                return self._run()
            except KeyboardInterrupt:
                return self._interrupted()
        except QueueLimitExceeded as exc:
            fail(str(exc))
            return 1
        except SubmitRefused as exc:
            if self.session is not None and self.record is None:
                self.state.remove_session(self.session)
            fail(str(exc))
            if hint := self.adapter.refusal_hint(exc.text):
                fail(hint)
            return 1
        except SchedulerCommandFailed as exc:
            fail(f"a {self.adapter.title} command failed: {exc}")
            if self.record is not None:
                fail(
                    f"Job {self.record.job_id} is left as it is: see `pangeo-hpc status`, "
                    "`pangeo-hpc stop`."
                )
            return 1

    def _run(self) -> int:
        with self.state.locked():
            earlier = self.state.load()
            if earlier is not None:
                outcome = self._earlier(earlier)
                if outcome is not None:
                    return outcome
            if self.record is None:
                with sigint_held() as interrupted:
                    self._submit()
                if interrupted:
                    raise KeyboardInterrupt
        return self._follow()

    # An earlier lab job: reuse it when it is alive, refuse when it is stuck, forget it when over.
    def _earlier(self, record: Record) -> int | None:
        adapter = adapter_for(record.scheduler)
        info = adapter.job(record.job_id)
        if info is None or info.state.ended:
            what = info.native_state if info else f"no longer known to {adapter.title}"
            say(f"Forgetting the earlier lab job {record.job_id} ({what}).")
            self.state.remove(record)
            return None
        token = record.session.token()
        connection = record.session.connection()
        note = "(this command's options are ignored; `pangeo-hpc stop` first for a new one)"
        if info.state is JobState.RUNNING and connection is not None:
            if connection.answers(token):
                say(f"A lab job is already running: job {record.job_id}; reusing it {note}.")
                print_ready(record, Ready(info, connection), token)
                return 0
            host = job_host(info, connection)
            say(frozen_message(record.job_id, info.native_state, host, connection.port))
            return 1
        say(f"A lab job is already {info.native_state}: job {record.job_id}; following it {note}.")
        self.adapter = adapter
        self.record = record
        return None

    def _submit(self) -> None:
        self.adapter.check_queue_limits(self.options)
        self.session = session = self.state.new_session()
        script = job_script(self.adapter, self.options, session.dir, session.log)
        session.script.write_text(script)
        self.owns_job = True
        if self.options.interactive:
            submission = self._submit_interactive(session)
        else:
            submission = self.adapter.submit(script, self.options)
        self.record = Record(
            job_id=submission.job_id,
            scheduler=self.adapter.name,
            session_dir=str(session.dir),
            queue=submission.queue,
            walltime_minutes=self.options.walltime_minutes,
            requested_port=self.options.port,
            login_host=self.options.login_host,
            user=getpass.getuser(),
            submitted=time.time(),
            interactive=self.options.interactive,
        )
        self.state.save(self.record)
        say(submission.announcement())

    def _submit_interactive(self, session: Session) -> Submission:
        argv = self.adapter.interactive_argv(self.options, session.script)
        with open(session.log, "wb") as handle:
            self.holder = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT
            )
        while True:
            text = session.log.read_text(errors="replace")
            submission = self.adapter.interactive_submission(text)
            if submission is not None:
                return submission
            if self.holder.poll() is not None:
                refusal = text.strip() or f"exited with {self.holder.returncode}"
                raise SubmitRefused(argv[0], refusal)
            time.sleep(0.1)

    def _follow(self) -> int:
        assert self.record is not None
        record = self.record
        follower = Follower(
            self.state, self.adapter, record, self.options.start_timeout_s, self.holder
        )
        outcome = follower.until_ready()
        if not isinstance(outcome, Ready):
            return outcome
        print_ready(record, outcome, follower.token)
        return self._hold_interactive(record) if self.holder is not None else 0

    def _hold_interactive(self, record: Record) -> int:
        assert self.holder is not None
        say("This terminal holds the interactive job: Ctrl-C (or `pangeo-hpc stop`) ends it.")
        self.holder.wait()
        info = self.adapter.job(record.job_id)
        say(f"Job {record.job_id} ended ({info.native_state if info else 'gone'}).")
        self.state.remove(record)
        return 0

    def _interrupted(self) -> int:
        # A second Ctrl-C must not leave the job half-killed and its record behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.record is None:
            if self.session is not None:
                self.state.remove_session(self.session)
            fail("interrupted before anything was submitted.")
            return EXIT_INTERRUPTED
        job_id = self.record.job_id
        if not self.owns_job and self.holder is None:
            fail(f"stopped following job {job_id}; it keeps its place (`pangeo-hpc stop` ends it).")
            return EXIT_INTERRUPTED
        try:
            info = self.adapter.job(job_id)
        except SchedulerCommandFailed:  # unreadable states must not keep bkill from running
            info = None
        was = info.native_state if info else "submitted"
        self.adapter.kill(job_id)
        ended = self.adapter.wait_ended(job_id, KILL_WAIT_SECONDS)
        if self.holder is not None:
            try:
                self.holder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()
        self.state.remove(self.record)
        if ended:
            fail(f"interrupted: killed job {job_id} (it was {was}) and removed its record.")
        else:
            fail(
                f"interrupted: asked {self.adapter.title} to kill job {job_id} (it was {was}); "
                f"see {self.adapter.see_job(job_id)}"
            )
        return EXIT_INTERRUPTED
