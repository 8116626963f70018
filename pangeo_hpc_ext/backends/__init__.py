"""Scheduler backends, one module each; BACKENDS maps a profile's `backend` name to a class."""

from __future__ import annotations

from .base import Backend, JobEvents
from .local import LocalBackend
from .lsf import LSFBackend
from .pbs import PBSBackend
from .sge import SGEBackend
from .slurm import SlurmBackend

BACKENDS: dict[str, type[Backend]] = {
    LocalBackend.name: LocalBackend,
    LSFBackend.name: LSFBackend,
    SlurmBackend.name: SlurmBackend,
    SGEBackend.name: SGEBackend,
    PBSBackend.name: PBSBackend,
}

__all__ = ["BACKENDS", "Backend", "JobEvents", "LSFBackend", "LocalBackend"]
