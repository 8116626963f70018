"""Schema fragments and checks for option values shared by the backends."""

from __future__ import annotations

import re
from typing import Any

from dask.utils import parse_bytes

from ..errors import FieldError

# Sizes as dask and the seed write them: 20GB, 512MiB, 1.5 TB, 4000000000.
MEMORY_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgGtTpP]i?)?[bB]?\s*$"
# LSF's -W [hh:]mm; a bare number is minutes.
WALLTIME_PATTERN = r"^([0-9]{1,4}:)?[0-9]{1,5}$"
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


def walltime_minutes(value: str) -> int | None:
    match = re.fullmatch(WALLTIME_PATTERN, value)
    if not match:
        return None
    if ":" in value:
        hours, minutes = (int(part) for part in value.split(":"))
        if minutes >= 60:
            return None
        return hours * 60 + minutes
    return int(value)


def check_walltime(options: dict[str, Any], field: str = "walltime") -> list[FieldError]:
    value = options.get(field)
    if value is None:
        return []
    minutes = walltime_minutes(value)
    if minutes is None:
        return [
            FieldError(field, f"{value!r} is not a walltime in [hh:]mm form such as 00:30 or 8:00")
        ]
    if minutes == 0:
        return [FieldError(field, f"{field} must be at least one minute")]
    return []
