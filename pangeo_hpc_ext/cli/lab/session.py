"""Where the lab job's record, token, script, log and connection file live.

Layout under the state directory (home is shared between login and compute nodes on HPC
systems, so the job writes its connection file where the CLI on the login node reads it):
    record.json            the one lab job we own: job id, scheduler, session dir, options
    lock                   flock'd while a `lab` command submits, so two cannot race
    session-<stamp>-<hex>/ 0700: token (0600), job.sh, job.log, connection.json (from the job)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ...paths import default_data_dir, write_json_atomic

STATE_DIR_ENV = "PANGEO_HPC_STATE_DIR"


def default_state_dir() -> Path:
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    return default_data_dir() / "lab"


class StateError(Exception):
    """The state directory holds something this version cannot use; the message says what to do."""


@dataclass(frozen=True)
class Connection:
    """What the job writes once JupyterLab answers (connection.json)."""

    node: str  # the node's own host name
    ip: str  # the address JupyterLab is bound to
    port: int
    pid: int  # JupyterLab's process on the node
    job_started: float  # when the job's script began, for the walltime left

    def answers(self, token: str, timeout: float = 5.0) -> bool:
        return answers(self.ip, self.port, token, timeout)


def answers(ip: str, port: int, token: str, timeout: float = 2.0) -> bool:
    """Whether JupyterLab at ip:port accepts the token."""
    request = urllib.request.Request(
        f"http://{ip}:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class Session:
    """One lab job's private directory and the files in it."""

    dir: Path

    @property
    def script(self) -> Path:
        return self.dir / "job.sh"

    @property
    def log(self) -> Path:
        return self.dir / "job.log"

    @property
    def token_file(self) -> Path:
        return self.dir / "token"

    @property
    def connection_file(self) -> Path:
        return self.dir / "connection.json"

    def token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except FileNotFoundError:
            return ""

    def connection(self) -> Connection | None:
        try:
            data = json.loads(self.connection_file.read_text())
            return Connection(**{f.name: data[f.name] for f in fields(Connection)})
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            return None

    def write_connection(self, connection: Connection) -> None:
        # The CLI on the login node polls this file: it must never see half of it.
        write_json_atomic(self.connection_file, asdict(connection))

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class Record:
    job_id: str
    scheduler: str
    session_dir: str
    queue: str
    walltime_minutes: int
    requested_port: int
    login_host: str
    user: str
    submitted: float
    interactive: bool

    @property
    def session(self) -> Session:
        return Session(Path(self.session_dir))


class LabState:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def record_path(self) -> Path:
        return self.root / "record.json"

    def load(self) -> Record | None:
        try:
            return Record(**json.loads(self.record_path.read_text()))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, TypeError):
            raise StateError(
                f"cannot read {self.record_path}; if no lab job of yours is running, remove "
                "that file"
            ) from None

    def save(self, record: Record) -> None:
        write_json_atomic(self.record_path, asdict(record))

    def remove(self, record: Record | None) -> None:
        if record is not None:
            self.remove_session(record.session)
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()

    def remove_session(self, session: Session) -> None:
        # Only ever delete our own session directories, whatever a damaged record says.
        if session.dir.parent == self.root and session.dir.name.startswith("session-"):
            shutil.rmtree(session.dir, ignore_errors=True)

    def new_session(self) -> Session:
        """A fresh 0700 session directory with a 0600 token file."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        session = Session(self.root / f"session-{stamp}-{secrets.token_hex(4)}")
        session.dir.mkdir(mode=0o700)
        fd = os.open(session.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(24) + "\n")
        return session

    def kept_log(self, job_id: str) -> Path:
        """Where a failed job's log is kept once its session directory goes."""
        return self.root / f"failed-job-{job_id}.log"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
