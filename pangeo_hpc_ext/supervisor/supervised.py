"""A cluster as the server drives it through its supervisor: reads answer from the last state the
supervisor reported, commands go over the channel (protocol.py), and the end of the channel is
judged: taken over, cut off, or dead."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass

import psutil

from ..core.handle import ClusterEvents, ClusterHandle
from ..core.lifecycle import Status
from ..errors import SupervisorFailed
from .channel import ChannelClosed, receive, send
from .protocol import (
    Adapt,
    Close,
    Detach,
    Event,
    ForgetEnded,
    Notice,
    ProtocolError,
    Reply,
    Request,
    Scale,
    SupervisorState,
    message_from_json,
    request_to_json,
)

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 60.0
# Closing kills and confirms every job, which a busy scheduler makes slow.
CLOSE_COMMAND_TIMEOUT_S = 120.0
# After its channel closed unannounced, how long a supervisor is given to end (if it is dying)
# before it is taken to live on.
DEATH_WAIT_S = 5.0


def supervisor_running(pid: int, started: float) -> bool:
    """The supervisor with this pid and start time runs (not a zombie, not a reused pid)."""
    try:
        process = psutil.Process(pid)
        return (
            abs(process.create_time() - started) <= 1 and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def kill_process_group(pid: int, started: float) -> None:
    """SIGKILL a supervisor's process group: the supervisor, and what it leaves in its session (a
    local cluster's worker processes). A pid that now belongs to another process (same number,
    another start time) is left alone. With the supervisor gone, its group's number stays
    reserved while a member lives, so the group is still only ever its own."""
    try:
        if abs(psutil.Process(pid).create_time() - started) > 1:
            log.warning("pid %s is not the supervisor started at %s; not killed", pid, started)
            return
    except psutil.NoSuchProcess:
        pass
    except psutil.Error as error:
        log.warning("supervisor pid %s cannot be checked (%s); not killed", pid, error)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass(frozen=True)
class ChannelEnd:
    """What the end of a supervisor's channel means for the server that drove it."""

    # The supervisor is dead: its process group and its jobs are to be killed.
    dead: bool
    why: str


def judge_channel_end(pid: int, taken_over_by: str | None, running: bool) -> ChannelEnd:
    """A closed channel is never proof of death by itself: another server may have taken the
    supervisor over (it says so before closing), or the channel alone broke. Only a supervisor
    whose pid with its start time is gone is dead."""
    if taken_over_by is not None:
        # Even should it die now, its new server deals with that.
        return ChannelEnd(False, f"attached to another JupyterLab ({taken_over_by})")
    if running:
        return ChannelEnd(
            False,
            f"cut off from this JupyterLab: the channel to its supervisor (pid {pid}) closed "
            "while the supervisor still runs",
        )
    return ChannelEnd(True, f"its supervisor process (pid {pid}) ended unexpectedly")


