"""The `doctor` subcommand: which checks run for a scheduler, and how the answer is printed."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import partial

from ..lab.adapters import LabScheduler, choose, scheduler_names
from . import lsf_checks, pbs_checks, sge_checks, slurm_checks
from .jupyter_checks import (
    _jupyter_server_config,
    check_generic_proxy,
    check_interfaces,
    check_jobqueue_config,
    check_jupyter_security,
    check_our_extension,
    check_server_proxy,
)
from .report import Check, render
from .scheduler_checks import check_queues, check_scheduler_commands

# Checks only one scheduler has, run after its commands check, given the scheduler's adapter.
SCHEDULER_CHECKS: dict[str, tuple[Callable[[LabScheduler], Check | None], ...]] = {
    "lsf": lsf_checks.CHECKS,
    "slurm": slurm_checks.CHECKS,
    "sge": sge_checks.CHECKS,
    "pbs": pbs_checks.CHECKS,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check scheduler commands, lsf.conf units, interfaces and Jupyter setup",
        description="Print a pass/fail table of what pangeo-hpc needs; exit 1 on any fail.",
    )
    doctor.add_argument(
        "--scheduler",
        choices=scheduler_names(),
        help="batch scheduler to check (default: the one whose commands are on PATH)",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    checks = list(all_checks(choose(args.scheduler)))
    if args.json:
        print(json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}))
    else:
        print(render(checks))
    return 0 if all(check.ok for check in checks) else 1


def all_checks(scheduler: LabScheduler) -> Iterator[Check]:
    jupyter_config, config_error = _jupyter_server_config()
    # dask-jobqueue's config section has the scheduler's name (jobqueue.lsf, .slurm, .sge).
    section = scheduler.name
    checkers: list[Callable[[], Check | None]] = [
        lambda: check_scheduler_commands(scheduler),
        *(partial(check, scheduler) for check in SCHEDULER_CHECKS.get(scheduler.name, ())),
        lambda: check_queues(scheduler, section),
        lambda: check_interfaces(section, jupyter_config),
        lambda: check_jobqueue_config(section),
        check_server_proxy,
        lambda: check_generic_proxy(jupyter_config),
        check_our_extension,
        lambda: check_jupyter_security(jupyter_config, config_error),
    ]
    for checker in checkers:
        try:
            check = checker()
        except Exception as exc:  # a broken check is a fail to report, not a crash
            name = getattr(getattr(checker, "func", checker), "__name__", "check")
            check = Check(name, False, f"check crashed: {exc!r}")
        if check is not None:
            yield check
