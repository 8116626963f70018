"""The one rule for option values that end up in a batch job script, on a command line or in a
path: whatever the scheduler, a value is a single token of safe characters, and an extra directive
is a single line (directive_policy checks that it cannot override an option we validated).

dask-jobqueue pastes option values into `#BSUB`/`#SBATCH`/`#$` lines and into the worker's command
line without quoting, so a newline, a quote or a space in a value is a way to run code or to
smuggle in options (`interface: "lo --preload evil"`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import FieldError

# A token: no whitespace, quotes, control characters or shell metacharacters; it may not start
# with "-", which would read as an option on a command line.
SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.,:/@%+=~][A-Za-z0-9_.,:/@%+=~-]*")
# A directive line may hold spaces, quotes and resource syntax (`-R "select[mem>4000 && ncpus>2]"`):
# to the shell it is a comment, only the scheduler reads it. What it may not do is end the line
# (the next line would run) or ask for expansion or escapes. Line ends are every character some
# reader takes for one: Python's str.splitlines() also breaks at \x1c-\x1e, \x85, U+2028 and
# U+2029, so a reader written in Python (the LSF emulator's bsub was one) would see an injected
# `#BSUB` line where LSF sees one line.
UNSAFE_IN_DIRECTIVE = re.compile(r"[`$\\]")
# Unicode categories refused in a directive: controls (C0, DEL, C1), format characters (bidi
# overrides and zero-width characters make a line read differently from what it does),
# surrogates, private use and unassigned code points, line and paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# The option whose items are whole directive lines rather than tokens.
DIRECTIVES_OPTION = "job_extra_directives"
ECHO_LIMIT = 40


def shorten(value: Any, limit: int = ECHO_LIMIT) -> str:
    """repr() of a value, cut so that an error message never echoes a huge input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "…" + text[-4:]


def is_safe_directive(line: str) -> bool:
    """Whether `line` is one line starting with "-" that asks the shell for nothing."""
    return (
        line.startswith("-")
        and not UNSAFE_IN_DIRECTIVE.search(line)
        and not any(unicodedata.category(char) in UNSAFE_CATEGORIES for char in line)
    )


def unsafe_value_errors(options: Mapping[str, Any]) -> list[FieldError]:
    """Every string value, and every string item of a list, checked by the rule above."""
    errors: list[FieldError] = []
    for name, value in options.items():
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if not isinstance(item, str):
                continue
            field = name if index is None else f"{name}.{index}"
            if name == DIRECTIVES_OPTION:
                if not is_safe_directive(item):
                    errors.append(
                        FieldError(
                            field,
                            f"{field}: {shorten(item)} must be one line starting with '-' without "
                            "control characters, line or paragraph separators, ` $ or \\",
                        )
                    )
            elif item and not SAFE_TOKEN.fullmatch(item):
                errors.append(
                    FieldError(
                        field,
                        f"{field}: {shorten(item)} may only hold letters, digits and _ . , : / @ "
                        "% + = ~ - (no spaces, quotes or control characters, no leading '-')",
                    )
                )
    return errors
