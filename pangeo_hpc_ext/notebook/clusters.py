"""The schedulers this server's kernels started, as the server reads the registry.

Knows no HTTP. An entry of the registry (pangeo_hpc_ext.kernel.registry) counts only while
its process is the one that wrote it (same pid and start time, on this host), belongs to this
user, and runs in a kernel this server started or below one: an entry goes away with its
scheduler or with its kernel, and files of ended processes are removed. The dashboard of an entry
is proxied only after checking, at request time, that its process listens on the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from ..backends import Backend
from ..core.cluster import submitted_job
from ..core.lifecycle import Status
from ..errors import ClusterNotFound, SchedulerCommandFailed
from ..kernel.registry import (
    ENTRY_ID,
    ENTRY_SUFFIX,
    close_request_path,
    private_directory_problem,
    read_json,
)
from ..paths import write_json_atomic
from ..schedulers.base import JobInfo, JobState
from .entries import JobRef, NotebookCluster
from .processes import ProcessGone, kernel_of, listens

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 60.0
CLOSE_POLL_S = 0.1
# Reading the socket tables costs ~10 ms on a loaded node and a dashboard page makes dozens of
# requests: a port seen listening stays trusted this long (the process checks run every time).
LISTEN_CHECK_TTL_S = 1.0

ChangeListener = Callable[[str, str, str], None]  # (action, cluster_id, status)
KernelPids = Callable[[], Mapping[int, str]]  # pid of each local kernel -> kernel id


class SchedulerCloseTimeout(SchedulerCommandFailed):
    """A notebook's scheduler did not close when asked."""


