"""The one scheduler plugin that reports workers joining and leaving the moment the scheduler
sees them, instead of at a poll: used by the supervisor's runtime, the guarded scheduler and the
kernels' scheduler preload. Imports distributed: imported only where a scheduler runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

Joined = Callable[[Any], None]  # the scheduler's WorkerState of the new worker
Left = Callable[[str], None]  # the address of the worker that left


class WorkerChanges(SchedulerPlugin):
    def __init__(self, joined: Joined | None = None, left: Left | None = None) -> None:
        self._joined = joined
        self._left = left

    def add_worker(self, scheduler: Any, worker: str) -> None:
        # distributed calls this after it records the worker: its state is there.
        state = scheduler.workers.get(worker)
        if state is not None and self._joined is not None:
            self._joined(state)

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        if self._left is not None:
            self._left(worker)
