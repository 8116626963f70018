"""What `pangeo-hpc lab`, `status`, `stop` and `doctor` need to know about one batch scheduler,
beyond its client: how a job script asks for resources, how an interactive job is held, which
commands must be on PATH, and what to tell a user when the scheduler says no."""

from __future__ import annotations

import abc
import asyncio
import functools
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ....errors import SchedulerCommandFailed
from ....schedulers.base import JobInfo, QueueInfo, SchedulerClient
from ....schedulers.registry import Scheduler
from ..options import LabOptions, format_walltime


@dataclass(frozen=True)
class Submission:
    job_id: str
    queue: str  # "" when the scheduler picks one only when the job starts

    def announcement(self) -> str:
        where = f" to queue <{self.queue}>" if self.queue else ""
        return f"Job <{self.job_id}> is submitted{where}."


class SubmitRefused(Exception):
    """The scheduler did not accept the job; `text` is its own message."""

    def __init__(self, command: str, text: str) -> None:
        super().__init__(f"{command} refused the job: {text}")
        self.command = command
        self.text = text


class QueueLimitExceeded(Exception):
    """The job asks for more than its queue allows and the scheduler would keep it waiting
    forever instead of refusing it."""


class LabScheduler(abc.ABC):
    # The scheduler's declaration: name, title, directive prefix and client class come from it.
    scheduler: ClassVar[Scheduler]
    name: ClassVar[str]  # as in --scheduler and in the lab record
    title: ClassVar[str]  # as users call it
    lab_commands: ClassVar[tuple[str, ...]]  # what lab/status/stop run
    interactive_commands: ClassVar[tuple[str, ...]] = ()  # what `lab --interactive` adds
    # Why `lab --interactive` cannot work with this scheduler, or None when it can.
    interactive_unsupported: ClassVar[str | None] = None
    doctor_commands: ClassVar[tuple[str, ...]]  # what a user of the cluster needs
    load_hint: ClassVar[str]  # how users usually get the commands onto PATH
    directive_prefix: ClassVar[str]  # "#BSUB", "#SBATCH", "#$"
    batch_submit_shown: ClassVar[str]  # the batch submission, as --dry-run shows it
    query_command: ClassVar[str]  # for "see `<query_command> <id>`"
    queues_word: ClassVar[str] = "queues"
    queue_word: ClassVar[str] = "queue"
    queues_listed_by: ClassVar[str]  # the command that lists the queues
    queue_limits_shown_by: ClassVar[str]  # the command that shows a queue's limits ({queue})
    # Whether the scheduler accepts a job whose walltime is above its queue's limit and leaves
    # it waiting forever (Slurm without EnforcePartLimits, Grid Engine) rather than refusing it.
    pends_past_queue_limits: ClassVar[bool] = False
    # The environment variable that names, on the compute node, the host the scheduler reports
    # for the job: the ssh tunnel reaches that name, so JupyterLab binds what it resolves to.
    host_variable: ClassVar[str]

    client_class: ClassVar[type[SchedulerClient]]
    _queues: list[QueueInfo] | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        entry = cls.__dict__.get("scheduler")
        if entry is not None:
            cls.name = entry.name
            cls.title = entry.title
            cls.directive_prefix = entry.directive_prefix
            cls.client_class = entry.client_class

    @functools.cached_property
    def client(self) -> SchedulerClient:
        # One per command: a client may remember what it saw (Grid Engine's ended jobs).
        return self.client_class()

    @abc.abstractmethod
    def resource_options(self, options: LabOptions, log: Path | None) -> list[tuple[str, str]]:
        """(flag, value) pairs, written as directives in batch scripts and as arguments of the
        interactive command."""

    @abc.abstractmethod
    def interactive_argv(self, options: LabOptions, script: Path) -> list[str]: ...

    @abc.abstractmethod
    def interactive_submission(self, output: str) -> Submission | None:
        """The job id (and queue) from what the interactive command printed so far."""

    @abc.abstractmethod
    async def submit_script(self, script: str, options: LabOptions) -> Submission: ...

    def directive(self, flag: str, value: str) -> str:
        return f"{self.directive_prefix} {flag} {value}".rstrip()

    def option_words(self, options: LabOptions) -> list[str]:
        """The resource options as arguments of the interactive command."""
        return [word for pair in self.resource_options(options, None) for word in pair if word]

    def refusal_hint(self, error: str) -> str:
        return ""

    def check_queue_limits(self, options: LabOptions) -> None:
        """QueueLimitExceeded when the walltime is above the limit of the queue the job goes
        to; a scheduler that refuses such jobs itself is left to say so in its own words."""
        if not self.pends_past_queue_limits:
            return
        try:
            queues = self.queues()
        except SchedulerCommandFailed:
            return  # the submission will meet the same trouble and report it
        if problem := self.queue_limit_problem(queues, options):
            raise QueueLimitExceeded(problem)

    def queue_limit_problem(self, queues: list[QueueInfo], options: LabOptions) -> str | None:
        if options.queue:
            queue = next((q for q in queues if q.name == options.queue), None)
        else:
            queue = next((q for q in queues if q.default), None)
        if queue is None or queue.max_walltime_min is None:
            return None  # an unknown queue is refused by the scheduler, in its words
        if options.walltime_minutes <= queue.max_walltime_min:
            return None
        limit = format_walltime(queue.max_walltime_min)
        return (
            f"--walltime {format_walltime(options.walltime_minutes)} is above the {limit} "
            f"limit of {self.queue_word} {queue.name}: {self.title} would keep the job "
            f"waiting forever. Ask for at most --walltime {limit}, or another --queue "
            f"(`{self.queue_limits_shown_by.format(queue=queue.name)}` shows the limits)."
        )

    def queues(self) -> list[QueueInfo]:
        """The scheduler's queues, asked once per command."""
        if self._queues is None:
            self._queues = asyncio.run(self.client.queues())
        return self._queues

    def reached_walltime(
        self, info: JobInfo | None, log_tail: str, walltime_minutes: int | None = None
    ) -> bool:
        """Whether the ended job was ended by its walltime, from the scheduler's record and the
        end of its log."""
        return False

    # ---- the client's async calls, for this synchronous CLI ---------------------------------

    def submit(self, script: str, options: LabOptions) -> Submission:
        try:
            return asyncio.run(self.submit_script(script, options))
        except SchedulerCommandFailed as exc:
            # No exit code: the command did not run or did not answer, which is not a refusal.
            if exc.returncode is None:
                raise
            raise SubmitRefused(exc.command, exc.output.strip() or str(exc)) from None

    def job(self, job_id: str) -> JobInfo | None:
        """The job's record, None when the scheduler no longer knows it."""
        return asyncio.run(self.client.job_states([job_id])).get(job_id)

    def kill(self, job_id: str) -> None:
        asyncio.run(self.client.kill([job_id]))

    def wait_ended(self, job_id: str, timeout: float) -> bool:
        """Whether the job ended (or the scheduler forgot it) within timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.job(job_id)
            if info is None or info.state.ended:
                return True
            time.sleep(0.5)
        return False

    # ---- PATH -------------------------------------------------------------------------------

    def missing(self, names: tuple[str, ...] | None = None, path: str | None = None) -> list[str]:
        return [n for n in names or self.lab_commands if shutil.which(n, path=path) is None]

    def present(self, path: str | None = None) -> bool:
        return self.scheduler.present(path)

    def no_commands_message(self, missing: list[str]) -> str:
        return (
            f"no {self.title} commands on PATH (missing: {' '.join(missing)}). Run this on a "
            f"login node of the cluster, or {self.load_hint}; `pangeo-hpc doctor` checks the "
            "whole setup."
        )

    def see_job(self, job_id: str) -> str:
        return f"`{self.query_command} {shlex.quote(job_id)}`"
