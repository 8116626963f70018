"""The supervisor protocol: every message survives the wire, both ends speak only its names, and
one PATCH of `workers` costs one request on the socket."""

from __future__ import annotations

import ast
import asyncio
import json
import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from pangeo_hpc_ext.backends.base import Backend, JobEvents
from pangeo_hpc_ext.core.handle import (
    AdaptBounds,
    ClusterEvents,
    ClusterHandle,
    ClusterSpec,
)
from pangeo_hpc_ext.core.ledger import JobLedger
from pangeo_hpc_ext.core.lifecycle import Phase, Status
from pangeo_hpc_ext.core.manager import ClusterManager
from pangeo_hpc_ext.core.profiles import Profile
from pangeo_hpc_ext.schedulers.base import JobInfo, JobState
from pangeo_hpc_ext.supervisor import protocol
from pangeo_hpc_ext.supervisor.host import SupervisorHost
from pangeo_hpc_ext.supervisor.process import Supervisor
from pangeo_hpc_ext.supervisor.protocol import (
    EVENT_FIELDS,
    Adapt,
    Close,
    Detach,
    Event,
    ForgetEnded,
    Hello,
    LaunchSettings,
    Notice,
    Op,
    ProtocolError,
    Reply,
    Request,
    Scale,
    SupervisorState,
    message_from_json,
    request_from_json,
    request_to_json,
)
from pangeo_hpc_ext.supervisor.records import SupervisorRecord, records_dir
from pangeo_hpc_ext.supervisor.runtime import InProcessCluster, InProcessHost
from pangeo_hpc_ext.supervisor.supervised import SupervisedCluster
from tests.unit.fake_backend import FakeBackend

PACKAGE = Path(__file__).resolve().parents[2] / "pangeo_hpc_ext"

FULL_STATE = SupervisorState(
    phase=Status.RUNNING,
    error=None,
    address="tls://127.0.0.1:8786",
    dashboard_port=8787,
    dashboard_key="k" * 32,
    connected=2,
    threads=4,
    memory=8 << 30,
    worker_dashboards=(("127.0.0.1", 40001), ("127.0.0.1", 40002)),
    connected_job_ids=("11", "12"),
    planned=3,
    submissions=3,
    clients=1,
    tasks=5,
)

REQUESTS: list[Request] = [
    Hello(),
    Scale(3),
    Scale(4, requested=4, ended=("7", "8")),
    Adapt(1, 6),
    ForgetEnded(("7",)),
    Close(),
    Detach(),
]

SAMPLE_VALUES: dict[type, Any] = {str: "42", int: 4242}


def wire(data: dict[str, Any]) -> dict[str, Any]:
    """As the channel carries it: one JSON line."""
    return json.loads(json.dumps(data, separators=(",", ":")))


def test_every_request_round_trips() -> None:
    assert {r.op for r in REQUESTS} == set(Op), "a sample of every operation"
    for number, request in enumerate(REQUESTS):
        assert request_from_json(wire(request_to_json(number, request))) == (number, request)


def test_every_event_and_reply_round_trips() -> None:
    for event in Event:
        values = {key: SAMPLE_VALUES[kind] for key, kind in EVENT_FIELDS[event].items()}
        for state in (None, FULL_STATE, SupervisorState(Status.STARTING)):
            notice = Notice(event, values, state)
            assert message_from_json(wire(notice.to_json())) == notice
    spec = ClusterSpec("0123456789abcdef", "n", "local", "local", {}, 2, "2026-12-01")
    spec.adapt = AdaptBounds(0, 4)
    for reply in (
        Reply(0, True, state=FULL_STATE, spec=spec.to_json()),
        Reply(3, True, state=SupervisorState(Status.CLOSING, error="closed by the server")),
        Reply(4, False, error="the cluster is starting, not running"),
    ):
        assert message_from_json(wire(reply.to_json())) == reply
    assert ClusterSpec.from_json(wire(spec.to_json())) == spec
    settings = LaunchSettings(spec.to_json(), "/s", "/s/c.log", "/run/c.sock", 1800.0, None)
    assert LaunchSettings.from_json(wire(settings.to_json())) == settings