class NotebookClusters:
    def __init__(
        self,
        directory: Path,
        *,
        kernel_pids: KernelPids,
        backends: Mapping[str, Backend],
        poll_interval: float = 2.0,
        close_timeout: float = CLOSE_TIMEOUT_S,
    ) -> None:
        self.directory = directory
        self.close_timeout = close_timeout
        self._kernel_pids = kernel_pids
        self._backends = backends
        self._poll_interval = poll_interval
        self._host = socket.gethostname()
        self._uid = os.geteuid()
        self._entries: dict[str, NotebookCluster] = {}
        self._closing: set[str] = set()
        self._jobs: dict[JobRef, JobInfo] = {}
        self._listeners: list[ChangeListener] = []
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._listening_until: dict[tuple[int, int], float] = {}
        self._poller: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Make the private directory, before kernels are told its name."""
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self._remove_directories_of_ended_servers()
        self.directory.mkdir(mode=0o700, exist_ok=True)
        if os.lstat(self.directory).st_uid == self._uid:
            self.directory.chmod(0o700)  # mkdir's mode is cut by the umask
        problem = private_directory_problem(self.directory)
        if problem is not None:
            raise RuntimeError(f"notebook cluster registry unusable: {problem}")

    async def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_forever())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        # Schedulers still running see the directory gone and stop writing.
        shutil.rmtree(self.directory, ignore_errors=True)

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    # -- queries ---------------------------------------------------------------------------------

    def list(self) -> list[NotebookCluster]:
        """The live entries, read now: a cluster appears and goes as soon as its file does."""
        self._scan()
        return list(self._entries.values())

    def get(self, cluster_id: str) -> NotebookCluster:
        self._scan()
        try:
            return self._entries[cluster_id]
        except KeyError:
            raise ClusterNotFound(f"no cluster with id {cluster_id!r}") from None

    def by_dashboard_port(self, port: int) -> NotebookCluster | None:
        for cluster in self.list():
            if cluster.dashboard_port == port and self._listening(cluster.pid, port):
                return cluster
        return None

    def jobs(self, cluster: NotebookCluster) -> list[JobInfo]:
        """What the batch scheduler last said of each job; before that, what the workers tell."""
        hosts = {w.job: w.host for w in cluster.workers if w.job}
        jobs = []
        for ref in cluster.job_refs():
            known = self._jobs.get(ref)
            if known is not None:
                jobs.append(known)
            elif ref in hosts:  # its worker is connected, so the job runs
                jobs.append(JobInfo(ref.job_id, JobState.RUNNING, "", hosts=(hosts[ref],)))
            else:
                jobs.append(submitted_job(ref.job_id))
        return jobs

    # -- commands --------------------------------------------------------------------------------

    async def close(self, cluster_id: str) -> None:
        """Ask the scheduler to close (its cluster, jobs included, when it lives in the kernel) and
        wait until its entry is gone.

        The request goes through the registry, not the network: a TLS scheduler whose credentials
        stay in its kernel is reached all the same. One that does not act on it in time (its
        kernel's event loop is blocked, say) gets the request withdrawn, so that a refusal
        answered now does not turn into a close later."""
        self.get(cluster_id)
        request = close_request_path(self.directory, cluster_id)
        write_json_atomic(
            request, {"requested": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        )
        self._closing.add(cluster_id)
        self.emit_changes()
        timeout = self.close_timeout
        deadline = time.monotonic() + timeout
        while cluster_id in {c.id for c in self.list()}:
            if time.monotonic() > deadline:
                request.unlink(missing_ok=True)
                self._closing.discard(cluster_id)
                self.emit_changes()
                raise SchedulerCloseTimeout(
                    "close scheduler",
                    None,
                    f"the scheduler did not close within {timeout:g} s (is its kernel busy?); "
                    "close it in its notebook (cluster.close())",
                )
            await asyncio.sleep(CLOSE_POLL_S)
        self.emit_changes()

    async def refresh(self) -> None:
        """Read the state of every job of every entry, one scheduler call per kind, and tell
        listeners what changed."""
        by_kind: dict[str, set[str]] = {}
        for cluster in self.list():
            for ref in cluster.job_refs():
                by_kind.setdefault(ref.kind, set()).add(ref.job_id)
        jobs: dict[JobRef, JobInfo] = {}
        for kind, job_ids in by_kind.items():
            backend = self._backends.get(kind)
            if backend is None:
                continue
            try:
                states = await backend.job_states(sorted(job_ids))
            except SchedulerCommandFailed as error:
                log.warning("job states of notebook clusters unavailable: %s", error.message)
                jobs.update({r: i for r, i in self._jobs.items() if r.kind == kind})
                continue
            jobs.update({JobRef(kind, job_id): info for job_id, info in states.items()})
        self._jobs = jobs
        self.emit_changes()

    def emit_changes(self) -> None:
        entries = {c.id: c for c in self.list()}
        seen = {cid: (*c.fingerprint(), tuple(self.jobs(c))) for cid, c in entries.items()}
        for cid, fingerprint in seen.items():
            previous = self._fingerprints.get(cid)
            if previous != fingerprint:
                action = "created" if previous is None else "updated"
                self._notify(action, cid, entries[cid].status.value)
        for cid in self._fingerprints.keys() - seen.keys():
            self._notify("deleted", cid, Status.CLOSED.value)
        self._fingerprints = seen

    # -- internals -------------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing notebook clusters")
            await asyncio.sleep(self._poll_interval)

    def _scan(self) -> None:
        if not self.directory.is_dir():
            self._entries = {}
            return
        kernels = self._kernel_pids()
        found: dict[str, NotebookCluster] = {}
        for path in self.directory.glob(f"nb-*{ENTRY_SUFFIX}"):
            entry_id = path.name[: -len(ENTRY_SUFFIX)]
            if not ENTRY_ID.match(entry_id):
                continue
            try:
                cluster = NotebookCluster.parse(read_json(path))
            except (ValueError, TypeError, KeyError):
                continue
            if cluster.id != entry_id or cluster.host != self._host:
                continue  # another node's scheduler writing into a shared home: not ours to judge
            try:
                kernel_id = kernel_of(cluster.pid, cluster.create_time, self._uid, kernels)
            except ProcessGone:
                path.unlink(missing_ok=True)
                close_request_path(self.directory, entry_id).unlink(missing_ok=True)
                continue
            if kernel_id is not None:
                found[entry_id] = replace(
                    cluster, kernel_id=kernel_id, closing=entry_id in self._closing
                )
        self._entries = found
        self._closing &= found.keys()

    def _remove_directories_of_ended_servers(self) -> None:
        for sibling in self.directory.parent.iterdir():
            pid, _, _ = sibling.name.partition("-")
            if sibling.is_dir() and pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(sibling, ignore_errors=True)

    def _listening(self, pid: int, port: int) -> bool:
        key, now = (pid, port), time.monotonic()
        if self._listening_until.get(key, 0.0) > now:
            return True
        if not listens(pid, port):
            self._listening_until.pop(key, None)
            return False
        self._listening_until = {k: t for k, t in self._listening_until.items() if t > now}
        self._listening_until[key] = now + LISTEN_CHECK_TTL_S
        return True

    def _notify(self, action: str, cluster_id: str, status: str) -> None:
        for listener in self._listeners:
            try:
                listener(action, cluster_id, status)
            except Exception:
                log.exception("notebook cluster change listener failed")
