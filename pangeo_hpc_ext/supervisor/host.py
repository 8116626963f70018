"""The server's side of supervisors: starting one per cluster, driving it, finding those an
earlier server left running, and noticing the death of one."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from ..backends import Backend
from ..core.handle import ClusterEvents, ClusterHandle, ClusterHost, ClusterSpec, SurvivingCluster
from ..core.ledger import forget_in_ledger
from ..errors import SupervisorFailed
from .channel import (
    LINE_LIMIT,
    TAKEN_OVER,
    ChannelClosed,
    peer_process,
    receive,
    send,
    socket_dir,
)
from .records import SupervisorRecord, records_dir, records_of_this_host

log = logging.getLogger(__name__)

# Python with dask takes a few seconds to start on a loaded login node.
LAUNCH_TIMEOUT_S = 60.0
START_TIMEOUT_S = 300.0
COMMAND_TIMEOUT_S = 60.0
# Closing kills and confirms every job, which a busy scheduler makes slow.
CLOSE_COMMAND_TIMEOUT_S = 120.0
LOG_TAIL_BYTES = 4000
SPARE_DELAY_S = 30.0
# After its channel closed unannounced, how long a supervisor is given to end (if it is dying)
# before it is taken to live on.
DEATH_WAIT_S = 5.0


def log_tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


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


def remove_socket(path: Path) -> None:
    """Unlink a dead supervisor's socket: only a socket of this user's (a record may name any
    path)."""
    try:
        info = path.lstat()
    except OSError:
        return
    if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid():
        path.unlink(missing_ok=True)


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
        state: dict[str, Any],
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
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._leaving = False
        self.started = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._listen())

    # -- reads -----------------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        """The supervisor's word: starting, running, failed or closing."""
        return str(self._state.get("phase"))

    @property
    def scheduler_address(self) -> str | None:
        return self._state.get("address")

    @property
    def dashboard_port(self) -> int | None:
        return self._state.get("dashboard_port")

    @property
    def dashboard_key(self) -> str | None:
        key = self._state.get("dashboard_key")
        return key if isinstance(key, str) else None

    def connected(self) -> int:
        return int(self._state.get("connected") or 0)

    def resources(self) -> tuple[int, int]:
        return int(self._state.get("threads") or 0), int(self._state.get("memory") or 0)

    def worker_dashboards(self) -> set[tuple[str, int]]:
        return {(str(h), int(p)) for h, p in self._state.get("worker_dashboards") or []}

    def connected_job_ids(self) -> set[str]:
        return {str(j) for j in self._state.get("connected_job_ids") or []}

    def clients(self) -> int:
        return int(self._state.get("clients") or 0)

    def tasks(self) -> int:
        return int(self._state.get("tasks") or 0)

    def planned(self) -> int:
        return int(self._state.get("planned") or 0)

    def submissions(self) -> int:
        return int(self._state.get("submissions") or 0)

    # -- commands --------------------------------------------------------------------------------

    async def scale(self, workers: int) -> None:
        await self._call("scale", workers=workers)

    async def adapt(self, minimum: int, maximum: int) -> None:
        await self._call("adapt", minimum=minimum, maximum=maximum)

    async def stop_adapt(self) -> None:
        await self._call("stop_adapt")

    async def forget_ended(self, job_ids: set[str]) -> None:
        await self._call("forget_ended", job_ids=sorted(job_ids))

    async def note(self, spec: ClusterSpec) -> None:
        await self._call("note", spec=spec.to_json())

    def running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return supervisor_running(self.pid, self.started)

    async def close(self) -> None:
        self._leaving = True
        if not self._let_go:
            try:
                await self._call("close", timeout=CLOSE_COMMAND_TIMEOUT_S)
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
                await self._call("detach")
        # It lives on: waiting to reap it held every stop with a kept cluster 10 s.
        self._let_go = True
        await self._end()

    async def _end(self) -> None:
        self._writer.close()
        self._listener.cancel()
        if self._process is not None and not self._let_go:  # reap this server's child
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._process.wait, 10)

    async def _call(
        self, op: str, *, timeout: float = COMMAND_TIMEOUT_S, **fields: Any
    ) -> dict[str, Any]:
        message_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._pending[message_id] = answer
        try:
            await send(self._writer, {"id": message_id, "op": op, **fields})
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
        if not reply.get("ok"):
            raise SupervisorFailed(str(reply.get("error") or f"{op} failed"))
        return reply

    # -- what the supervisor reports -----------------------------------------------------------

    async def _listen(self) -> None:
        try:
            while True:
                message = await receive(self._reader)
                if isinstance(message.get("state"), dict):
                    self._state = message["state"]
                if "reply" in message:
                    answer = self._pending.get(message["reply"])
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

    def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        jobs = self._events.jobs
        if event == "submitted":
            jobs.submitted(str(message["job_id"]))
        elif event == "submit_failed":
            jobs.submit_failed(str(message["message"]))
        elif event == "cancelled":
            jobs.cancelled(str(message["job_id"]))
        elif event == "worker_joined":
            job_id = message.get("job_id")
            self._events.worker_joined(str(job_id) if job_id is not None else None)
        elif event == "worker_left":
            self._events.worker_left()
        elif event == TAKEN_OVER:
            self._let_go = True
            pid, host = message.get("pid"), message.get("host")
            self.taken_over_by = (
                f"pid {pid if isinstance(pid, int) else 'unknown'} "
                f"on {host[:200] if isinstance(host, str) else 'this host'}"
            )
        elif event == "failed" and self.started.done():  # after it ran, e.g. state_dir full
            self._events.lost(str(message.get("message") or "the cluster failed"))
        if event in ("started", "failed") and not self.started.done():
            self.started.set_result(self._state)

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


