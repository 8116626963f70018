"""A supervisor's record in `state_dir/clusters/`: what its cluster is (the spec, kept current:
requested workers, adaptive bounds, job ids) and how to reach the process that holds it."""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.handle import ClusterSpec
from ..core.ledger import same_process_alive
from ..paths import write_json_atomic

log = logging.getLogger(__name__)


def records_dir(state_dir: Path) -> Path:
    return state_dir / "clusters"


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
    def read(cls, path: Path) -> SupervisorRecord | None:
        try:
            data: Any = json.loads(path.read_text())
            return cls(
                spec=ClusterSpec.from_json(data["spec"]),
                pid=int(data["pid"]),
                started=float(data["started"]),
                host=str(data["host"]),
                socket=str(data["socket"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("supervisor record %s cannot be read (%s); left alone", path, error)
            return None

    def alive(self) -> bool:
        return same_process_alive(self.pid, self.started)

    def remove(self, state_dir: Path) -> None:
        (records_dir(state_dir) / self.path_in).unlink(missing_ok=True)


def records_of_this_host(state_dir: Path) -> list[SupervisorRecord]:
    """Records of supervisors on this host: a supervisor on another node sharing $HOME is that
    node's server's to reattach."""
    host = socket.gethostname()
    found = []
    for path in sorted(records_dir(state_dir).glob("*.json")):
        record = SupervisorRecord.read(path)
        if record is not None and record.host == host:
            found.append(record)
    return found
