"""Checks every batch scheduler gets: its commands and its queues (partitions); each scheduler's
own checks are in <name>_checks.py. Scheduler commands run through run_command, as everywhere."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from ...errors import SchedulerCommandFailed
from ...schedulers.base import QueueInfo
from ...schedulers.commands import CommandResult, run_command
from ..lab.adapters import LabScheduler
from .dask_settings import dask_config
from .report import Check

QUEUES_SHOWN = 8


def check_scheduler_commands(scheduler: LabScheduler) -> Check:
    name = f"{scheduler.title} commands on PATH"
    commands = scheduler.doctor_commands
    missing = scheduler.missing(commands)
    if missing:
        return Check(
            name,
            False,
            f"missing: {' '.join(missing)}",
            f"{scheduler.load_hint} and run this on a login node of the cluster",
        )
    where = sorted({str(Path(shutil.which(command) or "").parent) for command in commands})
    return Check(name, True, f"{' '.join(commands)} in {', '.join(where)}")


def check_queues(scheduler: LabScheduler, section: str) -> Check | None:
    if scheduler.missing(scheduler.doctor_commands):
        return None  # reported above
    name = f"{scheduler.title} {scheduler.queues_word}"
    try:
        queues = scheduler.queues()
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), ask_admins(scheduler.title))
    if not queues:
        listed = f"no {scheduler.queues_word} listed"
        return Check(name, False, listed, ask_admins(scheduler.title))
    shown = [_queue_label(queue) for queue in queues]
    more = f" and {len(shown) - QUEUES_SHOWN} more" if len(shown) > QUEUES_SHOWN else ""
    listing = ", ".join(shown[:QUEUES_SHOWN]) + more
    configured = dask_config(f"jobqueue.{section}.queue")
    by_name = {queue.name: queue for queue in queues}
    if configured and str(configured) not in by_name:
        return Check(
            name,
            False,
            f"jobqueue.{section}.queue {configured!r} is not one of them: {listing}",
            f"set jobqueue.{section}.queue to one of the {scheduler.queues_word} listed "
            f"(`{scheduler.queues_listed_by}` shows them)",
        )
    target = by_name.get(str(configured)) if configured else default_queue(queues)
    if target is not None and not _accepts_jobs(target):
        where = f"jobqueue.{section}.queue" if configured else "the default"
        return Check(
            name,
            False,
            f"{scheduler.queue_word} {target.name} ({where}) is {target.extra['available']}: "
            f"jobs there wait until an admin brings it up; {listing}",
            f"pick another {scheduler.queue_word} (jobqueue.{section}.queue, `pangeo-hpc lab "
            "--queue`) or ask your HPC admins",
        )
    return Check(name, True, listing)


def default_queue(queues: list[QueueInfo]) -> QueueInfo | None:
    return next((queue for queue in queues if queue.default), None)


def _accepts_jobs(queue: QueueInfo) -> bool:
    # Slurm's sinfo says up, down, drain or inact; other schedulers' listings say nothing here.
    return queue.extra.get("available", "up") == "up"


def _queue_label(queue: QueueInfo) -> str:
    notes = ["default"] if queue.default else []
    if not _accepts_jobs(queue):
        notes.append(str(queue.extra["available"]))
    return queue.name + (f" ({', '.join(notes)})" if notes else "")


def ask_admins(title: str) -> str:
    return f"{title}'s daemons do not answer from this host; ask your HPC admins"


def size_bytes(text: Any) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(str(text)))


def ask(*argv: str, timeout: float = 30.0) -> CommandResult:
    """A scheduler command's answer, for this synchronous command; SchedulerCommandFailed when
    it cannot run or does not answer in time."""
    return asyncio.run(run_command(list(argv), timeout=timeout))


def answer(*argv: str) -> str:
    """stdout of a scheduler command that must succeed; SchedulerCommandFailed otherwise."""
    result = ask(*argv)
    if result.returncode != 0:
        raise SchedulerCommandFailed(argv[0], result.returncode, result.stderr or result.stdout)
    return result.stdout
