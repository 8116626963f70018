"""Where the lab job's record, token, script, log and connection file live.

Layout under the state directory (home is shared between login and compute nodes on HPC
systems, so the job writes its connection file where the CLI on the login node reads it):
    record.json            the one lab job we own: job id, session dir, login host, options
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
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_DIR_ENV = "PANGEO_HPC_STATE_DIR"


def default_state_dir() -> Path:
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "pangeo-hpc" / "lab"


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
    def session(self) -> Path:
        return Path(self.session_dir)


class LabState:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def record_path(self) -> Path:
        return self.root / "record.json"

    def load(self) -> Record | None:
        try:
            data = json.loads(self.record_path.read_text())
            return Record(**data)
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, TypeError):
            # A damaged or older record: say so instead of failing on every command.
            raise SystemExit(
                f"pangeo-hpc: cannot read {self.record_path}; if no lab job of yours is running "
                "(`bjobs`), remove that file"
            ) from None

    def save(self, record: Record) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record), indent=1))
        os.replace(tmp, self.record_path)

    def remove(self, record: Record | None) -> None:
        if record is not None:
            self.remove_session(record.session)
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()

    def remove_session(self, session: Path) -> None:
        # Only ever delete our own session directories, whatever a damaged record says.
        if session.parent == self.root and session.name.startswith("session-"):
            shutil.rmtree(session, ignore_errors=True)

    def new_session(self) -> tuple[Path, str]:
        """A fresh 0700 session directory with a 0600 token file; returns (dir, token)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        session = self.root / f"session-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        session.mkdir(mode=0o700)
        token = secrets.token_hex(24)
        fd = os.open(session / "token", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return session, token

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def read_token(session: Path) -> str | None:
    try:
        return (session / "token").read_text().strip()
    except FileNotFoundError:
        return None


def read_connection(session: Path) -> dict | None:
    try:
        return json.loads((session / "connection.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