def spawn(log_path: Path, environ: dict[str, str]) -> subprocess.Popen[bytes]:
    """A supervisor that imports what it needs, then waits on stdin for its cluster."""
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "pangeo_hpc_ext.supervisor"],
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environ,
            # Its own session: a Ctrl-C or a kill of the server's group does not reach it.
            start_new_session=True,
        )


def hand_over(process: subprocess.Popen[bytes], settings: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(settings).encode())
    process.stdin.close()


class SupervisorHost(ClusterHost):
    """One supervisor process per cluster, detached from the server's process group."""

    records_jobs = True

    def __init__(
        self, state_dir: Path, *, idle_timeout: float, scheduler_timeout: float | None = None
    ) -> None:
        self.state_dir = state_dir
        self.idle_timeout = idle_timeout
        self.scheduler_timeout = scheduler_timeout
        self._spare: subprocess.Popen[bytes] | None = None
        self._spare_timer: asyncio.TimerHandle | None = None
        self._spare_task: asyncio.Future[None] | None = None
        # The server's environment before it adds what its kernels get (a scheduler preload
        # that registers notebook clusters, a dashboard link): a supervisor's scheduler is ours.
        self._environ = dict(os.environ)
        # What a supervisor prints before it has a cluster (and so a log of its own).
        self._spare_log = records_dir(state_dir) / "supervisor-start.log"
        self._socket_dir: Path | None = None

    def _socket_path(self, cluster_id: str) -> Path:
        """Where a new cluster's supervisor listens; the supervisor records it. The directory
        is chosen once per server: a fallback for a squatted one is made only once."""
        if self._socket_dir is None:
            self._socket_dir = socket_dir()
        return self._socket_dir / f"{cluster_id}.sock"

    async def open(self) -> None:
        await self._prepare_spare()

    async def close(self) -> None:
        if self._spare_timer is not None:
            self._spare_timer.cancel()
        if self._spare_task is not None:
            await self._spare_task
        spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is None:
            spare.kill()  # ours, waiting on stdin: it holds nothing
            await asyncio.to_thread(spare.wait)

    async def _prepare_spare(self) -> None:
        """Python and dask take seconds to import on a login node: a supervisor started ahead,
        waiting for its cluster, takes them off the time to a cluster."""
        directory = records_dir(self.state_dir)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._spare = await asyncio.to_thread(spawn, self._spare_log, self._environ)

    def _spare_later(self) -> None:
        """The next cluster's spare, once this one's workers are likely up: its imports would
        take CPU from them on a small login node."""
        if self._spare_timer is not None:
            self._spare_timer.cancel()

        def prepare() -> None:
            self._spare_timer = None
            if self._spare is None:
                self._spare_task = asyncio.ensure_future(self._prepare_spare())

        self._spare_timer = asyncio.get_running_loop().call_later(SPARE_DELAY_S, prepare)

    async def _take_spare(self) -> subprocess.Popen[bytes]:
        spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is None:
            return spare
        await self._prepare_spare()
        assert self._spare is not None
        spare, self._spare = self._spare, None
        return spare

    async def start(
        self, spec: ClusterSpec, backend: Backend, events: ClusterEvents
    ) -> ClusterHandle:
        log_path = records_dir(self.state_dir) / f"{spec.id}.log"
        path = await asyncio.to_thread(self._socket_path, spec.id)
        settings = {
            "spec": spec.to_json(),
            "state_dir": str(self.state_dir),
            "log": str(log_path),
            "socket": str(path),
            "idle_timeout": self.idle_timeout,
            "scheduler_timeout": self.scheduler_timeout,
        }
        process = await self._take_spare()
        # Our child: its pid cannot be reused before we reap it.
        started = psutil.Process(process.pid).create_time()
        await asyncio.to_thread(hand_over, process, settings)
        try:
            handle = await self._connect(str(path), process.pid, started, events, process, log_path)
            state = await asyncio.wait_for(handle.started, START_TIMEOUT_S)
        except asyncio.TimeoutError:
            kill_process_group(process.pid, started)
            raise SupervisorFailed(
                f"the cluster's supervisor did not start it in {START_TIMEOUT_S:.0f} s"
            ) from None
        finally:
            self._spare_later()
        if state.get("phase") == "failed":
            await handle.close()
            raise SupervisorFailed(str(state.get("error") or "the cluster failed to start"))
        return handle

    async def _connect(
        self,
        path: str,
        pid: int,
        started: float,
        events: ClusterEvents,
        process: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
    ) -> SupervisedCluster:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LAUNCH_TIMEOUT_S
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(path, limit=LINE_LIMIT)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if process is not None and process.poll() is not None:
                    tail = log_tail(log_path) if log_path else ""
                    raise SupervisorFailed(
                        f"the cluster's supervisor exited with status {process.returncode}"
                        + (f": {tail[-1000:]}" if tail else "")
                    ) from None
                if loop.time() > deadline:
                    if process is not None:  # ours, and stuck; one found running is left be
                        kill_process_group(pid, started)
                    raise SupervisorFailed(
                        f"the cluster's supervisor (pid {pid}) did not listen within "
                        f"{LAUNCH_TIMEOUT_S:.0f} s"
                    ) from None
                await asyncio.sleep(0.05)
        peer = peer_process(writer.get_extra_info("socket"))
        if peer is not None and peer != (pid, os.getuid()):
            # A socket that the supervisor does not hold: nothing is said to it.
            writer.close()
            raise SupervisorFailed(
                f"the socket {path} is held by pid {peer[0]} (uid {peer[1]}), not by the "
                f"cluster's supervisor (pid {pid})"
            )
        try:
            await send(writer, {"id": 0, "op": "hello"})
            hello = await asyncio.wait_for(receive(reader), COMMAND_TIMEOUT_S)
        except (ConnectionError, ChannelClosed, asyncio.TimeoutError) as error:
            writer.close()
            raise SupervisorFailed(
                f"the cluster's supervisor (pid {pid}) did not answer hello: {error}"
            ) from None
        state = hello.get("state") if isinstance(hello.get("state"), dict) else {}
        handle = SupervisedCluster(reader, writer, pid, started, events, state, process)
        if state.get("phase") in ("running", "failed"):
            handle.started.set_result(state)
        return handle

    async def surviving(self) -> list[SurvivingCluster]:
        found = []
        for record in await asyncio.to_thread(records_of_this_host, self.state_dir):
            found.append(self._survivor(record))
        return found

    async def forget(self, cluster_id: str) -> None:
        await asyncio.to_thread(self._remove_leftovers, cluster_id)

    def _remove_leftovers(self, cluster_id: str) -> None:
        """What a deleted cluster's supervisor left if it could not clean up itself (it was
        killed): its record, its ledger, its socket; and its log, which it always leaves."""
        path = records_dir(self.state_dir) / f"{cluster_id}.json"
        record = SupervisorRecord.read(path, self.state_dir) if path.exists() else None
        # A supervisor that is still ending (it answered close) removes its own.
        if record is not None and not record.alive():
            forget_in_ledger(self.state_dir, record.host, record.pid, cluster_id)
            remove_socket(Path(record.socket))
            record.remove(self.state_dir)
        if self._socket_dir is not None:
            remove_socket(self._socket_dir / f"{cluster_id}.sock")
        (records_dir(self.state_dir) / f"{cluster_id}.log").unlink(missing_ok=True)

    def _survivor(self, record: SupervisorRecord) -> SurvivingCluster:
        if not record.alive():
            kill_process_group(record.pid, record.started)
            remove_socket(Path(record.socket))
            why = (
                f"its supervisor process (pid {record.pid}) ended while no server watched it; "
                "its jobs were cancelled"
            )
            return SurvivingCluster(record.spec, None, why)

        async def attach(events: ClusterEvents) -> ClusterHandle:
            handle = await self._connect(record.socket, record.pid, record.started, events)
            if handle.phase != "running":
                await handle.close()
                raise SupervisorFailed(f"it is {handle.phase}, not running")
            return handle

        return SurvivingCluster(
            record.spec, attach, f"its supervisor (pid {record.pid}) kept it running"
        )