@pytest.mark.parametrize(
    "message",
    [
        {"id": 1, "op": "note", "spec": {}},
        {"id": 1, "op": "scale"},
        {"id": 1, "op": "scale", "workers": "3"},
        {"id": 1, "op": "adapt", "minimum": True, "maximum": 2},
    ],
)
def test_a_request_outside_the_protocol_is_refused(message: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        request_from_json(message)


@pytest.mark.parametrize(
    "message",
    [
        {"event": "noted"},
        {"event": "submitted", "job_id": 7},
        {"event": "state", "state": {"phase": "scaled"}},
    ],
)
def test_an_event_outside_the_protocol_is_refused(message: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        message_from_json(message)


def protocol_words() -> set[str]:
    keys = {"id", "op", "event", "reply", "ok", "error", "state", "spec"}
    keys |= {f for fields in EVENT_FIELDS.values() for f in fields}
    return keys | {m.value for m in (*Op, *Event, *Status)}


def test_both_ends_use_the_protocol_s_names_not_their_own_strings() -> None:
    """The server's side (host.py, supervised.py) and the supervisor's (process.py) name no
    operation, event, phase or message key as a bare string: each comes from protocol.py, so a
    name that is not in the protocol cannot be sent or read."""
    words = protocol_words()
    found = []
    for name in ("host.py", "supervised.py", "process.py"):
        tree = ast.parse((PACKAGE / "supervisor" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in words:
                found.append(f"{name}:{node.lineno}: {node.value!r}")
    assert not found, f"bare protocol strings outside protocol.py: {found}"


def test_protocol_names_one_lifecycle() -> None:
    """A supervisor's phase and the REST status are one vocabulary."""
    assert Phase is Status
    assert protocol.SupervisorState(Status.RUNNING).phase.value == "running"


class CountingHost(InProcessHost):
    """In-process clusters whose every command is written down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def start(
        self, spec: ClusterSpec, backend: Backend, events: ClusterEvents
    ) -> ClusterHandle:
        calls = self.calls

        class Counting(InProcessCluster):
            async def scale(
                self,
                workers: int,
                *,
                requested: int | None = None,
                ended: frozenset[str] = frozenset(),
            ) -> None:
                calls.append(("scale", (workers, requested, ended)))
                await super().scale(workers, requested=requested, ended=ended)

            async def adapt(self, minimum: int, maximum: int) -> None:
                calls.append(("adapt", (minimum, maximum)))
                await super().adapt(minimum, maximum)

            async def forget_ended(self, job_ids: set[str]) -> None:
                calls.append(("forget_ended", job_ids))
                await super().forget_ended(job_ids)

        cluster = await backend.start_cluster(spec.options, name=spec.id, events=events.jobs)
        return Counting(cluster, backend, events)  # type: ignore[arg-type]


def test_one_patch_of_workers_is_one_command_to_the_cluster(tmp_path: Path) -> None:
    """Scaling an adaptive cluster with an ended job used to cost four round trips to its
    supervisor (stop_adapt, forget_ended, scale, note); now it is one scale that carries all."""

    async def main() -> None:
        backend = FakeBackend()
        host = CountingHost()
        manager = ClusterManager(
            {"fake": Profile("fake", "Fake", backend, tls=False)},
            ledger=JobLedger(tmp_path / "state"),
            poll_interval=3600,
            host=host,
        )
        await manager.start()
        try:
            managed = await manager.create("fake", {}, 2)
            for _ in range(1000):
                if managed.phase is Phase.RUNNING and len(managed.job_ids) == 2:
                    break
                await asyncio.sleep(0.001)
            await manager.adapt(managed.id, AdaptBounds(0, 4))
            ended = managed.job_ids[0]
            # Read as ended (the refresh's bookkeeping), not yet told to the cluster.
            backend.states[ended] = managed.jobs[ended] = JobInfo(ended, JobState.FAILED, "EXIT")
            host.calls.clear()
            await manager.scale(managed.id, 3)
            assert host.calls == [("scale", (3, 3, frozenset({ended})))]
            assert managed.adapt_bounds is None and managed.spec.requested == 3
        finally:
            await manager.stop()

    asyncio.run(main())


def test_a_scale_request_is_carried_out_and_recorded_in_one_round_trip(tmp_path: Path) -> None:
    """Over the real channel: one request; the supervisor's adaptive mode ends, its record keeps
    the size for the next server."""

    async def main() -> None:
        spec = ClusterSpec("0123456789abcdef", "n", "local", "local", {}, 1, "2026-12-01")
        path = tmp_path / f"{spec.id}.sock"  # as the record's schema wants it
        supervisor = Supervisor(
            LaunchSettings(spec.to_json(), str(tmp_path), str(tmp_path / "log"), str(path))
        )
        records_dir(tmp_path).mkdir(parents=True)
        backend = FakeBackend()
        events = ClusterEvents(
            jobs=JobEvents(submitted=lambda job_id: None, submit_failed=lambda text: None),
            worker_joined=lambda job_id: None,
            worker_left=lambda: None,
        )
        cluster = await backend.start_cluster({}, name=spec.id, events=events.jobs)
        supervisor.handle = InProcessCluster(cluster, backend, events)  # type: ignore[arg-type]
        supervisor.phase = Status.RUNNING
        answered: list[Any] = []
        answer = supervisor._answer

        async def counted(message: dict[str, Any]) -> Any:
            answered.append(message["op"])
            return await answer(message)

        supervisor._answer = counted  # type: ignore[method-assign]
        server = await asyncio.start_unix_server(supervisor._serve, path=str(path))
        me = psutil.Process()
        handle = await SupervisorHost(tmp_path, idle_timeout=60)._connect(
            str(path), me.pid, me.create_time(), events
        )
        try:
            await handle.adapt(0, 4)
            adaptive = supervisor.handle.adaptive
            answered.clear()
            await handle.scale(3, requested=3, ended=frozenset({"gone"}))
            assert answered == ["scale"]
            assert adaptive is not None and adaptive.stopped
            assert cluster.scaled[-1] == 3
            record = SupervisorRecord.read(records_dir(tmp_path) / f"{spec.id}.json", tmp_path)
            assert record is not None
            assert record.spec.requested == 3 and record.spec.adapt is None
            assert handle.planned() == supervisor.state().planned  # the reply's state
        finally:
            await handle.detach()
            server.close()

    asyncio.run(main())


def test_a_supervisor_found_running_is_told_alive_by_its_pid_and_start_time() -> None:
    """A reattached supervisor (not this server's child) is checked by pid and start time; its
    start time was shadowed by the start future, and the check raised TypeError instead."""

    async def main() -> None:
        left, right = __import__("socket").socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=left)
        events = ClusterEvents(
            jobs=JobEvents(submitted=lambda job_id: None, submit_failed=lambda text: None),
            worker_joined=lambda job_id: None,
            worker_left=lambda: None,
        )
        me = psutil.Process()
        state = SupervisorState(Status.RUNNING)
        alive = SupervisedCluster(reader, writer, os.getpid(), me.create_time(), events, state)
        reused = SupervisedCluster(
            reader, writer, os.getpid(), me.create_time() - 60, events, state
        )
        try:
            assert alive.running() is True
            assert reused.running() is False
            assert alive.ready.done() and alive.ready.result() == state
        finally:
            writer.close()
            right.close()
            for handle in (alive, reused):
                handle._leaving = True
                handle._listener.cancel()

    asyncio.run(main())
