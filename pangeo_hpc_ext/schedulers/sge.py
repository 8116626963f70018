"""Grid Engine (Son of Grid Engine 8.1, and the Univa/Altair lineage that shares its commands):
qsub, one `qstat -xml` for every job's state, `qstat -j` for pending and error reasons, `qacct`
for how ended jobs ended, qdel, and queues from qconf.

Grid Engine forgets a job the moment it ends, so "not listed by qstat" means ended; accounting
(qacct) tells how, when the site writes it and lets users read it."""

from __future__ import annotations

import getpass
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from ..errors import SchedulerCommandFailed
from .arrays import SGE_ARRAYS
from .base import (
    JobInfo,
    JobState,
    QueueInfo,
    SchedulerClient,
)
from .commands import run_command
from .sge_output import (
    ENDED_WORD,
    accounting_problem,
    parse_qacct,
    parse_qstat_j,
    parse_qstat_xml,
    parse_qsub,
    parse_queue_configs,
    qdel_refusals,
)

log = logging.getLogger(__name__)

# Pending reasons cost one `qstat -j` (about 1 kB per job): ask for a bounded number of jobs per
# refresh and keep each answer a while; a reason rarely changes between two polls.
REASON_TTL_S = 30.0
# No reason yet (the scheduler has not looked at a new job): asked again sooner.
NO_REASON_TTL_S = 5.0
REASONS_PER_CALL = 20
# Remembered ends: a finished job never changes again, so it is read from qacct once.
ENDED_REMEMBERED = 2000
# Clock differences between this host and the qmaster, and accounting written late.
ACCOUNTING_MARGIN_S = 120
# qmaster writes accounting every flush_time (15 s by default): a job that left qstat is given
# that long to appear there before it is reported ended without a reason.
ACCOUNTING_WAIT_S = 20.0


@dataclass(frozen=True)
class _Reason:
    asked_at: float  # time.monotonic()
    native_state: str  # the state it was asked in
    reason: str | None


