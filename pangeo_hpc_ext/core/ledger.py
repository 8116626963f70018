"""The record of the batch jobs a server submitted, kept on disk so that a server that died
without closing its clusters has their jobs killed when a server starts again.

Each server writes its own ledger (named by PID): two servers of one user must never kill each
other's jobs, so only ledgers whose owner process is gone are reconciled."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import psutil


def _process_start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


class JobLedger:
    def __init__(self, state_dir: Path, pid: int | None = None) -> None:
        self.state_dir = state_dir
        self.pid = pid if pid is not None else os.getpid()
        self.path = state_dir / f"jobs-{self.pid}.json"
        self._owner = {"pid": self.pid, "started": _process_start_time(self.pid) or 0}
        self._clusters: dict[str, dict[str, object]] = {}

    def orphaned_jobs(self) -> dict[str, list[str]]:
        """Job ids recorded by servers that are no longer running, grouped by backend name."""
        leftovers: dict[str, list[str]] = {}
        for path in self._orphaned_ledgers():
            for entry in self._read(path).get("clusters", {}).values():
                backend = str(entry.get("backend", ""))
                leftovers.setdefault(backend, []).extend(str(j) for j in entry.get("job_ids", []))
        return leftovers

    def remove_orphaned(self) -> None:
        for path in self._orphaned_ledgers():
            path.unlink(missing_ok=True)

    def record(self, cluster_id: str, backend: str, job_ids: list[str]) -> None:
        self._clusters[cluster_id] = {"backend": backend, "job_ids": list(job_ids)}
        self._write()

    def forget(self, cluster_id: str) -> None:
        if self._clusters.pop(cluster_id, None) is not None:
            self._write()

    def _orphaned_ledgers(self) -> list[Path]:
        orphans = []
        for path in sorted(self.state_dir.glob("jobs-*.json")):
            if path == self.path:
                continue
            owner = self._read(path).get("owner", {})
            started = _process_start_time(int(owner.get("pid", -1)))
            # A live process with another start time is a reused PID, not the owner.
            if started is None or abs(started - float(owner.get("started", 0))) > 1:
                orphans.append(path)
        return orphans

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {"owner": self._owner, "clusters": self._clusters}
        # Write-then-rename: a crash mid-write must not lose the ids of running jobs.
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".ledger-")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)
