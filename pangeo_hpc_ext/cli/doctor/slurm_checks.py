"""`doctor`'s checks of Slurm beyond its commands and queues."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import SchedulerCommandFailed
from ...schedulers.base import QueueInfo
from ..lab.adapters import LabScheduler, slurm
from .dask_settings import dask_config
from .report import Check
from .scheduler_checks import default_queue, size_bytes


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
        if memory and mib * slurm.MIB < size_bytes(memory):
            return Check(
                name,
                False,
                f"jobqueue.slurm.job-mem {requested!r} ({mib} MiB) is below memory {memory!r}: "
                "Slurm kills workers before dask's memory limit stops them",
                "remove jobqueue.slurm.job-mem or raise it to at least memory",
            )
    elif memory:
        from dask_jobqueue.slurm import slurm_format_bytes_ceil

        requested = slurm_format_bytes_ceil(size_bytes(memory))
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
    return default_queue(partitions)


CHECKS: tuple[Callable[[LabScheduler], Check | None], ...] = (check_slurm_memory,)
