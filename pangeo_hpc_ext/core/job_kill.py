"""Killing batch jobs and waiting until the scheduler agrees they ended: one loop, used by the
manager (a DELETE answers only once the allocation is given back), by a cluster's supervisor
before it goes, and at server start for the jobs of owners that died."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..backends import Backend
from ..errors import SchedulerCommandFailed
from ..schedulers.base import JobInfo
from .cluster import ManagedCluster
from .ledger import JobLedger, job_alive_from, job_is_ours
from .profiles import Profile

log = logging.getLogger(__name__)

# After a kill, how long to wait for the scheduler to report the jobs finished.
KILL_CONFIRM_TIMEOUT_S = 15.0
KILL_CONFIRM_POLL_S = 0.25


async def kill_and_confirm(
    backend: Backend,
    job_ids: list[str],
    *,
    seen: Callable[[dict[str, JobInfo]], None] | None = None,
    best_effort: bool = False,
) -> SchedulerCommandFailed | None:
    """Kill these jobs, then read their states (each read handed to `seen`) until the scheduler
    reports every one finished, for at most KILL_CONFIRM_TIMEOUT_S. None once confirmed, else
    why not: the last read's error, or the jobs still not finished.

    The server confirms (its DELETE means the allocation is given back): a failed kill raises, a
    failed read is tried again, and a job counts as ended only when seen finished. A supervisor
    about to go does its `best_effort`: a failed kill is logged, a failed read kills them all
    once more and ends the wait, and a job the scheduler no longer lists counts as ended."""
    doomed = list(job_ids)
    if not doomed:
        return None
    try:
        await backend.kill_jobs(doomed)
    except SchedulerCommandFailed as error:
        if not best_effort:
            raise
        log.warning("killing jobs %s: %s", doomed, error.message)
    unread: SchedulerCommandFailed | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_CONFIRM_TIMEOUT_S
    while doomed and loop.time() < deadline:
        await asyncio.sleep(KILL_CONFIRM_POLL_S)
        try:
            states = await backend.job_states(doomed)
        except SchedulerCommandFailed as error:
            if best_effort:
                log.warning("job states unavailable, killing all: %s", error.message)
                try:
                    await backend.kill_jobs(doomed)
                except SchedulerCommandFailed as failed:
                    log.warning("killing jobs %s: %s", doomed, failed.message)
                return error
            unread = error
            continue
        unread = None
        if seen is not None:
            seen(states)
        doomed = [
            j
            for j in doomed
            if (j in states and not states[j].finished) or (j not in states and not best_effort)
        ]
    if not doomed:
        return None
    log.warning("jobs %s not confirmed ended after the kill", doomed)
    return unread or SchedulerCommandFailed(
        "bkill", None, f"jobs {' '.join(doomed)} still not finished after bkill"
    )


async def kill_cluster_jobs(managed: ManagedCluster) -> SchedulerCommandFailed | None:
    """Kill every job of the cluster still unfinished, and confirm they ended (kill_and_confirm).
    Only jobs seen submitted here, or that the scheduler names as this cluster's, are killed: a
    recorded id may be anyone's by now. The error that kept it from confirming, if any."""
    if not managed.job_ids:
        return None
    try:
        managed.jobs.update(await managed.backend.job_states(managed.job_ids))
    except SchedulerCommandFailed as error:
        # States unknown: kill the jobs seen submitted here (bkill may still get through), then
        # confirm.
        unfinished = managed.unfinished_job_ids()
        doomed = [j for j in unfinished if j in managed.submitted_here]
        log.warning(
            "could not read job states, killing the %d jobs %s submitted here: %s",
            len(doomed),
            managed.id,
            error,
        )
        if len(doomed) < len(unfinished):
            # The others cannot be told ours or not now: a later read decides, and the close
            # stays unconfirmed until then.
            if doomed:
                await managed.backend.kill_jobs(doomed)
            return error
        return await kill_and_confirm(managed.backend, doomed, seen=managed.jobs.update)
    doomed = [
        j
        for j in managed.unfinished_job_ids()
        if j in managed.submitted_here
        or (j in managed.jobs and job_is_ours(managed.backend, managed.id, managed.jobs[j]))
    ]
    return await kill_and_confirm(managed.backend, doomed, seen=managed.jobs.update)


async def kill_leftovers(ledger: JobLedger, profiles: dict[str, Profile]) -> None:
    """Kill the jobs that owners now gone (a server or a supervisor that died) left in their
    ledgers, once the scheduler names each as the cluster's; the ledgers go when all were read."""
    backends = {p.backend.name: p.backend for p in profiles.values()}
    reconciled = True
    orphans = await ledger.orphans(job_alive_from(backends))
    for backend_name, by_cluster in orphans.jobs.items():
        backend = backends.get(backend_name)
        job_ids = [j for ids in by_cluster.values() for j in ids]
        if backend is None or not job_ids:
            continue
        try:
            states = await backend.job_states(job_ids)
            doomed = [
                j
                for cluster_id, ids in by_cluster.items()
                for j in ids
                if j in states
                and not states[j].finished
                and job_is_ours(backend, cluster_id, states[j])
            ]
            if doomed:
                log.warning(
                    "killing %d %s jobs left by a server that died", len(doomed), backend_name
                )
                await backend.kill_jobs(doomed)
        except SchedulerCommandFailed as error:
            log.warning("could not reconcile leftover %s jobs: %s", backend_name, error)
            reconciled = False
    if reconciled:  # otherwise keep the ledgers and try again at the next start
        orphans.remove()
