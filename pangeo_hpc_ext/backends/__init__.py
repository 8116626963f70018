"""Scheduler backends, one module each; BACKENDS maps a profile's `backend` name to a class."""

from __future__ import annotations

from .base import Backend, JobEvents, JobInfo
from .local import LocalBackend
from .lsf import LSFBackend
from .sge import SGEBackend

BACKENDS: dict[str, type[Backend]] = {
    LocalBackend.name: LocalBackend,
    LSFBackend.name: LSFBackend,
    SGEBackend.name: SGEBackend,
}

__all__ = ["BACKENDS", "Backend", "JobEvents", "JobInfo", "LSFBackend", "LocalBackend"]
