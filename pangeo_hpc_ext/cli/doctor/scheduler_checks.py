"""Checks of the batch scheduler: its commands, queues (partitions) and memory units."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import SchedulerCommandFailed
from ...schedulers import lsf
from ...schedulers.base import QueueInfo
from ..lab.adapters import LabScheduler, sge, slurm
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
        return Check(name, False, str(exc), _ask_admins(scheduler.title))
    if not queues:
        listed = f"no {scheduler.queues_word} listed"
        return Check(name, False, listed, _ask_admins(scheduler.title))
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
    target = by_name.get(str(configured)) if configured else _default_queue(queues)
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


def _default_queue(queues: list[QueueInfo]) -> QueueInfo | None:
    return next((queue for queue in queues if queue.default), None)


def _accepts_jobs(queue: QueueInfo) -> bool:
    # Slurm's sinfo says up, down, drain or inact; other schedulers' listings say nothing here.
    return queue.extra.get("available", "up") == "up"


def _queue_label(queue: QueueInfo) -> str:
    notes = ["default"] if queue.default else []
    if not _accepts_jobs(queue):
        notes.append(str(queue.extra["available"]))
    return queue.name + (f" ({', '.join(notes)})" if notes else "")


def check_lsf_answers() -> Check | None:
    if lsf.missing_commands(("lsid",)):
        return None
    try:
        proc = subprocess.run(["lsid"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return Check("LSF answers (lsid)", False, "lsid did not answer in 30 s", _ask_admins("LSF"))
    first = next((line for line in proc.stdout.splitlines() if "cluster name" in line), "")
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).strip().splitlines()
        return Check(
            "LSF answers (lsid)",
            False,
            f"lsid exit {proc.returncode}: {text[-1:]}",
            _ask_admins("LSF"),
        )
    return Check("LSF answers (lsid)", True, first.strip() or "lsid answered")


def _ask_admins(title: str) -> str:
    return f"{title}'s daemons do not answer from this host; ask your HPC admins"


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
        from dask.utils import parse_bytes

        limit = lsf.memory_in_units(parse_bytes(str(memory)), effective)
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
        return Check(name, False, f"bjobs does not answer: {exc}", _ask_admins("LSF"))
    forms = {
        lsf.BjobsForm.JSON: "bjobs -o ... -json",
        lsf.BjobsForm.DELIMITED: "bjobs -o ... delimiter='^' (no -json)",
        lsf.BjobsForm.OPENLAVA: "bjobs -o <OpenLava's 15 fields> -json, with bjobs -l",
        lsf.BjobsForm.PLAIN: "bjobs -w, with bjobs -l (no -o)",
    }
    return Check(name, True, f"{dialect.banner or 'lsid silent'}: {forms[dialect.form]}")


def check_slurm_memory(scheduler: LabScheduler) -> Check:
    """dask-jobqueue writes `--mem` from jobqueue.slurm.memory (or job-mem as given): a job-mem
    sbatch cannot read, below what dask lets workers use, or above a node's memory breaks
    every worker."""
    name = "Slurm memory units"
    memory = dask_config("jobqueue.slurm.memory")
    job_mem = dask_config("jobqueue.slurm.job-mem")
    if job_mem is not None:
        requested = str(job_mem)
        mib = slurm.sbatch_mem_mib(requested)
        if mib is None:
            return Check(
                name,
                False,
                f"jobqueue.slurm.job-mem {requested!r}: sbatch reads --mem as a whole number "
                "with an optional K, M, G or T (MiB when none) and refuses this",
                "set jobqueue.slurm.job-mem to e.g. 20G, or remove it (memory is then used)",
            )
        if memory and mib * slurm.MIB < _bytes(memory):
            return Check(
                name,
                False,
                f"jobqueue.slurm.job-mem {requested!r} ({mib} MiB) is below memory {memory!r}: "
                "Slurm kills workers before dask's memory limit stops them",
                "remove jobqueue.slurm.job-mem or raise it to at least memory",
            )
    elif memory:
        from dask_jobqueue.slurm import slurm_format_bytes_ceil

        requested = slurm_format_bytes_ceil(_bytes(memory))
        mib = slurm.sbatch_mem_mib(requested) or 0
    else:
        return Check(
            name,
            True,
            "no jobqueue.slurm.memory set; `pangeo-hpc lab --memory 8GB` asks --mem=7630M "
            "(Slurm's M and G are MiB and GiB)",
        )
    source = f"job-mem {requested!r}" if job_mem is not None else f"memory {memory!r}"
    detail = f"{source} is requested as --mem={requested} ({mib} MiB; Slurm's M and G are MiB/GiB)"
    partition = _slurm_partition(scheduler)
    node_mb = partition.extra.get("memory_mb_per_node") if partition else None
    if partition is not None and node_mb:
        if mib > node_mb:
            return Check(
                name,
                False,
                f"{detail}, more than the {node_mb} MB of the largest node of partition "
                f"{partition.name}: sbatch refuses such jobs",
                f"lower jobqueue.slurm.memory to at most {node_mb}MiB or use another partition",
            )
        detail += f"; nodes of partition {partition.name} have up to {node_mb} MB"
    return Check(name, True, detail)


def _slurm_partition(scheduler: LabScheduler) -> QueueInfo | None:
    """The partition jobs go to (jobqueue.slurm.queue, else the default), when sinfo answers."""
    if scheduler.missing(scheduler.doctor_commands):
        return None
    try:
        partitions = scheduler.queues()
    except SchedulerCommandFailed:
        return None  # the partitions check reports it
    configured = dask_config("jobqueue.slurm.queue")
    if configured:
        return next((p for p in partitions if p.name == str(configured)), None)
    return _default_queue(partitions)


def _bytes(text: Any) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(str(text)))


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
            _qconf("-sql")
        except SchedulerCommandFailed as exc:
            return Check(name, False, f"SGE_ROOT is not set and {exc}", fix)
        return Check(name, True, "SGE_ROOT is not set; the commands find their cell themselves")
    act_qmaster = Path(root) / cell / "common" / "act_qmaster"
    try:
        qmaster = act_qmaster.read_text().strip()
    except OSError as exc:
        return Check(name, False, f"SGE_CELL={cell} is not a cell of {root}: {exc}", fix)
    return Check(name, True, f"SGE_ROOT={root} SGE_CELL={cell}, qmaster {qmaster}")


def _qconf(*args: str) -> str:
    """qconf's answer; SchedulerCommandFailed when it has none."""
    argv = ["qconf", *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchedulerCommandFailed("qconf", None, str(exc)) from None
    if proc.returncode != 0:
        raise SchedulerCommandFailed("qconf", proc.returncode, proc.stderr or proc.stdout)
    return proc.stdout


def check_sge_memory(scheduler: LabScheduler) -> Check | None:
    """dask-jobqueue passes jobqueue.sge.resource-spec to `-l` as written: a memory value qsub
    cannot read, a resource the cluster lacks, or less than dask's memory per job breaks every
    worker. Grid Engine's K/M/G are 1024-based, k/m/g 1000-based, and the value is per slot."""
    if scheduler.missing(("qconf",)):
        return None  # the commands check says so
    name = "Grid Engine memory units"
    try:
        complexes = sge.parse_complexes(_qconf("-sc"))
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), _ask_admins(scheduler.title))
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
        if granted < _bytes(memory):
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
        environments = _qconf("-spl").split()
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), _ask_admins(scheduler.title))
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


# Checks only one scheduler has, run after its commands check, given the scheduler's adapter.
SCHEDULER_CHECKS: dict[str, tuple[Callable[[LabScheduler], Check | None], ...]] = {
    "lsf": (
        lambda _: check_lsf_answers(),
        lambda _: check_lsf_bjobs_form(),
        lambda _: check_lsf_units(),
    ),
    "slurm": (check_slurm_memory,),
    "sge": (check_sge_cell, check_sge_memory, check_sge_parallel_environment),
}
