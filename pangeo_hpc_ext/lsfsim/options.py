"""Command-line words of bjobs and bkill, read the way their getopt loops read them."""

from __future__ import annotations

from collections.abc import Iterator


def scan_options(args: list[str], valued: tuple[str, ...]) -> Iterator[tuple[str, str | None]]:
    """Yield (option, value) for a `valued` option followed by a word, else (word, None).

    A valued option with nothing after it comes out as (option, None), so the caller treats it
    as the unknown flag LSF reports.
    """
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in valued and index + 1 < len(args):
            yield arg, args[index + 1]
            index += 2
        else:
            yield arg, None
            index += 1
