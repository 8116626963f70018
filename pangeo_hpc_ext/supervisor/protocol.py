"""What a server and a cluster's supervisor say to each other over the channel (channel.py): the
operations the server asks for, the events the supervisor reports, and the state that comes with
each. Both ends build and read their messages here only, so that a name or a field exists once.

On the wire every message is one JSON object:
- a request `{"id": n, "op": <Op>, ...its fields}`, from the server;
- its reply `{"reply": n, "ok": true, "state": {...}}` (the reply to hello also carries `spec`),
  or `{"reply": n, "ok": false, "error": "..."}`;
- an event `{"event": <Event>, ...its fields, "state": {...}}`, from the supervisor, unasked
  (`taken_over` comes without a state)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.lifecycle import Status


class ProtocolError(ValueError):
    """A message that is not one this protocol knows; `message_id` is the request's id, when it
    has one, so that the refusal can be answered."""

    def __init__(self, text: str, message_id: int | None = None) -> None:
        super().__init__(text)
        self.message_id = message_id


class Op(str, enum.Enum):
    HELLO = "hello"
    SCALE = "scale"
    ADAPT = "adapt"
    FORGET_ENDED = "forget_ended"
    CLOSE = "close"
    DETACH = "detach"


class Event(str, enum.Enum):
    STARTED = "started"
    # Failed to start, or (after it ran) failed, e.g. its state_dir is full.
    FAILED = "failed"
    SUBMITTED = "submitted"
    SUBMIT_FAILED = "submit_failed"
    CANCELLED = "cancelled"
    WORKER_JOINED = "worker_joined"
    WORKER_LEFT = "worker_left"
    # Nothing happened but the state changed (adaptive mode's plan).
    STATE = "state"
    # Another server said hello: sent to the displaced one before its channel closes.
    TAKEN_OVER = "taken_over"


# The fields each event carries besides its state, with their types (None allowed for all).
EVENT_FIELDS: dict[Event, dict[str, type]] = {
    Event.STARTED: {},
    Event.FAILED: {"message": str},
    Event.SUBMITTED: {"job_id": str},
    Event.SUBMIT_FAILED: {"message": str},
    Event.CANCELLED: {"job_id": str},
    Event.WORKER_JOINED: {"job_id": str},
    Event.WORKER_LEFT: {},
    Event.STATE: {},
    Event.TAKEN_OVER: {"pid": int, "host": str},
}


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    """The value under `key`, None when absent; ProtocolError when it has another type."""
    value = data.get(key)
    if value is None:
        return None
    # bool is an int in Python, never one on this wire.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{key} must be {kind.__name__}, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class SupervisorState:
    """What the supervisor knows of its cluster, sent with every reply and event; the server's
    reads of a supervised cluster answer from the last one."""

    phase: Status
    error: str | None = None
    address: str | None = None
    dashboard_port: int | None = None
    # Only ever on this user's socket: the proxy sends it, nobody else may know it.
    dashboard_key: str | None = None
    connected: int = 0
    threads: int = 0
    memory: int = 0
    worker_dashboards: tuple[tuple[str, int], ...] = ()
    connected_job_ids: tuple[str, ...] = ()
    planned: int = 0
    submissions: int = 0
    clients: int = 0
    tasks: int = 0

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["phase"] = self.phase.value
        data["worker_dashboards"] = [list(d) for d in self.worker_dashboards]
        data["connected_job_ids"] = list(self.connected_job_ids)
        return data

    @classmethod
    def from_json(cls, data: Any) -> SupervisorState:
        if not isinstance(data, dict):
            raise ProtocolError("a state must be an object")
        try:
            phase = Status(data.get("phase"))
        except ValueError:
            raise ProtocolError(f"unknown phase {data.get('phase')!r}") from None
        dashboards = _typed(data, "worker_dashboards", list) or []
        return cls(
            phase=phase,
            error=_typed(data, "error", str),
            address=_typed(data, "address", str),
            dashboard_port=_typed(data, "dashboard_port", int),
            dashboard_key=_typed(data, "dashboard_key", str),
            connected=_typed(data, "connected", int) or 0,
            threads=_typed(data, "threads", int) or 0,
            memory=_typed(data, "memory", int) or 0,
            worker_dashboards=tuple((str(h), int(p)) for h, p in dashboards),
            connected_job_ids=tuple(str(j) for j in _typed(data, "connected_job_ids", list) or []),
            planned=_typed(data, "planned", int) or 0,
            submissions=_typed(data, "submissions", int) or 0,
            clients=_typed(data, "clients", int) or 0,
            tasks=_typed(data, "tasks", int) or 0,
        )


# -- requests (server -> supervisor) --------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """The first message of a server: it drives the cluster from now on."""

    op = Op.HELLO


@dataclass(frozen=True)
class Scale:
    """Aim for `workers`, after dropping the workers whose jobs `ended`. With `requested` the size
    is the user's: adaptive mode stops and the record keeps it for a later server; without, it is
    a replacement's scale-up."""

    workers: int
    requested: int | None = None
    ended: tuple[str, ...] = ()
    op = Op.SCALE


@dataclass(frozen=True)
class Adapt:
    """Adaptive mode within these bounds, kept in the record for a later server."""

    minimum: int
    maximum: int
    op = Op.ADAPT


@dataclass(frozen=True)
class ForgetEnded:
    """Drop the workers whose batch jobs ended, so that scaling replaces them."""

    job_ids: tuple[str, ...]
    op = Op.FORGET_ENDED


@dataclass(frozen=True)
class Close:
    """Close the cluster and kill its jobs; the supervisor ends once it answered."""

    op = Op.CLOSE


