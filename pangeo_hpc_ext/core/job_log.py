"""The tail of a batch job's output files, bounded: a worker that logged gigabytes must not
fill the server's memory or the answer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
