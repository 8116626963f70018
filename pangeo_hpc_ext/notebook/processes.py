"""Whose process wrote a registry entry: the checks that tie an entry to a kernel of this server
and a dashboard port to the process that listens on it. Knows no HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import psutil

# A process's start time as two psutil instances compute it (clock ticks since boot).
START_TIME_TOLERANCE_S = 0.05
# Addresses whose listener receives our connections to 127.0.0.1 (not "::": a v6-only socket
# would let another process own 127.0.0.1 on the same port).
LOOPBACK_LISTENERS = frozenset({"127.0.0.1", "0.0.0.0"})


class ProcessGone(Exception):
    """The process that wrote an entry has ended."""


def listens(pid: int, port: int) -> bool:
    try:
        process = psutil.Process(pid)
        sockets = getattr(process, "net_connections", process.connections)  # psutil < 6
        connections = sockets(kind="tcp")
    except psutil.Error:
        return False
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.laddr.ip in LOOPBACK_LISTENERS
        for c in connections
    )


def kernel_of(pid: int, create_time: float, uid: int, kernels: Mapping[int, str]) -> str | None:
    """The id of the kernel that the process `pid` (started at `create_time`) runs in or below;
    None when it runs in none of ours or belongs to another user than `uid`; ProcessGone when
    the process ended."""
    try:
        process = psutil.Process(pid)
        if (
            abs(process.create_time() - create_time) > START_TIME_TOLERANCE_S
            or process.status() == psutil.STATUS_ZOMBIE
        ):
            raise ProcessGone
        if process.uids().effective != uid:
            return None
        for candidate in (process, *process.parents()):
            if candidate.pid in kernels:
                return kernels[candidate.pid]
    except psutil.NoSuchProcess:
        raise ProcessGone from None
    except psutil.Error:
        return None
    return None


def local_kernel_pids(kernel_manager: Any) -> dict[int, str]:
    """The pid of each kernel this server runs as a local process (LocalProvisioner)."""
    pids = {}
    for kernel_id in kernel_manager.list_kernel_ids():
        with contextlib.suppress(KeyError):
            provisioner = getattr(kernel_manager.get_kernel(kernel_id), "provisioner", None)
            pid = getattr(provisioner, "pid", None)
            if isinstance(pid, int):
                pids[pid] = kernel_id
    return pids
