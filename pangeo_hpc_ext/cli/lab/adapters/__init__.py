"""The schedulers `pangeo-hpc lab` and `doctor` know, and which one is here."""

from __future__ import annotations

from .base import LabScheduler, QueueLimitExceeded, Submission, SubmitRefused
from .lsf import LSFLab
from .pbs import PBSLab
from .sge import SGELab
from .slurm import SlurmLab

# Detection order when --scheduler is left out: the first present (schedulers/registry.py
# tells PBS's qsub from Grid Engine's by asking them).
ADAPTERS: dict[str, type[LabScheduler]] = {
    adapter.name: adapter for adapter in (LSFLab, SlurmLab, SGELab, PBSLab)
}
# Nothing detected: LSF, the scheduler this command was first written for, names what is missing.
FALLBACK = "lsf"


class UnknownScheduler(ValueError):
    pass


def scheduler_names() -> list[str]:
    return list(ADAPTERS)


def adapter_for(name: str) -> LabScheduler:
    try:
        return ADAPTERS[name]()
    except KeyError:
        known = ", ".join(ADAPTERS)
        raise UnknownScheduler(f"unknown scheduler {name!r} (known: {known})") from None


def detect(path: str | None = None) -> str | None:
    """The scheduler whose commands are on PATH (or on path), None when none is."""
    for name, adapter in ADAPTERS.items():
        if adapter().present(path):
            return name
    return None


def choose(name: str | None) -> LabScheduler:
    """The adapter for --scheduler, else the one detected on PATH, else the fallback."""
    return adapter_for(name or detect() or FALLBACK)


__all__ = [
    "ADAPTERS",
    "LabScheduler",
    "QueueLimitExceeded",
    "Submission",
    "SubmitRefused",
    "UnknownScheduler",
    "adapter_for",
    "choose",
    "detect",
    "scheduler_names",
]
