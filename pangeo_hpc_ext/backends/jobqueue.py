"""What every dask-jobqueue backend shares: worker jobs submitted through our scheduler client
(which keeps the scheduler's own refusal text), job ids reported as they are accepted, a cap on
submissions in flight, and workers whose job ended forgotten so that a new one can replace them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from dask_jobqueue.core import Job
from distributed.deploy import SpecCluster

from ..errors import SchedulerCommandFailed
from ..schedulers.base import JobInfo, SchedulerClient
from .base import Backend, JobEvents

# Scaling to 100 workers must not fire 100 submissions at once: a busy mbatchd/slurmctld answers
# slowly to all of them, and the login node (where this server runs) starves. Ten in flight keeps
# submissions quick without flooding either.
SUBMISSIONS_IN_FLIGHT = 10
_submission_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _submission_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    return _submission_slots.setdefault(loop, asyncio.Semaphore(SUBMISSIONS_IN_FLIGHT))


def reporting_job_class(
    base: type[Job], client: SchedulerClient, events: JobEvents, name: str
) -> type[Job]:
    """A subclass of dask-jobqueue's job class for one cluster. Upstream submits through a shell
    with stderr sent to /dev/null, so a refusal's reason is lost; ours goes through `client`."""

    async def _submit_job(self: Job, script_filename: str) -> str:
        script = await asyncio.to_thread(Path(script_filename).read_text)
        try:
            async with _submission_slot():
                job_id = await client.submit(script)
        except SchedulerCommandFailed as error:
            events.submit_failed(error.message)
            raise
        events.submitted(job_id)
        return job_id

    def _job_id_from_submit_output(self: Job, out: str) -> str:
        return out  # _submit_job already answers with the id

    return type(
        f"Reporting{base.__name__}For{name}",
        (base,),
        {"_submit_job": _submit_job, "_job_id_from_submit_output": _job_id_from_submit_output},
    )


class JobqueueBackend(Backend):
    has_jobs = True
    client: ClassVar[SchedulerClient]

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        return await self.client.job_states(job_ids)

    async def kill_jobs(self, job_ids: list[str]) -> None:
        await self.client.kill(job_ids)

    def forget_ended_workers(self, cluster: SpecCluster, ended_job_ids: set[str]) -> None:
        # dask keeps the spec of a worker whose job ended (walltime, node failure) and counts it;
        # without it, scaling to N gives N live jobs again. Its job is gone: nothing to close.
        for name, worker in list(cluster.workers.items()):
            if getattr(worker, "job_id", None) in ended_job_ids:
                cluster.worker_spec.pop(name, None)
                cluster.workers.pop(name, None)

    def start_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments every jobqueue cluster gets: the dashboard is only ever reached
        through our proxy, so it listens on loopback."""
        return {"scheduler_options": {"dashboard_address": "127.0.0.1:0"}, "asynchronous": True}
