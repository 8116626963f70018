"""The one rule for option values that end up in a batch job script, on a command line or in a
path: whatever the scheduler, a value is a single token of safe characters, and an extra directive
is a single line that cannot override an option we validated.

dask-jobqueue pastes option values into `#BSUB`/`#SBATCH`/`#$` lines and into the worker's command
line without quoting, so a newline, a quote or a space in a value is a way to run code or to
smuggle in options (`interface: "lo --preload evil"`)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .errors import FieldError

# A token: no whitespace, quotes, control characters or shell metacharacters; it may not start
# with "-", which would read as an option on a command line.
SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.,:/@%+=~][A-Za-z0-9_.,:/@%+=~-]*")
# A directive line may hold spaces, quotes and resource syntax (`-R "select[mem>4000 && ncpus>2]"`):
# to the shell it is a comment, only the scheduler reads it. What it may not do is end the line
# (the next line would run) or ask for expansion or escapes.
UNSAFE_IN_DIRECTIVE = re.compile(r"[\x00-\x1f\x7f`$\\]")
# The option whose items are whole directive lines rather than tokens.
DIRECTIVES_OPTION = "job_extra_directives"
ECHO_LIMIT = 40


def shorten(value: Any, limit: int = ECHO_LIMIT) -> str:
    """repr() of a value, cut so that an error message never echoes a huge input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "…" + text[-4:]


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
                if UNSAFE_IN_DIRECTIVE.search(item) or not item.startswith("-"):
                    errors.append(
                        FieldError(
                            field,
                            f"{field}: {shorten(item)} must be one line starting with '-' without "
                            "control characters, ` $ or \\",
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


def directive_flag(directive: str) -> str:
    """The option a directive line sets: `-q` of `-q bigmem`, `--time` of `--time=10`."""
    token = directive.strip().split(None, 1)[0] if directive.strip() else ""
    return token.split("=", 1)[0]


def overriding_directive_errors(
    directives: Iterable[str],
    overriding: Mapping[str, str],
    *,
    getopt_long: bool = False,
    trusted: Collection[str] = (),
    field: str = DIRECTIVES_OPTION,
) -> list[FieldError]:
    """Directives that would set again an option we validate (a queue the admin did not allow,
    a walltime above the limit...). `overriding` maps a flag to the option it overrides.
    With `getopt_long` (schedulers that parse options with it, such as Slurm), `-pbigmem` is
    `-p bigmem` and `--part=bigmem` is `--partition=bigmem`.
    `trusted` directives (the admin's own defaults) may override."""
    errors: list[FieldError] = []
    for index, directive in enumerate(directives):
        if directive in trusted:
            continue
        flag = directive_flag(directive)
        option = overriding.get(flag)
        if option is None and getopt_long:
            option = _getopt_long_option(flag, overriding)
        if option is not None:
            errors.append(
                FieldError(
                    f"{field}.{index}",
                    f"{field}.{index}: {shorten(directive)} would override the {option!r} "
                    f"option; set {option!r} instead",
                )
            )
    return errors


def _getopt_long_option(flag: str, overriding: Mapping[str, str]) -> str | None:
    """The overridden option a flag reaches the way getopt_long reads it: a short flag with
    its value glued on, or a long flag cut short. getopt_long takes any unambiguous prefix of a
    long option, and only the scheduler knows all its options: every prefix of one of ours is
    refused (one the scheduler finds ambiguous it refuses itself)."""
    if not flag.startswith("--"):
        return overriding.get(flag[:2])
    if len(flag) <= 2:  # "--" ends the options
        return None
    return next((o for f, o in overriding.items() if f.startswith(flag)), None)
