"""IBM Spectrum LSF through dask-jobqueue's LSFCluster; job state from one batched `bjobs` call."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shlex
import time
from pathlib import Path
from typing import Any, ClassVar

import dask
import dask_jobqueue  # noqa: F401  (registers the jobqueue.* defaults in dask's config)
from dask_jobqueue.lsf import LSFCluster, LSFJob
from distributed.deploy import SpecCluster

from ..errors import FieldError, SchedulerCommandFailed
from ..paths import default_data_dir
from ..schedulers.commands import run_command
from .base import Backend, JobEvents, JobInfo
from .option_types import (
    DIRECTIVE_PATTERN,
    WALLTIME_PATTERN,
    check_log_directory,
    check_memory,
    check_processes,
    check_walltime,
    log_directory_path,
    memory_property,
)

log = logging.getLogger(__name__)

BJOBS_FIELDS = "jobid stat queue exec_host submit_time start_time run_time runtimelimit exit_reason"
SUBMITTED = re.compile(r"Job <(?P<job_id>\d+)> is submitted")
QUEUE_CACHE_S = 30.0
# Scaling to 100 workers must not fire 100 bsubs at once: a busy mbatchd answers slowly to all
# of them, and the login node (where this server runs) starves. Ten in flight keeps submissions
# quick without flooding either.
SUBMISSIONS_IN_FLIGHT = 10
_submission_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _submission_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    return _submission_slots.setdefault(loop, asyncio.Semaphore(SUBMISSIONS_IN_FLIGHT))


class ReportingLSFJob(LSFJob):
    """LSFJob that keeps bsub's stderr (upstream sends it to /dev/null, losing LSF's reason) and
    reports every job id it submits, so the manager can track and later kill them.

    The cluster makes one subclass per dask cluster carrying that cluster's `events`."""

    events: ClassVar[JobEvents]
    job_id_regexp = SUBMITTED.pattern

    async def _submit_job(self, script_filename: str) -> str:
        text = await asyncio.to_thread(Path(script_filename).read_text)
        argv = shlex.split(self.submit_command)
        if not self.use_stdin:
            argv.append(script_filename)
        try:
            async with _submission_slot():
                result = await run_command(argv, stdin=text if self.use_stdin else None)
            # Some sites' bsub says "Job not submitted." with exit 0 (balsam PR #34).
            if result.returncode != 0 or not SUBMITTED.search(result.stdout):
                output = result.stderr or result.stdout
                raise SchedulerCommandFailed(argv[0], result.returncode, output)
        except SchedulerCommandFailed as error:
            self.events.submit_failed(error.message)
            raise
        return result.stdout

    def _job_id_from_submit_output(self, out: str) -> str:
        job_id = super()._job_id_from_submit_output(out)
        self.events.submitted(job_id)
        return job_id


def _jobqueue_default(key: str) -> Any:
    return dask.config.get(f"jobqueue.lsf.{key}", None)


def _run_seconds(text: str) -> int | None:
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def _walltime_left(record: dict[str, str]) -> int | None:
    if record.get("STAT") != "RUN":
        return None
    try:
        limit_s = int(float(record.get("RUNTIMELIMIT") or "") * 60)
    except ValueError:
        return None
    run_s = _run_seconds(record.get("RUN_TIME", ""))
    return None if run_s is None else max(0, limit_s - run_s)


def parse_bjobs_json(text: str) -> dict[str, JobInfo]:
    data = json.loads(text)
    jobs: dict[str, JobInfo] = {}
    for record in data.get("RECORDS", []):
        job_id = record.get("JOBID", "")
        if not job_id or "ERROR" in record:
            continue  # aged out of mbatchd's memory: nothing left to report or kill
        jobs[job_id] = JobInfo(
            job_id=job_id,
            state=record.get("STAT", "UNKWN"),
            host=record.get("EXEC_HOST") or None,
            submitted=record.get("SUBMIT_TIME") or None,
            started=record.get("START_TIME") or None,
            walltime_left_s=_walltime_left(record),
            reason=record.get("EXIT_REASON") or None,
        )
    return jobs