class SupervisedCluster(ClusterHandle):
    """A cluster held by a supervisor process. Reads come from the last state it reported;
    commands are sent and answered over the channel."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pid: int,
        started: float,
        events: ClusterEvents,
        state: SupervisorState,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.pid = pid
        # The supervisor's start time: with the pid, what tells it from a later process.
        self.started = started
        # Who took the supervisor over, once it said so.
        self.taken_over_by: str | None = None
        # Set once the supervisor lives on without this server (taken over, or cut off): it is
        # neither asked nor killed nor waited for any more.
        self._let_go = False
        self._events = events
        self._state = state
        self._process = process
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._leaving = False
        # The state once the cluster started, or failed to.
        self.ready: asyncio.Future[SupervisorState] = asyncio.get_running_loop().create_future()
        if state.phase in (Status.RUNNING, Status.FAILED):
            self.ready.set_result(state)
        self._listener = asyncio.create_task(self._listen())

    # -- reads -----------------------------------------------------------------------------------

    @property
    def phase(self) -> Status:
        """The supervisor's phase: starting, running, failed or closing."""
        return self._state.phase

    @property
    def scheduler_address(self) -> str | None:
        return self._state.address

    @property
    def dashboard_port(self) -> int | None:
        return self._state.dashboard_port

    @property
    def dashboard_key(self) -> str | None:
        return self._state.dashboard_key

    def connected(self) -> int:
        return self._state.connected

    def resources(self) -> tuple[int, int]:
        return self._state.threads, self._state.memory

    def worker_dashboards(self) -> set[tuple[str, int]]:
        return set(self._state.worker_dashboards)

    def connected_job_ids(self) -> set[str]:
        return set(self._state.connected_job_ids)

    def clients(self) -> int:
        return self._state.clients

    def tasks(self) -> int:
        return self._state.tasks

    def planned(self) -> int:
        return self._state.planned

    def submissions(self) -> int:
        return self._state.submissions

    # -- commands --------------------------------------------------------------------------------

    async def scale(
        self, workers: int, *, requested: int | None = None, ended: frozenset[str] = frozenset()
    ) -> None:
        await self.call(Scale(workers, requested, tuple(sorted(ended))))

    async def adapt(self, minimum: int, maximum: int) -> None:
        await self.call(Adapt(minimum, maximum))

    async def forget_ended(self, job_ids: set[str]) -> None:
        await self.call(ForgetEnded(tuple(sorted(job_ids))))

    def running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return supervisor_running(self.pid, self.started)

    async def close(self) -> None:
        self._leaving = True
        if not self._let_go:
            try:
                await self.call(Close(), timeout=CLOSE_COMMAND_TIMEOUT_S)
            except SupervisorFailed as error:
                # Taken over while closing: the new server has it now.
                if not self._let_go:
                    log.warning("supervisor %s: %s; killing it", self.pid, error.message)
                    kill_process_group(self.pid, self.started)
        await self._end()

    async def detach(self) -> None:
        self._leaving = True
        if not self._let_go:
            with contextlib.suppress(SupervisorFailed):
                await self.call(Detach())
        # It lives on: waiting to reap it held every stop with a kept cluster 10 s.
        self._let_go = True
        await self._end()

    async def _end(self) -> None:
        self._writer.close()
        self._listener.cancel()
        if self._process is not None and not self._let_go:  # reap this server's child
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._process.wait, 10)

    async def call(self, request: Request, *, timeout: float = COMMAND_TIMEOUT_S) -> Reply:
        """Send a request and wait for its answer; SupervisorFailed when it fails or none comes."""
        message_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._pending[message_id] = answer
        op = request.op.value
        try:
            await send(self._writer, request_to_json(message_id, request))
            reply = await asyncio.wait_for(answer, timeout)
        except (ConnectionError, RuntimeError, ChannelClosed) as error:
            raise SupervisorFailed(
                f"the cluster's supervisor (pid {self.pid}) is gone: {error}"
            ) from error
        except asyncio.TimeoutError:
            raise SupervisorFailed(
                f"the cluster's supervisor (pid {self.pid}) did not answer {op} in {timeout:.0f} s"
            ) from None
        finally:
            self._pending.pop(message_id, None)
        if not reply.ok:
            raise SupervisorFailed(reply.error or f"{op} failed")
        return reply

    # -- what the supervisor reports -----------------------------------------------------------

    async def _listen(self) -> None:
        try:
            while True:
                try:
                    message = message_from_json(await receive(self._reader))
                except ProtocolError as error:
                    log.warning("supervisor %s sent an unknown message: %s", self.pid, error)
                    continue
                if message.state is not None:
                    self._state = message.state
                if isinstance(message, Reply):
                    answer = self._pending.get(message.reply) if message.reply is not None else None
                    if answer is not None and not answer.done():
                        answer.set_result(message)
                    continue
                self._dispatch(message)
        except ChannelClosed as why:
            closed = why
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ChannelClosed(str(closed)))
        if self._leaving:
            return
        running = self.taken_over_by is not None or await self._still_running()
        end = judge_channel_end(self.pid, self.taken_over_by, running)
        if not end.dead:
            self._let_go = True
            log.warning("cluster of supervisor %s: %s (%s)", self.pid, end.why, closed)
            self._events.displaced(end.why)
            return
        self._events.lost(await self._cause_of_death(end.why))

    async def _still_running(self) -> bool:
        """Whether the supervisor lives on after its channel closed; one that is dying is given
        a moment to end."""
        deadline = time.monotonic() + DEATH_WAIT_S
        while self.running():
            if time.monotonic() > deadline:
                return True
            await asyncio.sleep(0.1)
        return False

    def _dispatch(self, notice: Notice) -> None:
        event = notice.event
        jobs = self._events.jobs
        if event is Event.SUBMITTED:
            jobs.submitted(str(notice.job_id))
        elif event is Event.SUBMIT_FAILED:
            jobs.submit_failed(str(notice.message))
        elif event is Event.CANCELLED:
            jobs.cancelled(str(notice.job_id))
        elif event is Event.WORKER_JOINED:
            self._events.worker_joined(notice.job_id)
        elif event is Event.WORKER_LEFT:
            self._events.worker_left()
        elif event is Event.TAKEN_OVER:
            self._let_go = True
            pid, host = notice.pid, notice.host
            self.taken_over_by = (
                f"pid {'unknown' if pid is None else pid} "
                f"on {'this host' if host is None else host[:200]}"
            )
        elif event is Event.FAILED and self.ready.done():  # after it ran, e.g. state_dir full
            self._events.lost(notice.message or "the cluster failed")
        if event in (Event.STARTED, Event.FAILED) and not self.ready.done():
            self.ready.set_result(self._state)

    async def _cause_of_death(self, why: str) -> str:
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._process.wait, 5)
            code = self._process.returncode
            if code is not None and code < 0:
                why = f"its supervisor process (pid {self.pid}) was killed by "
                why += f"{signal.Signals(-code).name}"
            elif code is not None:
                why = f"its supervisor process (pid {self.pid}) exited with status {code}"
            why += " unexpectedly"
        kill_process_group(self.pid, self.started)
        return f"{why}; its jobs were cancelled"
