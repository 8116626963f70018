"""Schema fragments and checks for option values shared by the backends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dask.utils import format_bytes, parse_bytes

from ..errors import FieldError, InvalidOptions

# Sizes as dask and the seed write them: 20GB, 512MiB, 1.5TB, 4000000000 (one token: the value
# reaches the job script).
MEMORY_PATTERN = r"^[0-9]+(\.[0-9]+)?([kKmMgGtTpP]i?)?[bB]?$"
# One directive line: a line break would smuggle extra lines into the job script. The form's
# first check; script_safety.is_safe_directive is the rule (it also refuses format characters).
DIRECTIVE_PATTERN = r"^-[^\x00-\x1f\x7f-\x9f\u2028\u2029`$\\]*$"


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
    """An absolute directory (`~` allowed) the user can write, or one that can be created there.
    Nothing is created here: a request refused for any reason leaves no trace on disk
    (create_log_directory makes it when the cluster starts). A relative path would resolve
    against wherever the server happened to start."""
    value = options.get(field)
    if not value:
        return []
    path = log_directory_path(value)
    if not path.is_absolute():
        return [FieldError(field, f"{field} must be an absolute path (it may start with ~)")]
    # The directory itself, or else the nearest existing directory it would be created in.
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # a dangling link: mkdir would fail on it
            return [FieldError(field, f"{field}: {existing} is a broken symbolic link")]
        existing = existing.parent
    if not existing.is_dir():
        return [FieldError(field, f"{field}: {existing} is not a directory")]
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (it would be created in {existing})"
        message = f"{field}: {existing} is not a directory you can write to{where}"
        return [FieldError(field, message)]
    return []


def create_log_directory(value: str, field: str = "log_directory") -> Path:
    """The log directory, created private (0700) if absent; InvalidOptions naming the field
    when it cannot be (it changed since the options were checked)."""
    path = log_directory_path(value)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        message = f"{field}: cannot create {path}: {error.strerror}"
        raise InvalidOptions(message, [FieldError(field, message)]) from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        message = f"{field}: {path} is not a directory you can write to"
        raise InvalidOptions(message, [FieldError(field, message)])
    return path
