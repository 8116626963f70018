"""The record of the batch jobs a server submitted, kept on disk so that a server that died
without closing its clusters has their jobs killed when a server starts again.

Each server writes its own ledger. On an HPC cluster the state directory sits in a $HOME shared
by every node, and one user may run several servers at once (on a login node, in a batch job):
a ledger is reconciled only when its owner is known to be gone. On this host that is read from
the process table; on another host only the owner's own batch job can tell, through the
scheduler. A ledger of another host without a job id is never touched."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import stat
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from ..errors import SchedulerCommandFailed, StateNotWritable
from ..paths import safe_file_name, write_json_atomic
from ..schedulers.base import JobInfo
from ..schedulers.registry import SCHEDULERS

log = logging.getLogger(__name__)

# What the server names clusters (secrets.token_hex(8)).
CLUSTER_ID_PATTERN = "^[0-9a-f]{16}$"
# Job ids as the schedulers print them, an array element's too. Never 0 (`bkill 0` kills every
# job of the user) nor anything a command's option parser would read.
# PBS adds its server's name ("12.pbs01", "13[2].pbs01").
JOB_ID_PATTERN = (
    r"^[1-9][0-9]{0,18}([._][0-9]{1,9}|\[[0-9]{1,9}\])?(\.[A-Za-z0-9][A-Za-z0-9.-]{0,252})?$"
)
_CLUSTER_ID = re.compile(CLUSTER_ID_PATTERN)
_JOB_ID = re.compile(JOB_ID_PATTERN)


def quarantine(path: Path, state_dir: Path, why: str) -> None:
    """Move a record or ledger that is corrupt or not ours aside, never to be acted on; kept
    (not deleted) for the user to look at."""
    target_dir = state_dir / "quarantine"
    target = target_dir / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
    try:
        target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(path, target)
    except OSError as error:
        log.warning("%s is unusable (%s) and could not be moved aside: %s", path, why, error)
        return
    log.warning("%s is unusable (%s); moved to %s and not acted on", path, why, target)


class NamedJobs(Protocol):
    def job_name(self, cluster_id: str) -> str | None: ...


def job_is_ours(backend: NamedJobs, cluster_id: str, info: JobInfo) -> bool:
    """Whether the scheduler confirms that a job named in a record or ledger is the cluster's:
    it reports the job under the name we gave it at submission. Job ids are reused, and records
    can be planted: no confirmation, no kill."""
    expected = backend.job_name(cluster_id)
    if expected is None or info.name is None:
        log.warning(
            "job %s (recorded for cluster %s) is not killed: the scheduler reports no job name "
            "to confirm it is that cluster's",
            info.job_id,
            cluster_id,
        )
        return False
    if info.name != expected:
        log.warning(
            "job %s (recorded for cluster %s) is not killed: the scheduler calls it %r, not %r",
            info.job_id,
            cluster_id,
            info.name[:200],
            expected,
        )
        return False
    return True


# Whether a scheduler still runs a job: True, False (ended, or unknown to it), None (no answer).
JobAliveQuery = Callable[[str, str], Awaitable[bool | None]]


@dataclass(frozen=True)
class BatchJob:
    scheduler: str
    id: str

    def to_json(self) -> dict[str, str]:
        return {"scheduler": self.scheduler, "id": self.id}


def own_batch_job(environ: Mapping[str, str]) -> BatchJob | None:
    """The batch job this process runs in, from the variables its scheduler sets."""
    for scheduler in SCHEDULERS.values():
        job_id = scheduler.job_id(environ)
        if job_id:
            return BatchJob(scheduler.name, job_id)
    return None


@dataclass(frozen=True)
class LedgerOwner:
    pid: int
    started: float
    # None: written before ledgers named their host; such a ledger is read as this host's.
    host: str | None
    job: BatchJob | None

    @classmethod
    def from_json(cls, data: Any) -> LedgerOwner:
        data = data if isinstance(data, dict) else {}
        job = data.get("job")
        batch_job = None
        if isinstance(job, dict) and job.get("scheduler") and job.get("id"):
            batch_job = BatchJob(str(job["scheduler"]), str(job["id"]))
        try:
            pid, started = int(data.get("pid", -1)), float(data.get("started", 0))
        except (TypeError, ValueError):
            pid, started = -1, 0.0
        host = data.get("host")
        return cls(pid, started, str(host) if host else None, batch_job)

    def to_json(self) -> dict[str, Any]:
        job = self.job.to_json() if self.job else None
        return {"pid": self.pid, "started": self.started, "host": self.host, "job": job}

    def on_host(self, host: str) -> bool:
        return self.host is None or self.host == host


@dataclass(frozen=True)
class Verdict:
    orphaned: bool
    why: str
    # A ledger left alone only because nobody could tell: the user may have to act.
    undecided: bool = False


def judge_owner(
    owner: LedgerOwner, this_host: str, *, process_alive: bool | None, job_alive: bool | None
) -> Verdict:
    """Whether a ledger's owner is gone, from the answers to the two questions that can tell:
    is the owner's process (same pid and start time) alive on this host, and does the owner's
    batch job still run. None means the question was not asked or had no answer."""
    if owner.on_host(this_host):
        if process_alive:
            return Verdict(False, f"its server (pid {owner.pid}) is running on this host")
        return Verdict(True, f"its server (pid {owner.pid}) is no longer running on this host")
    where = f"a server on {owner.host} (pid {owner.pid})"
    if owner.job is None:
        return Verdict(
            False,
            f"{where} that is not in a batch job: whether it still runs cannot be known from "
            "here; once that server is stopped its jobs are reconciled by the next server "
            "started on that host",
            undecided=True,
        )
    job = f"batch job {owner.job.id} ({owner.job.scheduler})"
    if job_alive is None:
        return Verdict(
            False,
            f"{where}: the scheduler did not say whether its {job} still runs",
            undecided=True,
        )
    if job_alive:
        return Verdict(False, f"{where} whose {job} is still running")
    return Verdict(True, f"{where} whose {job} has ended")


def same_process_alive(pid: int, started: float) -> bool:
    """A live process with this pid and start time; another start time means a reused pid."""
    try:
        return abs(psutil.Process(pid).create_time() - started) <= 1
    except psutil.Error:
        return False


class JobStates(Protocol):
    async def job_states(self, job_ids: list[str]) -> Mapping[str, Any]: ...


def job_alive_from(backends: Mapping[str, JobStates]) -> JobAliveQuery:
    """Answers "does this batch job still run" with the job_states of the backend named like the
    job's scheduler; no such backend, or a failed query, is no answer."""

    async def alive(scheduler: str, job_id: str) -> bool | None:
        backend = backends.get(scheduler)
        if backend is None:
            return None
        try:
            states = await backend.job_states([job_id])
        except SchedulerCommandFailed as error:
            log.warning("could not ask %s about job %s: %s", scheduler, job_id, error.message)
            return None
        info = states.get(job_id)
        # A job the scheduler no longer knows ended long enough ago to be forgotten.
        return info is not None and not info.finished

    return alive


