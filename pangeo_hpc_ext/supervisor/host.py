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
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..backends import Backend
from ..core.handle import ClusterEvents, ClusterHandle, ClusterHost, ClusterSpec, SurvivingCluster
from ..errors import SupervisorFailed
from .channel import LINE_LIMIT, ChannelClosed, receive, send, socket_path
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


def log_tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def kill_process_group(pid: int) -> None:
    """What a dead supervisor leaves in its session (a local cluster's worker processes)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class SupervisedCluster(ClusterHandle):
    """A cluster held by a supervisor process. Reads come from the last state it reported;
    commands are sent and answered over the channel."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pid: int,
        events: ClusterEvents,
        state: dict[str, Any],
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.pid = pid
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

    async def close(self) -> None:
        self._leaving = True
        try:
            await self._call("close", timeout=CLOSE_COMMAND_TIMEOUT_S)
        except SupervisorFailed as error:
            log.warning("supervisor %s: %s; killing it", self.pid, error.message)
            kill_process_group(self.pid)
        await self._end()

    async def detach(self) -> None:
        self._leaving = True
        with contextlib.suppress(SupervisorFailed):
            await self._call("detach")
        await self._end()

    async def _end(self) -> None:
        self._writer.close()
        self._listener.cancel()
        if self._process is not None:  # reap it: it was this server's child
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
        if not self._leaving:
            self._events.lost(await self._cause_of_death())

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
        elif event == "failed" and self.started.done():  # after it ran, e.g. state_dir full
            self._events.lost(str(message.get("message") or "the cluster failed"))
        if event in ("started", "failed") and not self.started.done():
            self.started.set_result(self._state)

    async def _cause_of_death(self) -> str:
        how = "ended"
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._process.wait, 5)
            code = self._process.returncode
            if code is not None and code < 0:
                how = f"was killed by {signal.Signals(-code).name}"
            elif code is not None:
                how = f"exited with status {code}"
        kill_process_group(self.pid)
        return (
            f"its supervisor process (pid {self.pid}) {how} unexpectedly; its jobs were cancelled"
        )


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
        settings = {
            "spec": spec.to_json(),
            "state_dir": str(self.state_dir),
            "log": str(log_path),
            "idle_timeout": self.idle_timeout,
            "scheduler_timeout": self.scheduler_timeout,
        }
        process = await self._take_spare()
        await asyncio.to_thread(hand_over, process, settings)
        try:
            handle = await self._connect(
                str(socket_path(spec.id)), process.pid, events, process, log_path
            )
            state = await asyncio.wait_for(handle.started, START_TIMEOUT_S)
        except asyncio.TimeoutError:
            kill_process_group(process.pid)
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
                    kill_process_group(pid)
                    raise SupervisorFailed(
                        f"the cluster's supervisor (pid {pid}) did not listen within "
                        f"{LAUNCH_TIMEOUT_S:.0f} s"
                    ) from None
                await asyncio.sleep(0.05)
        await send(writer, {"id": 0, "op": "hello"})
        hello = await asyncio.wait_for(receive(reader), COMMAND_TIMEOUT_S)
        handle = SupervisedCluster(reader, writer, pid, events, hello.get("state") or {}, process)
        if hello["state"].get("phase") in ("running", "failed"):
            handle.started.set_result(hello["state"])
        return handle

    async def surviving(self) -> list[SurvivingCluster]:
        found = []
        for record in await asyncio.to_thread(records_of_this_host, self.state_dir):
            found.append(self._survivor(record))
        return found

    def _survivor(self, record: SupervisorRecord) -> SurvivingCluster:
        def forget() -> None:
            record.remove(self.state_dir)

        if not record.alive():
            kill_process_group(record.pid)
            why = (
                f"its supervisor process (pid {record.pid}) ended while no server watched it; "
                "its jobs were cancelled"
            )
            return SurvivingCluster(record.spec, None, why, forget)

        async def attach(events: ClusterEvents) -> ClusterHandle:
            handle = await self._connect(record.socket, record.pid, events)
            if handle.phase != "running":
                await handle.close()
                raise SupervisorFailed(f"it is {handle.phase}, not running")
            return handle

        return SurvivingCluster(
            record.spec, attach, f"its supervisor (pid {record.pid}) kept it running", forget
        )
