"""Schema fragments and checks for option values shared by the backends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dask.utils import format_bytes, parse_bytes

from ..errors import FieldError

# Sizes as dask and the seed write them: 20GB, 512MiB, 1.5TB, 4000000000 (one token: the value
# reaches the job script).
MEMORY_PATTERN = r"^[0-9]+(\.[0-9]+)?([kKmMgGtTpP]i?)?[bB]?$"
# One directive line: a newline would smuggle extra lines into the job script.
DIRECTIVE_PATTERN = r"^-[^\r\n]*$"


def memory_property(title: str, default: str | None) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "type": "string",
        "title": title,
        "pattern": MEMORY_PATTERN,
        "errorMessage": "must be a size such as 20GB, 512MiB or 1.5TB",
    }
    if default is not None:
        prop["default"] = default
    return prop


def check_memory(
    options: dict[str, Any], field: str, *, allow: tuple[str, ...] = ()
) -> list[FieldError]:
    value = options.get(field)
    if value is None or value in allow:
        return []
    try:
        size = parse_bytes(value)
    except (ValueError, TypeError):
        return [FieldError(field, f"{field}: {value!r} is not a size such as 20GB")]
    if size <= 0:
        return [FieldError(field, f"{field} must be larger than zero")]
    return []


# Below this a dask worker pauses or is killed at once; it is never what the user meant.
MIN_MEMORY_PER_PROCESS = 256 * 2**20


def check_processes(
    options: dict[str, Any], *, cores: str = "cores", memory: str = "memory"
) -> list[FieldError]:
    """Worker processes share a job's cores and memory: each needs a thread and enough memory."""
    processes = options.get("processes")
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        return []
    errors: list[FieldError] = []
    n_cores = options.get(cores)
    if isinstance(n_cores, int) and processes > n_cores:
        errors.append(
            FieldError(
                "processes",
                f"processes ({processes}) must not exceed {cores} ({n_cores}): "
                "each worker process needs at least one core",
            )
        )
    try:
        per_process = parse_bytes(options.get(memory)) / processes
    except (ValueError, TypeError):
        return errors  # check_memory reports an unparsable size
    if per_process < MIN_MEMORY_PER_PROCESS:
        errors.append(
            FieldError(
                memory,
                f"{memory} gives each of the {processes} worker processes "
                f"{format_bytes(int(per_process))}; each needs at least "
                f"{format_bytes(MIN_MEMORY_PER_PROCESS)}",
            )
        )
    return errors


def log_directory_path(value: str) -> Path:
    return Path(os.path.normpath(os.path.expanduser(value)))


def check_log_directory(options: dict[str, Any], field: str = "log_directory") -> list[FieldError]:
    """An absolute directory (`~` allowed) the user can write; created private (0700) if absent.
    A relative path would resolve against wherever the server happened to start."""
    value = options.get(field)
    if not value:
        return []
    if not log_directory_path(value).is_absolute():
        return [FieldError(field, f"{field} must be an absolute path (it may start with ~)")]
    path = log_directory_path(value)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        return [FieldError(field, f"{field}: cannot create {path}: {error.strerror}")]
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        return [FieldError(field, f"{field}: {path} is not a directory you can write to")]
    return []
