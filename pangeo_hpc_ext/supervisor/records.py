"""A supervisor's record in `state_dir/clusters/`: what its cluster is (the spec, kept current:
requested workers, adaptive bounds, job ids) and how to reach the process that holds it.

Records are untrusted input: anything that can write to state_dir can plant one, and a record
names processes to signal, jobs to kill and a directory to remove. Each is checked against a
schema and against what this server would have written; one that fails is moved aside to
`state_dir/quarantine/` with a log line and never acted on."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..backends import BACKENDS
from ..core.handle import ClusterSpec
from ..core.ledger import CLUSTER_ID_PATTERN, JOB_ID_PATTERN, quarantine, same_process_alive
from ..paths import write_json_atomic
from .channel import directory_problem

log = logging.getLogger(__name__)

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "profile", "backend", "options", "requested", "created"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": CLUSTER_ID_PATTERN},
        "name": {"type": "string", "maxLength": 256},
        "profile": {"type": "string", "maxLength": 256},
        "backend": {"enum": sorted(BACKENDS)},
        "options": {"type": "object"},
        "requested": {"type": "integer", "minimum": 0},
        "created": {"type": "string", "maxLength": 64},
        "credentials_dir": {"type": ["string", "null"]},
        "keep": {"type": "boolean"},
        "adapt": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 2,
                    "maxItems": 2,
                },
            ]
        },
        "job_ids": {"type": "array", "items": {"type": "string", "pattern": JOB_ID_PATTERN}},
        "idle_timeout": {"type": ["number", "null"], "minimum": 0},
    },
}
RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec", "pid", "started", "host", "socket"],
    "additionalProperties": False,
    "properties": {
        "spec": SPEC_SCHEMA,
        "pid": {"type": "integer", "minimum": 2},
        "started": {"type": "number", "exclusiveMinimum": 0},
        "host": {"type": "string", "minLength": 1, "maxLength": 255},
        # A Unix socket's path holds at most 107 bytes.
        "socket": {"type": "string", "minLength": 1, "maxLength": 107},
    },
}
_VALIDATOR = Draft202012Validator(RECORD_SCHEMA)


def records_dir(state_dir: Path) -> Path:
    return state_dir / "clusters"


def credentials_dir_of(state_dir: Path, cluster_id: str) -> Path:
    """The only place a cluster's TLS credentials may be (and be removed from)."""
    return Path(os.path.abspath(state_dir)) / "tls" / cluster_id


@dataclass
class SupervisorRecord:
    spec: ClusterSpec
    pid: int
    # The process's start time, so that a reused pid is not taken for it.
    started: float
    host: str
    socket: str

    @property
    def path_in(self) -> str:
        return f"{self.spec.id}.json"

    def write(self, state_dir: Path) -> None:
        data = {
            "spec": self.spec.to_json(),
            "pid": self.pid,
            "started": self.started,
            "host": self.host,
            "socket": self.socket,
        }
        write_json_atomic(records_dir(state_dir) / self.path_in, data)

    @classmethod
    def read(cls, path: Path, state_dir: Path) -> SupervisorRecord | None:
        """The record in `path`; None when it cannot be read now (left alone: perhaps a
        transient error of a shared file system) or is not one this server would have written
        (quarantined)."""
        try:
            info = path.lstat()
            text = path.read_text()
        except OSError as error:
            log.warning("supervisor record %s cannot be read (%s); left alone", path, error)
            return None
        try:
            data: Any = json.loads(text)
        except (ValueError, RecursionError) as error:
            quarantine(path, state_dir, f"not JSON ({str(error)[:200]})")
            return None
        problem = record_problem(data, path, info, state_dir)
        if problem is not None:
            quarantine(path, state_dir, problem)
            return None
        return cls(
            spec=ClusterSpec.from_json(data["spec"]),
            pid=data["pid"],
            started=float(data["started"]),
            host=data["host"],
            socket=data["socket"],
        )

    def alive(self) -> bool:
        return same_process_alive(self.pid, self.started)

    def remove(self, state_dir: Path) -> None:
        (records_dir(state_dir) / self.path_in).unlink(missing_ok=True)


def record_problem(data: Any, path: Path, info: os.stat_result, state_dir: Path) -> str | None:
    """Why `data`, read from `path`, is not a record this user's server wrote; None if it is."""
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return f"not a regular file of this user (uid {info.st_uid})"
    try:
        _VALIDATOR.validate(data)
    except ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "the record"
        return f"{where}: {error.message[:200]}"
    spec = data["spec"]
    if path.name != f"{spec['id']}.json":
        return f"it describes cluster {spec['id']}, not the one its name says"
    credentials = spec.get("credentials_dir")
    expected = credentials_dir_of(state_dir, spec["id"])
    if credentials is not None and os.path.abspath(credentials) != str(expected):
        return f"credentials_dir {credentials[:200]!r} is not {expected}"
    if data["host"] == socket.gethostname():
        sock = Path(data["socket"])
        if sock.name != f"{spec['id']}.sock":
            return f"socket {data['socket']!r} is not named after the cluster"
        problem = directory_problem(sock.parent)
        # A directory that is gone (a reboot cleared /tmp) only means the supervisor is gone.
        if problem is not None and sock.parent.exists():
            return f"the socket's directory {sock.parent} {problem}"
    return None


def records_of_this_host(state_dir: Path) -> list[SupervisorRecord]:
    """Records of supervisors on this host: a supervisor on another node sharing $HOME is that
    node's server's to reattach."""
    host = socket.gethostname()
    found = []
    for path in sorted(records_dir(state_dir).glob("*.json")):
        record = SupervisorRecord.read(path, state_dir)
        if record is not None and record.host == host:
            found.append(record)
    return found
