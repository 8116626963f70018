"""Schedulers whose dashboard answers only our proxy (see `dashboard_access`): what a backend
hands dask as its scheduler. Imported only where a cluster starts, since it imports distributed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import Scheduler

from ..dashboard_access import DASHBOARD_ADDRESS, KEY_OPTION, guard, new_key
from ..worker_changes import WorkerChanges


def _forget_dashboard(worker: Any) -> None:
    """Our workers run no dashboard (backends start them without one and without HTTP routes),
    but distributed reports a worker's bare HTTP server as its "dashboard" all the same: the
    scheduler's worker table would link to an empty page. Forgotten as each worker arrives."""
    worker.services.pop("dashboard", None)


def guarded_scheduler(**options: Any) -> Scheduler:
    """A Scheduler whose dashboard is guarded from its first request: the key comes with the
    scheduler's options (SpecCluster's `scheduler_cls`/`cls` is any callable). The scheduler's
    HTTP server listens in its constructor but handles nothing until the event loop runs again,
    after this returns."""
    key = options.pop(KEY_OPTION)
    scheduler = Scheduler(**options)
    guard(scheduler.http_application, key)
    scheduler.add_plugin(
        WorkerChanges(joined=_forget_dashboard), name="pangeo-hpc-no-worker-dashboards"
    )
    return scheduler


@dataclass(frozen=True)
class SchedulerFactory:
    """What a SpecCluster's scheduler spec holds: the class (any callable) and its options."""

    cls: Callable[..., Scheduler] = Scheduler
    options: dict[str, Any] = field(default_factory=dict)


def guarded_scheduler_options() -> SchedulerFactory:
    """A scheduler with its dashboard on loopback, guarded by a new key."""
    options = {"dashboard_address": DASHBOARD_ADDRESS, KEY_OPTION: new_key()}
    return SchedulerFactory(guarded_scheduler, options)


def guarded(scheduler_spec: dict[str, Any]) -> dict[str, Any]:
    """A not yet started SpecCluster's scheduler spec (as LocalCluster builds it), guarded by a
    new key."""
    options = {**scheduler_spec.get("options", {}), KEY_OPTION: new_key()}
    return {"cls": guarded_scheduler, "options": options}
