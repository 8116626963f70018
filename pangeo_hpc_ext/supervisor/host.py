"""The server's side of supervisors: starting one per cluster, driving it, finding those an
earlier server left running, and noticing the death of one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil

from ..backends import Backend
from ..core.handle import ClusterEvents, ClusterHandle, ClusterHost, ClusterSpec, SurvivingCluster
from ..core.ledger import forget_in_ledger
from ..core.lifecycle import Status
from ..errors import SupervisorFailed
from .channel import LINE_LIMIT, ChannelClosed, peer_process, receive, send, socket_dir
from .protocol import (
    Hello,
    LaunchSettings,
    ProtocolError,
    Reply,
    message_from_json,
    request_to_json,
)
from .records import SupervisorRecord, records_dir, records_of_this_host
from .supervised import COMMAND_TIMEOUT_S, SupervisedCluster, kill_process_group

log = logging.getLogger(__name__)

# Python with dask takes a few seconds to start on a loaded login node.
LAUNCH_TIMEOUT_S = 60.0
START_TIMEOUT_S = 300.0
LOG_TAIL_BYTES = 4000
SPARE_DELAY_S = 30.0


def log_tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def remove_socket(path: Path) -> None:
    """Unlink a dead supervisor's socket: only a socket of this user's (a record may name any
    path)."""
    try:
        info = path.lstat()
    except OSError:
        return
    if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid():
        path.unlink(missing_ok=True)


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


def hand_over(process: subprocess.Popen[bytes], settings: LaunchSettings) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(settings.to_json()).encode())
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
        settings = LaunchSettings(
            spec=spec.to_json(),
            state_dir=str(self.state_dir),
            log=str(log_path),
            socket=str(path),
            idle_timeout=self.idle_timeout,
            scheduler_timeout=self.scheduler_timeout,
        )
        process = await self._take_spare()
        # Our child: its pid cannot be reused before we reap it.
        started = psutil.Process(process.pid).create_time()
        await asyncio.to_thread(hand_over, process, settings)
        try:
            handle = await self._connect(str(path), process.pid, started, events, process, log_path)
            state = await asyncio.wait_for(handle.ready, START_TIMEOUT_S)
        except asyncio.TimeoutError:
            kill_process_group(process.pid, started)
            raise SupervisorFailed(
                f"the cluster's supervisor did not start it in {START_TIMEOUT_S:.0f} s"
            ) from None
        finally:
            self._spare_later()
        if state.phase is Status.FAILED:
            await handle.close()
            raise SupervisorFailed(state.error or "the cluster failed to start")
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
            await send(writer, request_to_json(0, Hello()))
            hello = message_from_json(await asyncio.wait_for(receive(reader), COMMAND_TIMEOUT_S))
            if not isinstance(hello, Reply) or hello.state is None:
                raise ProtocolError("the answer to hello is a reply with the state")
        except (ConnectionError, ChannelClosed, ProtocolError, asyncio.TimeoutError) as error:
            writer.close()
            raise SupervisorFailed(
                f"the cluster's supervisor (pid {pid}) did not answer hello: {error}"
            ) from None
        return SupervisedCluster(reader, writer, pid, started, events, hello.state, process)

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
            if handle.phase is not Status.RUNNING:
                await handle.close()
                raise SupervisorFailed(f"it is {handle.phase.value}, not running")
            return handle

        return SurvivingCluster(
            record.spec, attach, f"its supervisor (pid {record.pid}) kept it running"
        )
