"""The tail of a batch job's output files, bounded: a worker that logged gigabytes must not
fill the server's memory or the answer."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..backends.option_types import log_directory_path
from ..errors import JobLogNotFound
from ..script_safety import shorten

if TYPE_CHECKING:
    from .cluster import ManagedCluster

MAX_BYTES = 64 * 1024
MAX_LINES = 200


@dataclass(frozen=True)
class LogTail:
    path: str
    lines: list[str]
    # Whether lines before these were left out.
    truncated: bool

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "lines": self.lines, "truncated": self.truncated}


def read_tail(path: Path, max_bytes: int = MAX_BYTES, max_lines: int = MAX_LINES) -> LogTail:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - max_bytes)
        f.seek(start)
        data = f.read(max_bytes)
    lines = data.decode(errors="replace").splitlines()
    truncated = start > 0
    if truncated and lines:
        lines = lines[1:]  # the first one is cut somewhere in its middle
    if len(lines) > max_lines:
        lines, truncated = lines[-max_lines:], True
    return LogTail(str(path), lines, truncated)


def within(path: Path, directory: Path) -> bool:
    """Whether `path`, links resolved, lies inside `directory` (links resolved too)."""
    try:
        return path.resolve().is_relative_to(directory.resolve())
    except OSError:
        return False


async def job_log_tails(managed: ManagedCluster, job_id: str) -> list[LogTail]:
    """The tails of a job's output files: only jobs this cluster submitted, only files in its
    log directory."""
    if job_id not in managed.job_ids:
        raise JobLogNotFound(f"cluster {managed.id} has no job {shorten(job_id)}")
    files = await asyncio.to_thread(
        managed.backend.job_log_files, managed.options, managed.id, job_id
    )
    directory = log_directory_path(managed.options.get("log_directory") or "/nonexistent")
    tails = [
        await asyncio.to_thread(read_tail, path)
        for path in files
        if within(path, directory) and await asyncio.to_thread(path.is_file)
    ]
    if not tails:
        raise JobLogNotFound(f"job {job_id} has written no output file (yet)")
    return tails
