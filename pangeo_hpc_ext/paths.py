"""Where pangeo-hpc keeps its files and how it writes them; light, so that the CLI starts without
importing dask."""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "pangeo-hpc"


def safe_file_name(text: str, empty: str) -> str:
    """TEXT as one path component: characters outside [A-Za-z0-9._-] become "_", and a name
    that is empty or only dots ("", ".", "..") becomes EMPTY, so that it never leaves its folder."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return name if name.strip(".") else empty


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The server's state_dir unless configured. One per JupyterHub server: a user's named
    servers (and the default one) may run at once, on one node or on several sharing $HOME,
    and each must reattach and clean up only its own clusters. Within one folder the host
    already separates what must be (ledgers are named after it, supervisor records of other
    hosts are ignored, sockets are node-local), and a server that lands on another node than
    its crashed predecessor must still find that one's ledger to cancel its jobs: so the host
    is not in the path. A plain JupyterLab (no JupyterHub) keeps the folder it always had."""
    env = os.environ if environ is None else environ
    # JupyterHub's spawner sets it for every server, "" for the user's default one.
    server_name = env.get("JUPYTERHUB_SERVER_NAME")
    if server_name is None:
        return default_data_dir() / "server"
    return default_data_dir() / "jupyterhub" / safe_file_name(server_name, "default")


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
