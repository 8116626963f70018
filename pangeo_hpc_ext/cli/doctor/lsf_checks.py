"""`doctor`'s checks of LSF beyond its commands and queues."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ...errors import SchedulerCommandFailed
from ...schedulers import lsf
from ..lab.adapters import LabScheduler
from .dask_settings import dask_config
from .report import Check
from .scheduler_checks import ask, ask_admins, size_bytes


def check_lsf_answers() -> Check | None:
    if lsf.missing_commands(("lsid",)):
        return None
    name = "LSF answers (lsid)"
    try:
        result = ask("lsid")
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), ask_admins("LSF"))
    first = next((line for line in result.stdout.splitlines() if "cluster name" in line), "")
    if result.returncode != 0:
        text = (result.stderr or result.stdout).strip().splitlines()
        return Check(name, False, f"lsid exit {result.returncode}: {text[-1:]}", ask_admins("LSF"))
    return Check(name, True, first.strip() or "lsid answered")


def check_lsf_units() -> Check:
    name = "lsf.conf units vs memory"
    conf = lsf.lsf_conf_path()
    jq_units = dask_config("jobqueue.lsf.lsf-units")
    memory = dask_config("jobqueue.lsf.memory")
    if conf is None:
        return Check(
            name,
            False,
            "no lsf.conf: LSF_ENVDIR is unset and /etc/lsf.conf is missing, so dask-jobqueue "
            "writes -M in KB whatever the cluster uses",
            "export LSF_ENVDIR=<directory holding lsf.conf> (`source <LSF_TOP>/conf/profile.lsf` "
            "sets it)",
        )
    unit = lsf.unit_for_limits(conf)
    banner = asyncio.run(lsf.LSFClient().banner()) if unit is None else None
    effective = unit or lsf.default_limits_unit(banner)
    shown = f"LSF_UNIT_FOR_LIMITS={unit}" if unit else f"LSF_UNIT_FOR_LIMITS unset ({effective})"
    if jq_units and str(jq_units).upper()[0] != effective[0]:
        return Check(
            name,
            False,
            f"{conf} has {shown} but dask config jobqueue.lsf.lsf-units is {jq_units!r}: "
            "memory requests would be off by a factor of 1024 or more",
            f"set jobqueue.lsf.lsf-units to {effective} (or remove it) in your dask config",
        )
    detail = f"{shown} in {conf}"
    if memory:
        limit = lsf.memory_in_units(size_bytes(memory), effective)
        detail += f"; memory {memory!r} is requested as -M {limit} ({effective})"
    if unit is None and effective != "KB" and not jq_units:
        # Our clusters pass the unit; a notebook's own LSFCluster would assume KB here.
        return Check(
            name,
            True,
            f"{detail}; {banner} reads a bare -M in {effective}, dask-jobqueue assumes KB",
            f"set jobqueue.lsf.lsf-units to {effective} in your dask config for your own "
            "LSFCluster",
            advice=True,
        )
    return Check(name, True, detail)


def check_lsf_bjobs_form() -> Check | None:
    """The bjobs form job states are read with, found by trying it (lsid's banner first)."""
    if lsf.missing_commands(("bjobs",)):
        return None
    name = "LSF job states (bjobs)"
    try:
        dialect = asyncio.run(lsf.LSFClient().probe())
    except SchedulerCommandFailed as exc:
        return Check(name, False, f"bjobs does not answer: {exc}", ask_admins("LSF"))
    forms = {
        lsf.BjobsForm.JSON: "bjobs -o ... -json",
        lsf.BjobsForm.DELIMITED: "bjobs -o ... delimiter='^' (no -json)",
        lsf.BjobsForm.OPENLAVA: "bjobs -o <OpenLava's 15 fields> -json, with bjobs -l",
        lsf.BjobsForm.PLAIN: "bjobs -w, with bjobs -l (no -o)",
    }
    return Check(name, True, f"{dialect.banner or 'lsid silent'}: {forms[dialect.form]}")


CHECKS: tuple[Callable[[LabScheduler], Check | None], ...] = (
    lambda _: check_lsf_answers(),
    lambda _: check_lsf_bjobs_form(),
    lambda _: check_lsf_units(),
)
