"""`doctor`'s checks of PBS Pro / OpenPBS beyond its commands and queues: the server answers,
the configured walltime fits the queue's limit, and some node has the cores and memory a job
asks for."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import SchedulerCommandFailed
from ...schedulers import pbs
from ..lab.adapters import LabScheduler
from .dask_settings import dask_config
from .report import Check
from .scheduler_checks import answer, ask_admins, default_queue, size_bytes


def check_pbs_server(scheduler: LabScheduler) -> Check | None:
    if scheduler.missing(("qstat",)):
        return None  # the commands check says so
    name = "PBS server answers (qstat -B)"
    try:
        servers = pbs.load_json(answer("qstat", "-B", "-f", "-F", "json"), "qstat -B")
    except (SchedulerCommandFailed, ValueError) as exc:
        return Check(name, False, str(exc), ask_admins(scheduler.title))
    version = servers.get("pbs_version", "unknown version")
    names = ", ".join(servers.get("Server") or {}) or "no server listed"
    return Check(name, True, f"{names} (PBS {version})")


def check_pbs_walltime(scheduler: LabScheduler) -> Check | None:
    """PBS refuses a job whose walltime is above its queue's resources_max.walltime: every
    worker of a cluster with such a jobqueue.pbs.walltime would be refused."""
    if scheduler.missing(scheduler.doctor_commands):
        return None
    name = "PBS walltime limit"
    walltime = dask_config("jobqueue.pbs.walltime")
    try:
        queues = scheduler.queues()
    except SchedulerCommandFailed:
        return None  # the queues check reports it
    configured = dask_config("jobqueue.pbs.queue")
    queue = next((q for q in queues if q.name == str(configured)), None) if configured else None
    queue = queue or default_queue(queues)
    if queue is None:
        return None
    limit_s = queue.extra.get("max_walltime_s")
    limit = pbs.format_walltime(limit_s) if limit_s is not None else "none"
    if not walltime:
        return Check(name, True, f"no jobqueue.pbs.walltime; queue {queue.name}'s limit: {limit}")
    try:
        asked_s = pbs.parse_walltime(str(walltime))
    except ValueError as exc:
        return Check(name, False, f"jobqueue.pbs.walltime: {exc}", "write it as hh:mm:ss")
    if limit_s is not None and asked_s > limit_s:
        return Check(
            name,
            False,
            f"jobqueue.pbs.walltime {walltime} is above queue {queue.name}'s "
            f"resources_max.walltime {limit}: qsub refuses every worker job",
            f"lower jobqueue.pbs.walltime to at most {limit} or use another queue",
        )
    return Check(name, True, f"walltime {walltime} within queue {queue.name}'s limit ({limit})")


def check_pbs_nodes(scheduler: LabScheduler) -> Check | None:
    """A job whose select asks for more cores or memory than any node has stays queued for ever
    ("Insufficient amount of resource")."""
    if scheduler.missing(("pbsnodes",)):
        return None
    name = "PBS nodes (resources_available)"
    try:
        nodes = pbs.parse_nodes(answer("pbsnodes", "-a", "-F", "json"))
    except (SchedulerCommandFailed, ValueError) as exc:
        return Check(name, False, str(exc), ask_admins(scheduler.title))
    if not nodes:
        return Check(name, False, "pbsnodes lists no node", ask_admins(scheduler.title))
    cores = int(dask_config("jobqueue.pbs.cores") or 1)
    memory = dask_config("jobqueue.pbs.memory")
    memory_b = size_bytes(memory) if memory else 0
    fits = [
        n for n in nodes if n.ncpus >= cores and (n.mem_bytes is None or n.mem_bytes >= memory_b)
    ]
    shown = ", ".join(n.label() for n in nodes[:8])
    if not fits:
        return Check(
            name,
            False,
            f"no node has {cores} cores and {memory or 'no set'} memory: {shown}",
            "lower jobqueue.pbs.cores or jobqueue.pbs.memory to what a node has",
        )
    return Check(name, True, f"{len(fits)} of {len(nodes)} nodes fit a job: {shown}")


CHECKS: tuple[Callable[[LabScheduler], Check | None], ...] = (
    check_pbs_server,
    check_pbs_walltime,
    check_pbs_nodes,
)