class SGEClient(SchedulerClient):
    name = "sge"
    arrays = SGE_ARRAYS

    def __init__(self, user: str | None = None) -> None:
        self.user = user or getpass.getuser()
        self._reasons: dict[str, _Reason] = {}
        self._ended: OrderedDict[str, JobInfo] = OrderedDict()
        # What qstat said about each job the last time it listed it, and when (time.time()).
        self._last_listed: dict[str, tuple[float, JobInfo]] = {}
        self._killed: set[str] = set()
        self._accounting_readable = True

    async def submit(self, script: str) -> str:
        result = await run_command(["qsub"], stdin=script)
        job_id = parse_qsub(result.stdout)
        if result.returncode != 0 or job_id is None:
            raise SchedulerCommandFailed(
                "qsub", result.returncode, result.stderr.strip() or result.stdout
            )
        return job_id

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """Jobs qstat lists, read with one call; for the others (ended), how they ended as far as
        accounting knows, else finished with no reason."""
        if not job_ids:
            return {}
        every = await self.list_jobs()
        listed = {j: every[j] for j in job_ids if j in every}
        await self._add_reasons(listed, every)
        now = time.time()
        for job_id, info in listed.items():
            self._last_listed[job_id] = (now, info)
        gone = [j for j in job_ids if j not in listed]
        return {**listed, **(await self._ended_jobs(gone))}

    async def list_jobs(self) -> dict[str, JobInfo]:
        """All of this user's jobs that Grid Engine holds, with one qstat call."""
        result = await run_command(["qstat", "-xml", "-r", "-u", self.user], timeout=self.timeout_s)
        if result.returncode != 0:
            raise SchedulerCommandFailed("qstat", result.returncode, result.stderr or result.stdout)
        try:
            return parse_qstat_xml(result.stdout)
        except ValueError as error:
            raise SchedulerCommandFailed("qstat", result.returncode, str(error)) from None

    async def _add_reasons(self, listed: dict[str, JobInfo], every: dict[str, JobInfo]) -> None:
        # Running jobs have no reason to give; error-state jobs say what went wrong.
        waiting = [
            j for j, info in listed.items() if info.state in (JobState.PENDING, JobState.FAILED)
        ]
        now = time.monotonic()

        def asked_at(job_id: str) -> float:
            return self._reasons[job_id].asked_at if job_id in self._reasons else -math.inf

        def is_stale(job_id: str) -> bool:
            known = self._reasons.get(job_id)
            if known is None or known.native_state != listed[job_id].native_state:
                return True  # qw -> Eqw: the error replaces the scheduling info
            return now - known.asked_at > (REASON_TTL_S if known.reason else NO_REASON_TTL_S)

        def asked_as(job_id: str) -> str:
            # qstat -j takes and answers an array's own id, for all its elements at once.
            element = listed[job_id].array
            return element.parent if element is not None else job_id

        # Oldest answers first, so that with many pending jobs every one gets its turn.
        batch = sorted(filter(is_stale, waiting), key=asked_at)[:REASONS_PER_CALL]
        if batch:
            asked = list(dict.fromkeys(asked_as(j) for j in batch))
            try:
                result = await run_command(["qstat", "-j", ",".join(asked)], timeout=self.timeout_s)
                fresh = parse_qstat_j(result.stdout)
            except SchedulerCommandFailed as error:
                log.info("pending reasons unavailable: %s", error.message)
                fresh = {}
            for job_id in batch:
                native = listed[job_id].native_state
                self._reasons[job_id] = _Reason(now, native, fresh.get(asked_as(job_id)))
        for job_id in list(self._reasons):
            if job_id not in every:
                del self._reasons[job_id]
        for job_id in waiting:
            known = self._reasons.get(job_id)
            if known is not None and known.reason:
                listed[job_id] = replace(listed[job_id], reason=known.reason)

    async def _ended_jobs(self, job_ids: list[str]) -> dict[str, JobInfo]:
        unknown = [j for j in job_ids if j not in self._ended]
        found = await self._accounting(unknown) if unknown else {}
        now = time.time()
        answer: dict[str, JobInfo] = {}
        for job_id in job_ids:
            info = self._ended.get(job_id) or found.get(job_id)
            if info is None:
                seen_at, last = self._last_listed.get(job_id, (-math.inf, None))
                if last is not None and self._awaits_accounting(job_id, now - seen_at):
                    # qmaster writes accounting a little after the end (flush_time): until
                    # then the job stays as last seen rather than ending without its reason.
                    answer[job_id] = last
                    continue
                info = JobInfo(job_id=job_id, state=JobState.FINISHED, native_state=ENDED_WORD)
            elif job_id in self._killed and info.state is JobState.FAILED:
                # Deleted on request (a scale-down, a DELETE): accounting calls that a failure
                # ("assumedly after job", killed), but it ended as asked.
                info = replace(info, state=JobState.FINISHED)
            self._remember_end(info)
            answer[job_id] = info
        return answer

    def _awaits_accounting(self, job_id: str, gone_for_s: float) -> bool:
        # Jobs we deleted ended because of that; nothing to wait for.
        return (
            self._accounting_readable
            and job_id not in self._killed
            and gone_for_s < ACCOUNTING_WAIT_S
        )

    def _remember_end(self, info: JobInfo) -> None:
        self._ended[info.job_id] = info
        self._last_listed.pop(info.job_id, None)
        self._killed.discard(info.job_id)
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    async def _accounting(self, job_ids: list[str]) -> dict[str, JobInfo]:
        """How these jobs ended, from qacct: `-j ID` for one; for several, one call for all of
        this user's jobs that ended since the earliest of them was last listed."""
        if not self._accounting_readable:
            return {}
        element = SGE_ARRAYS.parse_element_id(job_ids[0])
        if len(job_ids) == 1:
            # An array's id answers every element's record; qacct reads `123.4` as 123 anyway.
            argv = ["qacct", "-j", element.parent if element else job_ids[0]]
        else:
            seen = [self._last_listed[j][0] for j in job_ids if j in self._last_listed]
            since = min(seen) if len(seen) == len(job_ids) else time.time() - 86400
            begin = datetime.fromtimestamp(since - ACCOUNTING_MARGIN_S).strftime("%y%m%d%H%M.%S")
            argv = ["qacct", "-o", self.user, "-E", "-b", begin, "-j"]
        try:
            result = await run_command(argv, timeout=2 * self.timeout_s)
        except SchedulerCommandFailed as error:
            self._accounting_unreadable(error.message)
            return {}
        problem = accounting_problem(result.returncode, result.stderr)
        if problem:
            self._accounting_unreadable(problem)
        return parse_qacct(result.stdout)

    def _accounting_unreadable(self, why: str) -> None:
        # Sites may keep the accounting file off the login node: ended jobs then end at once,
        # without a reason, instead of each waiting for a record that never comes.
        log.info("Grid Engine accounting unavailable, end reasons unknown: %s", why)
        self._accounting_readable = False

    def killed_elsewhere(self, job_ids: list[str]) -> None:
        self._killed.update(job_ids)

    async def kill(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        self._killed.update(job_ids)
        result = await run_command(["qdel", *job_ids], timeout=self.timeout_s)
        if result.returncode == 0:
            return
        refused = qdel_refusals(f"{result.stdout}\n{result.stderr}")
        if refused:
            raise SchedulerCommandFailed("qdel", result.returncode, "\n".join(refused))

    async def queues(self) -> list[QueueInfo]:
        names = await run_command(["qconf", "-sql"], timeout=self.timeout_s)
        if names.returncode != 0:
            raise SchedulerCommandFailed("qconf", names.returncode, names.stderr or names.stdout)
        queue_names = [line.strip() for line in names.stdout.splitlines() if line.strip()]
        if not queue_names:
            return []
        # One call for all queues: qconf -sq takes a comma-separated list.
        configs = await run_command(["qconf", "-sq", ",".join(queue_names)], timeout=self.timeout_s)
        if configs.returncode != 0:
            raise SchedulerCommandFailed(
                "qconf", configs.returncode, configs.stderr or configs.stdout
            )
        limits = {q.name: q for q in parse_queue_configs(configs.stdout)}
        return [limits.get(name, QueueInfo(name=name)) for name in queue_names]
