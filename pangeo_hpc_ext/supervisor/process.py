"""The supervisor process of one cluster: `python -m pangeo_hpc_ext.supervisor`, its settings and
spec as JSON on stdin. It starts the cluster, serves the control channel to one server at a time,
keeps its record and its job ledger current, and closes the cluster by itself (killing its jobs)
when nobody has used it for `idle_timeout` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import dask
import psutil

from ..backends import BACKENDS, JobEvents
from ..core.handle import AdaptBounds, ClusterEvents, ClusterSpec
from ..core.job_kill import kill_and_confirm
from ..core.ledger import JobLedger
from ..core.lifecycle import Status
from ..errors import PangeoHPCError, SchedulerCommandFailed, StateNotWritable
from .channel import LINE_LIMIT, ChannelClosed, peer_is_this_user, peer_process, receive, send
from .protocol import (
    Adapt,
    Close,
    Detach,
    Event,
    ForgetEnded,
    Hello,
    LaunchSettings,
    Notice,
    ProtocolError,
    Reply,
    Request,
    Scale,
    SupervisorState,
    request_from_json,
)
from .records import SupervisorRecord
from .runtime import InProcessCluster, import_ahead

log = logging.getLogger("pangeo_hpc_ext.supervisor")

TICK_S = 0.5
# A start failure is kept this long for the server to read before the process goes.
FAILURE_KEPT_S = 30.0
# A displaced server that does not read its announcement does not hold up the new one.
ANNOUNCE_TIMEOUT_S = 5.0


def error_text(error: BaseException) -> str:
    if isinstance(error, PangeoHPCError):
        return error.message
    return f"{type(error).__name__}: {error}"


class Supervisor:
    def __init__(self, settings: LaunchSettings) -> None:
        self.spec = spec = ClusterSpec.from_json(settings.spec)
        self.state_dir = Path(settings.state_dir)
        self.backend = BACKENDS[spec.backend]()
        client = getattr(self.backend, "client", None)
        if client is not None and settings.scheduler_timeout:
            client.timeout_s = settings.scheduler_timeout
        idle_timeout = settings.idle_timeout or float("inf")
        # Once its jobs' walltime has passed nobody replaces them here: no reason to linger.
        walltime = self.backend.walltime_s(spec.options)
        self.idle_timeout = min(idle_timeout, walltime) if walltime else idle_timeout
        self.ledger = JobLedger(self.state_dir)
        me = psutil.Process()
        self.record = SupervisorRecord(
            # Chosen by the server (the directory may be a private fallback), kept in the
            # record so that the next server finds it.
            spec,
            me.pid,
            me.create_time(),
            socket.gethostname(),
            settings.socket,
        )
        self.handle: InProcessCluster | None = None
        self.phase = Status.STARTING
        self.error: str | None = None
        self.peer: asyncio.StreamWriter | None = None
        self.outbox: asyncio.Queue[Notice] = asyncio.Queue()
        self.done = asyncio.Event()
        self.idle_since: float | None = time.monotonic()
        self.last_state: SupervisorState | None = None
        self.stopping: asyncio.Task[None] | None = None
        self.jobs_left = False  # a kill the scheduler did not confirm

    # -- what the server is told ---------------------------------------------------------------

    def state(self) -> SupervisorState:
        handle = self.handle
        if handle is None:
            return SupervisorState(self.phase, self.error)
        threads, memory = handle.resources()
        return SupervisorState(
            phase=self.phase,
            error=self.error,
            address=handle.scheduler_address,
            dashboard_port=handle.dashboard_port,
            dashboard_key=handle.dashboard_key,
            connected=handle.connected(),
            threads=threads,
            memory=memory,
            worker_dashboards=tuple(sorted(handle.worker_dashboards())),
            connected_job_ids=tuple(sorted(handle.connected_job_ids())),
            planned=handle.planned(),
            submissions=handle.submissions(),
            clients=handle.clients(),
            tasks=handle.tasks(),
        )

    def emit(self, event: Event, **values: Any) -> None:
        self.outbox.put_nowait(Notice.of(event, self.state(), **values))

    async def _deliver_forever(self) -> None:
        # One writer, so events reach the server in the order they happened.
        while True:
            notice = await self.outbox.get()
            if notice.state is not None:
                self.last_state = notice.state
            peer = self.peer
            if peer is None:
                continue  # the next server reads the record and a fresh state instead
            try:
                await send(peer, notice.to_json())
            except (ConnectionError, RuntimeError):
                if self.peer is peer:
                    self._lose_peer()

    # -- the cluster's jobs --------------------------------------------------------------------

    def _write_record(self) -> None:
        try:
            self.record.write(self.state_dir)
        except OSError as error:
            raise StateNotWritable(
                f"the cluster's record in state_dir {self.state_dir} cannot be written "
                f"({error.strerror or error})"
            ) from error

    def _submitted(self, job_id: str) -> None:
        self.spec.job_ids.append(job_id)
        self.emit(Event.SUBMITTED, job_id=job_id)  # first: the server can kill it whatever follows
        try:
            self.ledger.record(self.spec.id, self.backend.name, self.spec.job_ids)
            self._write_record()
        except StateNotWritable as error:
            # A job that no server restarted after a crash could find: the cluster fails, and
            # the server (or, with none attached, this process) kills its jobs.
            self.phase, self.error = Status.FAILED, error.message
            log.warning("cluster %s: %s", self.spec.id, self.error)
            self.emit(Event.FAILED, message=self.error)
            if self.peer is None and self.stopping is None:
                self.stopping = asyncio.ensure_future(self._stop(self.error))

    def _events(self) -> ClusterEvents:
        return ClusterEvents(
            jobs=JobEvents(
                submitted=self._submitted,
                submit_failed=lambda message: self.emit(Event.SUBMIT_FAILED, message=message),
                cancelled=lambda job_id: self.emit(Event.CANCELLED, job_id=job_id),
            ),
            worker_joined=lambda job_id: self.emit(Event.WORKER_JOINED, job_id=job_id),
            worker_left=lambda: self.emit(Event.WORKER_LEFT),
        )

    async def _kill_jobs(self) -> None:
        """Kill every job of this cluster that has not ended, and wait (bounded) for the
        scheduler to agree: nothing is left behind when this process goes."""
        job_ids = list(self.spec.job_ids)
        if not job_ids or not self.backend.has_jobs:
            return
        try:
            states = await self.backend.job_states(job_ids)
            unfinished = [j for j in job_ids if j in states and not states[j].finished]
        except SchedulerCommandFailed as error:
            log.warning("job states unavailable, killing all: %s", error.message)
            unfinished = job_ids
        failure = await kill_and_confirm(self.backend, unfinished, best_effort=True)
        if failure is not None:
            # The jobs may live on: their ledger entry stays for the next server's cleanup,
            # which finds this process gone.
            log.error("jobs of cluster %s may be left: %s", self.spec.id, failure.message)
            self.jobs_left = True

    async def close(self, why: str) -> None:
        log.info("closing cluster %s: %s", self.spec.id, why)
        self.phase = Status.CLOSING
        if self.handle is not None:
            try:
                await self.handle.close()
            except Exception:
                log.exception("closing the dask cluster")
        await self._kill_jobs()

    async def _stop(self, why: str) -> None:
        # A signal must end the process whatever the close meets (a scheduler command gone).
        try:
            await self.close(why)
        finally:
            self.done.set()

    # -- the control channel -------------------------------------------------------------------

    def _lose_peer(self) -> None:
        self.peer = None
        self.idle_since = time.monotonic()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not peer_is_this_user(writer.get_extra_info("socket")):
            writer.close()
            return
        try:
            try:
                hello_id, hello = request_from_json(await receive(reader))
            except ProtocolError as error:
                raise ChannelClosed(str(error)) from None
            if not isinstance(hello, Hello):
                raise ChannelClosed("the first message must be hello")
            displaced, self.peer = self.peer, writer
            if displaced is not None:
                await self._hand_over(displaced, writer)
            self.idle_since = None
            reply = Reply(hello_id, True, state=self.state(), spec=self.spec.to_json())
            await send(writer, reply.to_json())
            while True:
                message = await receive(reader)
                answer, request = await self._answer(message)
                await send(writer, answer.to_json())
                if isinstance(request, Close):
                    self.done.set()  # only now: the server has its answer
                    return
        except (ChannelClosed, ConnectionError) as why:
            log.info("server channel closed: %s", why)
        finally:
            if self.peer is writer:
                self._lose_peer()
            writer.close()

    async def _hand_over(self, displaced: asyncio.StreamWriter, new: asyncio.StreamWriter) -> None:
        """One server drives the cluster at a time: the one that said hello last (a server
        that reattaches at its start). The one it displaces is told who took over before its
        channel closes, so that it does not take the closed channel for this process's death."""
        peer = peer_process(new.get_extra_info("socket"))
        pid = peer[0] if peer is not None else None
        log.info("server pid %s takes the cluster over from the server attached so far", pid)
        announcement = Notice.of(Event.TAKEN_OVER, pid=pid, host=socket.gethostname())
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            await asyncio.wait_for(send(displaced, announcement.to_json()), ANNOUNCE_TIMEOUT_S)
        displaced.close()

    async def _answer(self, message: dict[str, Any]) -> tuple[Reply, Request | None]:
        """The reply to a message from the server, and its request (None when it is none)."""
        try:
            message_id, request = request_from_json(message)
        except ProtocolError as error:
            log.warning("a request failed: %s", error)
            return Reply(error.message_id, False, error=str(error)), None
        try:
            await self._carry_out(request)
        except Exception as error:
            log.warning("%s failed: %s", request.op.value, error_text(error))
            return Reply(message_id, False, error=error_text(error)), request
        return Reply(message_id, True, state=self.state()), request

    async def _carry_out(self, request: Request) -> None:
        if isinstance(request, Close):
            await self.close("closed by the server")
            return
        if isinstance(request, Detach):
            return  # the server stops and leaves the cluster running
        if isinstance(request, Hello):
            raise PangeoHPCError("hello is the first message of a channel, and only that")
        handle = self.handle
        if handle is None:
            raise PangeoHPCError(f"the cluster is {self.phase.value}, not running")
        if isinstance(request, Scale):
            await handle.scale(
                request.workers, requested=request.requested, ended=frozenset(request.ended)
            )
            if request.requested is not None:
                # The user's size, for the next server; adaptive mode is off.
                self.spec.requested, self.spec.adapt = request.requested, None
                self._write_record()
        elif isinstance(request, Adapt):
            await handle.adapt(request.minimum, request.maximum)
            self.spec.adapt = AdaptBounds(request.minimum, request.maximum)
            self._write_record()
        elif isinstance(request, ForgetEnded):
            await handle.forget_ended(set(request.job_ids))

    # -- the process -----------------------------------------------------------------------------

    async def _watch_forever(self) -> None:
        """Push state changes that no event announces (adaptive mode's plan), and close the
        cluster once nobody has used it for idle_timeout."""
        while not self.done.is_set():
            await asyncio.sleep(TICK_S)
            if self.handle is None:
                continue
            state = self.state()
            if state != self.last_state:
                self.outbox.put_nowait(Notice(Event.STATE, state=state))
            if self.peer is not None or state.clients:
                self.idle_since = None
            elif self.idle_since is None:
                self.idle_since = time.monotonic()
            elif time.monotonic() - self.idle_since >= self.idle_timeout:
                await self.close(f"idle for {self.idle_timeout:.0f} s with no server and no client")
                self.done.set()

    async def run(self) -> None:
        path = self.record.socket
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # left by a supervisor of the same id that was killed
        server = await asyncio.start_unix_server(self._serve, path=path, limit=LINE_LIMIT)
        os.chmod(path, 0o600)
        delivery = asyncio.create_task(self._deliver_forever())
        watch = asyncio.create_task(self._watch_forever())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(self._stop("signal")))
        try:
            self._write_record()
            self.handle = await InProcessCluster.start(self.spec, self.backend, self._events())
        except Exception as error:
            self.phase, self.error = Status.FAILED, error_text(error)
            log.warning("cluster %s failed to start: %s", self.spec.id, self.error)
            self.emit(Event.FAILED)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.done.wait(), FAILURE_KEPT_S)
        else:
            self.phase = Status.RUNNING
            self.emit(Event.STARTED)
            await self.done.wait()
        # Tell the server the last state, then go.
        await asyncio.sleep(0)
        server.close()
        for task in (watch, delivery):
            task.cancel()
        self.leave()

    def leave(self) -> None:
        """Nothing of this cluster is left once it goes but the jobs it could not kill."""
        if not self.jobs_left:
            self.ledger.forget(self.spec.id)
        self.record.remove(self.state_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.record.socket)


def main() -> None:
    # Started ahead of need as a spare (imports done), it waits here for its cluster; a spare
    # whose server went away reads nothing and leaves.
    import_ahead()
    text = sys.stdin.read()
    sys.stdin.close()
    if not text.strip():
        return
    settings = LaunchSettings.from_json(json.loads(text))
    log_file = os.open(settings.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd in (1, 2):
        os.dup2(log_file, fd)
    os.close(log_file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.pop("JPY_SESSION_NAME", None)
    # Workers in this process or its nannies (local clusters) serve no HTTP routes: their server
    # listens on loopback, where every local user could read /metrics; the scheduler's dashboard
    # (behind its key) shows the workers. The scheduler's routes have their own setting.
    dask.config.set({"distributed.worker.http.routes": []})
    asyncio.run(Supervisor(settings).run())