def ledger_problem(data: Any, info: os.stat_result) -> str | None:
    """Why `data` is not a ledger this user's server wrote; None if it is one."""
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return f"not a regular file of this user (uid {info.st_uid})"
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), dict):
        return "no clusters in it"
    if not isinstance(data.get("owner"), dict):
        return "no owner in it"
    for cluster_id, entry in data["clusters"].items():
        if not _CLUSTER_ID.match(cluster_id):
            return f"{cluster_id[:40]!r} is not a cluster id"
        if not isinstance(entry, dict) or not isinstance(entry.get("backend"), str):
            return f"cluster {cluster_id} names no backend"
        job_ids = entry.get("job_ids")
        if not isinstance(job_ids, list) or not all(
            isinstance(j, str) and _JOB_ID.match(j) for j in job_ids
        ):
            return f"cluster {cluster_id}: job_ids are not a list of job ids"
    return None


def ledger_path(state_dir: Path, host: str, pid: int) -> Path:
    # The host is in the name: pids of different nodes collide in a shared $HOME.
    return state_dir / f"jobs-{safe_file_name(host, 'host')}-{pid}.json"


def forget_in_ledger(state_dir: Path, host: str, pid: int, cluster_id: str) -> None:
    """Drop a deleted cluster from the ledger of the (dead) process that kept it; the ledger
    goes with its last cluster."""
    path = ledger_path(state_dir, host, pid)
    if not path.exists():
        return
    data = JobLedger._read(path, state_dir)
    if data is None or cluster_id not in data["clusters"]:
        return
    del data["clusters"][cluster_id]
    try:
        if data["clusters"]:
            write_json_atomic(path, data)
        else:
            path.unlink(missing_ok=True)
    except OSError as error:
        log.warning("job ledger %s not updated: %s", path, error)


