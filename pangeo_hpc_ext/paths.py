"""Where pangeo-hpc keeps its files and how it writes them; light, so that the CLI starts without
importing dask."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "pangeo-hpc"


def write_json_atomic(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Write-then-rename: a reader, or a crash mid-write, never sees half a file, and a failed
    write (disk full, read-only, quota) leaves the previous file as it was and no temporary one.
    The file is private from its first byte (it may hold job ids, tokens or credentials' paths)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(fd, mode)
            json.dump(data, f)
            f.flush()
            # Before the rename: a full disk (or NFS, which reports write errors late) fails
            # here, and after a power cut the new name never points at unwritten blocks.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (another process may still take it before we do)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
