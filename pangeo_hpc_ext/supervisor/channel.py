"""The control channel between the server and a supervisor: one JSON object per line over a Unix
socket in a directory only this user can enter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Snapshots and commands are small; a bound keeps a confused peer from filling memory.
LINE_LIMIT = 1 << 20


class ChannelClosed(Exception):
    """The other end went away."""


def directory_problem(directory: Path) -> str | None:
    """Why `directory` is not a directory of this user (None when it is one). Not followed if a
    symlink: another user may have planted it."""
    try:
        info = directory.lstat()
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid != os.getuid():
        return f"belongs to uid {info.st_uid}, not to this user ({os.getuid()})"
    return None


def socket_dir() -> Path:
    """A private directory for the sockets. Not under state_dir: a socket's path is limited to
    107 bytes, and $HOME paths on HPC systems run long. Node-local, as the supervisors are.
    The usual name is guessable: when someone else holds it (another user made it first, or a
    symlink), a private directory of a random name is made instead and said why; the record of
    each cluster keeps its socket's path."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    directory = Path(base) / f"pangeo-hpc-{os.getuid()}"
    with contextlib.suppress(FileExistsError):  # what exists is checked below
        directory.mkdir(mode=0o700)
    problem = directory_problem(directory)
    if problem is None:
        if stat.S_IMODE(directory.lstat().st_mode) != 0o700:
            directory.chmod(0o700)
        return directory
    fallback = Path(tempfile.mkdtemp(prefix=f"pangeo-hpc-{os.getuid()}-", dir=base))
    log.warning(
        "%s %s: supervisor sockets go to the private directory %s instead",
        directory,
        problem,
        fallback,
    )
    return fallback


def peer_process(sock: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end (SO_PEERCRED, Linux): for a connected socket,
    the process that listens; for an accepted one, the process that connected. None where the
    system cannot tell."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def peer_is_this_user(sock: socket.socket) -> bool:
    """Whether the process at the other end runs as this user."""
    peer = peer_process(sock)
    # No SO_PEERCRED here: the directory's mode is the guard.
    return peer is None or peer[1] == os.getuid()


async def send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    await writer.drain()


async def receive(reader: asyncio.StreamReader) -> dict[str, Any]:
    try:
        line = await reader.readline()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError) as error:
        raise ChannelClosed(str(error)) from error
    if not line:
        raise ChannelClosed("end of stream")
    try:
        message = json.loads(line)
    except ValueError as error:
        raise ChannelClosed(f"not JSON: {error}") from error
    except RecursionError:  # within LINE_LIMIT, "[[[[..." nests deeper than the parser recurses
        raise ChannelClosed("not JSON: nested too deeply") from None
    if not isinstance(message, dict):
        raise ChannelClosed("not a JSON object")
    return message
