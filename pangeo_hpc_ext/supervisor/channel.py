"""The control channel between the server and a supervisor: one JSON object per line over a Unix
socket in a directory only this user can enter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import struct
import tempfile
from pathlib import Path
from typing import Any

# Snapshots and commands are small; a bound keeps a confused peer from filling memory.
LINE_LIMIT = 1 << 20


class ChannelClosed(Exception):
    """The other end went away."""


def socket_dir() -> Path:
    """A private directory for the sockets. Not under state_dir: a socket's path is limited to
    107 bytes, and $HOME paths on HPC systems run long. Node-local, as the supervisors are."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    directory = Path(base) / f"pangeo-hpc-{os.getuid()}"
    with contextlib.suppress(FileExistsError):  # what exists is checked below
        directory.mkdir(mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{directory} is not a directory of this user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        directory.chmod(0o700)
    return directory


def peer_is_this_user(sock: socket.socket) -> bool:
    """Whether the process at the other end runs as this user (SO_PEERCRED, Linux)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):  # no SO_PEERCRED here: the directory's mode is the guard
        return True
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


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