@dataclass(frozen=True)
class Detach:
    """The server stops and leaves the cluster running."""

    op = Op.DETACH


Request = Hello | Scale | Adapt | ForgetEnded | Close | Detach
REQUESTS: dict[Op, type[Request]] = {
    Op.HELLO: Hello,
    Op.SCALE: Scale,
    Op.ADAPT: Adapt,
    Op.FORGET_ENDED: ForgetEnded,
    Op.CLOSE: Close,
    Op.DETACH: Detach,
}


def request_to_json(message_id: int, request: Request) -> dict[str, Any]:
    data: dict[str, Any] = {"id": message_id, "op": request.op.value}
    for f in fields(request):
        value = getattr(request, f.name)
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return data


def request_from_json(data: Any) -> tuple[int | None, Request]:
    """The id and the request of a message from the server; ProtocolError for anything else
    (the id, when there is one, so that the error can be answered)."""
    if not isinstance(data, dict):
        raise ProtocolError("a request must be an object")
    message_id = data.get("id") if isinstance(data.get("id"), int) else None
    try:
        return message_id, _request(data)
    except ProtocolError as error:
        raise ProtocolError(str(error), message_id) from None


def _request(data: dict[str, Any]) -> Request:
    try:
        op = Op(data.get("op"))
    except ValueError:
        raise ProtocolError(f"unknown operation {data.get('op')!r}") from None
    if op is Op.SCALE:
        ended = _typed(data, "ended", list) or []
        request: Request = Scale(
            workers=_required(data, "workers"),
            requested=_typed(data, "requested", int),
            ended=tuple(str(j) for j in ended),
        )
    elif op is Op.ADAPT:
        request = Adapt(_required(data, "minimum"), _required(data, "maximum"))
    elif op is Op.FORGET_ENDED:
        request = ForgetEnded(tuple(str(j) for j in _typed(data, "job_ids", list) or []))
    else:
        request = REQUESTS[op]()
    return request


def _required(data: dict[str, Any], key: str) -> int:
    value = _typed(data, key, int)
    if value is None:
        raise ProtocolError(f"{key} is required")
    return int(value)


# -- what the supervisor sends (replies and events) -----------------------------------------------


@dataclass(frozen=True)
class Reply:
    reply: int | None
    ok: bool
    error: str | None = None
    state: SupervisorState | None = None
    # The cluster's spec (ClusterSpec.to_json), in the reply to hello.
    spec: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"reply": self.reply, "ok": self.ok}
        if self.error is not None:
            data["error"] = self.error
        if self.spec is not None:
            data["spec"] = self.spec
        if self.state is not None:
            data["state"] = self.state.to_json()
        return data


@dataclass(frozen=True)
class Notice:
    """An event, its fields (EVENT_FIELDS), and the state after it."""

    event: Event
    values: dict[str, Any] = field(default_factory=dict)
    state: SupervisorState | None = None

    @classmethod
    def of(cls, event: Event, state: SupervisorState | None = None, **values: Any) -> Notice:
        return cls(event, values, state)

    def __post_init__(self) -> None:
        allowed = EVENT_FIELDS[self.event]
        for key in self.values:
            if key not in allowed:
                raise ProtocolError(f"{self.event.value} carries no {key}")
            _typed(self.values, key, allowed[key])

    def get(self, key: str) -> Any:
        if key not in EVENT_FIELDS[self.event]:
            raise ProtocolError(f"{self.event.value} carries no {key}")
        return self.values.get(key)

    # What the events carry (EVENT_FIELDS), read by name.
    @property
    def job_id(self) -> str | None:
        return self.get("job_id")

    @property
    def message(self) -> str | None:
        return self.get("message")

    @property
    def pid(self) -> int | None:
        return self.get("pid")

    @property
    def host(self) -> str | None:
        return self.get("host")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.event.value, **self.values}
        if self.state is not None:
            data["state"] = self.state.to_json()
        return data


Message = Reply | Notice


def message_from_json(data: Any) -> Message:
    """A message from the supervisor: a reply or an event; ProtocolError for anything else."""
    if not isinstance(data, dict):
        raise ProtocolError("a message must be an object")
    state = SupervisorState.from_json(data["state"]) if data.get("state") is not None else None
    if "reply" in data:
        spec = data.get("spec")
        if spec is not None and not isinstance(spec, dict):
            raise ProtocolError("spec must be an object")
        return Reply(
            reply=_typed(data, "reply", int),
            ok=data.get("ok") is True,
            error=_typed(data, "error", str),
            state=state,
            spec=spec,
        )
    try:
        event = Event(data.get("event"))
    except ValueError:
        raise ProtocolError(f"unknown event {data.get('event')!r}") from None
    values = {k: data[k] for k in EVENT_FIELDS[event] if k in data}
    return Notice(event, values, state)


# -- the supervisor's start (server -> supervisor, once, on its stdin) ----------------------------


@dataclass(frozen=True)
class LaunchSettings:
    """What a spare supervisor reads on its stdin to become one cluster's."""

    # ClusterSpec.to_json() of its cluster.
    spec: dict[str, Any]
    state_dir: str
    log: str
    socket: str
    idle_timeout: float | None = None
    scheduler_timeout: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Any) -> LaunchSettings:
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
            raise ProtocolError("launch settings must be an object with a spec")
        return cls(
            spec=data["spec"],
            state_dir=str(data["state_dir"]),
            log=str(data["log"]),
            socket=str(data["socket"]),
            idle_timeout=_number(data, "idle_timeout"),
            scheduler_timeout=_number(data, "scheduler_timeout"),
        )


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{key} must be a number")
    return float(value)