@dataclass
class Orphans:
    """Ledgers whose owners are gone, and the jobs they recorded: backend name -> cluster id ->
    job ids."""

    paths: list[Path] = field(default_factory=list)
    jobs: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


class JobLedger:
    def __init__(
        self,
        state_dir: Path,
        pid: int | None = None,
        *,
        host: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.pid = pid if pid is not None else os.getpid()
        self.host = host or socket.gethostname()
        try:
            started = psutil.Process(self.pid).create_time()
        except psutil.Error:
            started = 0.0
        job = own_batch_job(os.environ if environ is None else environ)
        self.owner = LedgerOwner(self.pid, started, self.host, job)
        self.path = ledger_path(state_dir, self.host, self.pid)
        self._clusters: dict[str, dict[str, object]] = {}

    async def orphans(self, job_alive: JobAliveQuery) -> Orphans:
        """The other ledgers whose owner is gone; the others are left alone, and said so."""
        found = Orphans()
        for path in sorted(self.state_dir.glob("jobs-*.json")):
            if path == self.path:
                continue
            data = self._read(path, self.state_dir)
            if data is None:
                continue
            owner = LedgerOwner.from_json(data.get("owner"))
            verdict = await self._judge(owner, job_alive)
            if not verdict.orphaned:
                if verdict.undecided:
                    log.warning("leaving job ledger %s alone: %s", path, verdict.why)
                continue
            log.info("reconciling job ledger %s: %s", path, verdict.why)
            found.paths.append(path)
            for cluster_id, entry in data["clusters"].items():
                by_cluster = found.jobs.setdefault(entry["backend"], {})
                by_cluster.setdefault(cluster_id, []).extend(entry["job_ids"])
        return found

    async def _judge(self, owner: LedgerOwner, job_alive: JobAliveQuery) -> Verdict:
        alive = job = None
        if owner.on_host(self.host):
            alive = same_process_alive(owner.pid, owner.started)
        elif owner.job is not None:
            job = await job_alive(owner.job.scheduler, owner.job.id)
        return judge_owner(owner, self.host, process_alive=alive, job_alive=job)

    def record(self, cluster_id: str, backend: str, job_ids: list[str]) -> None:
        """Raises StateNotWritable; the ledger on disk then stays as it was."""
        self._clusters[cluster_id] = {"backend": backend, "job_ids": list(job_ids)}
        self._write()

    def forget(self, cluster_id: str) -> None:
        if self._clusters.pop(cluster_id, None) is None:
            return
        try:
            if self._clusters:
                self._write()
            else:  # nothing left to reconcile: a clean stop leaves no ledger behind
                self.path.unlink(missing_ok=True)
        except (StateNotWritable, OSError) as error:
            # The cluster's jobs are killed already; a stale entry only has a later server
            # ask the scheduler about jobs that have ended.
            log.warning("job ledger %s not updated: %s", self.path, error)

    @staticmethod
    def _read(path: Path, state_dir: Path) -> dict[str, Any] | None:
        """A ledger's content; None when it cannot be read now (left alone: perhaps a transient
        error of a shared file system, never judged on a misread) or is not a ledger this
        user's server wrote (quarantined)."""
        try:
            info = path.lstat()
            text = path.read_text()
        except OSError as error:
            log.warning("job ledger %s cannot be read (%s); left alone", path, error)
            return None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            quarantine(path, state_dir, f"not JSON ({str(error)[:200]})")
            return None
        problem = ledger_problem(data, info)
        if problem is not None:
            quarantine(path, state_dir, problem)
            return None
        return data  # type: ignore[no-any-return]

    def _write(self) -> None:
        # Atomic: a crash mid-write must not lose the ids of running jobs.
        try:
            write_json_atomic(
                self.path, {"owner": self.owner.to_json(), "clusters": self._clusters}
            )
        except OSError as error:
            raise StateNotWritable(
                f"the job ledger in state_dir {self.state_dir} cannot be written "
                f"({error.strerror or error}): no batch job may run that a server restarted "
                "after a crash could not find and kill"
            ) from error