def parse_bqueues(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("QUEUE_NAME"):
        return []
    return [line.split()[0] for line in lines[1:]]


class LSFBackend(Backend):
    name = "lsf"
    label = "LSF batch jobs"
    has_jobs = True
    # What LSFCluster already writes into the #BSUB header from validated options.
    overriding_directives = {
        "-q": "queue",
        "-P": "project",
        "-n": "cores",
        "-R": "cores",
        "-M": "memory",
        "-W": "walltime",
        "-J": "name",
        "-o": "log_directory",
        "-e": "log_directory",
    }

    def __init__(self) -> None:
        self._queues: list[str] = []
        self._queues_read_at = float("-inf")

    def default_options(self) -> dict[str, Any]:
        return {
            "cores": _jobqueue_default("cores") or 1,
            "memory": _jobqueue_default("memory") or "2GB",
            "processes": _jobqueue_default("processes") or 1,
            "queue": _jobqueue_default("queue"),
            "walltime": _jobqueue_default("walltime") or "00:30",
            "interface": _jobqueue_default("interface"),
            "project": _jobqueue_default("project"),
            "job_extra_directives": list(_jobqueue_default("job-extra-directives") or []),
            # Without -o LSF mails each job's output to the user: one mail per worker job. The
            # default is under $HOME, which compute nodes share on the clusters we target.
            "log_directory": _jobqueue_default("log-directory")
            or str(default_data_dir() / "dask-job-logs"),
        }

    async def queues(self) -> list[str]:
        """Queue names from `bqueues`, cached; empty when bqueues does not answer."""
        if time.monotonic() - self._queues_read_at < QUEUE_CACHE_S:
            return self._queues
        try:
            result = await run_command(["bqueues"], timeout=15)
            self._queues = parse_bqueues(result.stdout) if result.returncode == 0 else []
        except SchedulerCommandFailed as error:
            log.info("queue names unavailable: %s", error.message)
            self._queues = []
        self._queues_read_at = time.monotonic()
        return self._queues

    async def options_schema(self, choices: dict[str, list[Any]]) -> dict[str, Any]:
        defaults = self.default_options()
        queue: dict[str, Any] = {"type": "string", "title": "Queue"}
        allowed_queues = choices.get("queue") or await self.queues()
        if allowed_queues:
            queue["enum"] = list(allowed_queues)
        if defaults["queue"]:
            queue["default"] = defaults["queue"]
        optional_text = {"type": ["string", "null"]}
        properties: dict[str, Any] = {
            "cores": {
                "type": "integer",
                "title": "Cores per job",
                "minimum": 1,
                "maximum": 4096,
                "default": defaults["cores"],
            },
            "memory": memory_property("Memory per job", defaults["memory"]),
            "processes": {
                "type": "integer",
                "title": "Worker processes per job",
                "minimum": 1,
                "maximum": 4096,
                "default": defaults["processes"],
            },
            "queue": queue,
            "walltime": {
                "type": "string",
                "title": "Walltime ([hh:]mm)",
                "pattern": WALLTIME_PATTERN,
                "errorMessage": "must be [hh:]mm, such as 00:30 or 8:00",
                "default": defaults["walltime"],
            },
            "interface": {
                **optional_text,
                "title": "Network interface (e.g. ib0)",
                "default": defaults["interface"],
            },
            "project": {**optional_text, "title": "Project (-P)", "default": defaults["project"]},
            "job_extra_directives": {
                "type": "array",
                "title": "Extra #BSUB directives",
                "items": {
                    "type": "string",
                    "pattern": DIRECTIVE_PATTERN,
                    "errorMessage": "each directive is one line that starts with '-'",
                },
                "default": defaults["job_extra_directives"],
            },
            "log_directory": {
                **optional_text,
                "title": "Job log directory",
                "default": defaults["log_directory"],
            },
        }
        for option, values in choices.items():
            if option in properties and option != "queue":
                properties[option]["enum"] = list(values)
        return {
            "type": "object",
            "title": "LSF cluster",
            "additionalProperties": False,
            "properties": properties,
        }

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        return (
            super().check_options(options)
            + check_memory(options, "memory")
            + check_walltime(options)
            + check_processes(options)
            + check_log_directory(options)
        )

    async def start_cluster(
        self, options: dict[str, Any], *, name: str, events: JobEvents
    ) -> SpecCluster:
        job_cls = type("ReportingLSFJobFor" + name, (ReportingLSFJob,), {"events": events})
        # The dashboard is only ever reached through our proxy, so it listens on loopback; the
        # scheduler listens where the workers' interface says, as dask-jobqueue does.
        scheduler_options: dict[str, Any] = {"dashboard_address": "127.0.0.1:0"}
        cluster = LSFCluster(
            cores=options["cores"],
            memory=options["memory"],
            processes=options["processes"],
            queue=options.get("queue") or None,
            walltime=options["walltime"],
            interface=options.get("interface") or None,
            project=options.get("project") or None,
            job_extra_directives=list(options.get("job_extra_directives") or []),
            log_directory=str(log_directory_path(options["log_directory"]))
            if options.get("log_directory")
            else None,
            job_name=f"dask-{name}",
            job_cls=job_cls,
            scheduler_options=scheduler_options,
            asynchronous=True,
        )
        await cluster
        return cluster

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        if not job_ids:
            return {}
        result = await run_command(["bjobs", "-o", BJOBS_FIELDS, "-json", *job_ids], timeout=30)
        try:
            return parse_bjobs_json(result.stdout)
        except ValueError:
            raise SchedulerCommandFailed(
                "bjobs", result.returncode, result.stderr or result.stdout
            ) from None

    async def kill_jobs(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        # bkill exits 255 when any job had already finished; that is success for us.
        await run_command(["bkill", *job_ids], timeout=30)
