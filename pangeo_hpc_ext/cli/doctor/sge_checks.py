"""`doctor`'s checks of Grid Engine beyond its commands and queues."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ...errors import SchedulerCommandFailed
from ..lab.adapters import LabScheduler, sge
from .dask_settings import dask_config
from .report import Check
from .scheduler_checks import answer, ask_admins, size_bytes


def check_sge_cell(scheduler: LabScheduler) -> Check | None:
    """Grid Engine's commands find their qmaster through $SGE_ROOT/$SGE_CELL/common, unless a
    wrapper (Debian's) supplies defaults."""
    if scheduler.missing(("qconf",)):
        return None  # the commands check says so
    name = "Grid Engine cell"
    root, cell = os.environ.get("SGE_ROOT"), os.environ.get("SGE_CELL") or "default"
    fix = "source $SGE_ROOT/$SGE_CELL/common/settings.sh (or `module load sge`) first"
    if not root:
        try:
            answer("qconf", "-sql")
        except SchedulerCommandFailed as exc:
            return Check(name, False, f"SGE_ROOT is not set and {exc}", fix)
        return Check(name, True, "SGE_ROOT is not set; the commands find their cell themselves")
    act_qmaster = Path(root) / cell / "common" / "act_qmaster"
    try:
        qmaster = act_qmaster.read_text().strip()
    except OSError as exc:
        return Check(name, False, f"SGE_CELL={cell} is not a cell of {root}: {exc}", fix)
    return Check(name, True, f"SGE_ROOT={root} SGE_CELL={cell}, qmaster {qmaster}")


def check_sge_memory(scheduler: LabScheduler) -> Check | None:
    """dask-jobqueue passes jobqueue.sge.resource-spec to `-l` as written: a memory value qsub
    cannot read, a resource the cluster lacks, or less than dask's memory per job breaks every
    worker. Grid Engine's K/M/G are 1024-based, k/m/g 1000-based, and the value is per slot."""
    if scheduler.missing(("qconf",)):
        return None  # the commands check says so
    name = "Grid Engine memory units"
    try:
        complexes = sge.parse_complexes(answer("qconf", "-sc"))
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), ask_admins(scheduler.title))
    lab_memory = complexes.get(sge.MEMORY_RESOURCE)
    if lab_memory is None or not lab_memory.requestable:
        return Check(
            name,
            False,
            f"{sge.MEMORY_RESOURCE} is not a requestable resource here (`qconf -sc`), so "
            "`pangeo-hpc lab --memory` cannot ask for memory",
            "leave --memory out (the queue's defaults apply) or ask your HPC admins which "
            "memory resource to request",
        )
    spec = dask_config("jobqueue.sge.resource-spec")
    memory = dask_config("jobqueue.sge.memory")
    slots = int(dask_config("jobqueue.sge.cores") or 1)
    units = "K/M/G are 1024-based, k/m/g 1000-based, per slot"
    if not spec:
        return Check(
            name,
            True,
            f"no jobqueue.sge.resource-spec: jobs ask for no memory; `pangeo-hpc lab --memory` "
            f"asks {sge.MEMORY_RESOURCE} per slot ({units})",
        )
    granted = None
    for resource, value in sge.resource_items(str(spec)):
        known = complexes.get(resource)
        if known is None or not known.requestable:
            return Check(
                name,
                False,
                f"jobqueue.sge.resource-spec {spec!r}: {resource!r} is not a resource jobs may "
                "ask for here; qsub refuses the job",
                "`qconf -sc` lists them (REQUESTABLE YES); fix jobqueue.sge.resource-spec",
            )
        if known.type != "MEMORY":
            continue
        per_slot = sge.memory_value_bytes(value)
        if per_slot is None:
            return Check(
                name,
                False,
                f"jobqueue.sge.resource-spec {spec!r}: {value!r} is not a memory value qsub "
                f"reads ({units}; no B: 4G, not 4GB)",
                f"write it as e.g. {resource}=4G in jobqueue.sge.resource-spec",
            )
        granted = per_slot * slots
    detail = f"resource-spec {spec!r}"
    if granted is not None and memory:
        detail += f" grants {granted / 2**30:.2f} GiB over {slots} slot(s) for memory {memory!r}"
        if granted < size_bytes(memory):
            return Check(
                name,
                False,
                f"{detail}: less than dask lets the workers use, so Grid Engine kills them "
                f"first ({units})",
                "raise the value in jobqueue.sge.resource-spec to memory divided by cores",
            )
    return Check(name, True, f"{detail} ({units})")


def check_sge_parallel_environment(scheduler: LabScheduler) -> Check | None:
    """Several cores on one host are granted through a parallel environment (-pe smp N)."""
    if scheduler.missing(("qconf",)):
        return None
    name = "Grid Engine parallel environment"
    try:
        environments = answer("qconf", "-spl").split()
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), ask_admins(scheduler.title))
    wanted = sge.PARALLEL_ENVIRONMENT
    listed = ", ".join(environments) or "none"
    if wanted in environments:
        return Check(name, True, f"{wanted} (jobs with several cores ask -pe {wanted} N)")
    cores = int(dask_config("jobqueue.sge.cores") or 1)
    detail = f"no {wanted} parallel environment (there are: {listed})"
    if cores > 1:
        return Check(
            name,
            False,
            f"jobqueue.sge.cores is {cores} but {detail}",
            f"ask your HPC admins for a parallel environment with allocation_rule $pe_slots "
            f"named {wanted}, or use cores: 1",
        )
    return Check(name, True, f"{detail}: fine for 1-core jobs; `pangeo-hpc lab --cores 1`")


CHECKS: tuple[Callable[[LabScheduler], Check | None], ...] = (
    check_sge_cell,
    check_sge_memory,
    check_sge_parallel_environment,
)
