"""The `pangeo-hpc` command. Each subcommand lives in its own module and registers its parser."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

# Each module exposes `register(subparsers)`, adding its parsers with `set_defaults(func=...)`;
# `func(args)` returns the process exit code.
COMMAND_MODULES = (
    "pangeo_hpc_ext.cli.demo",
    "pangeo_hpc_ext.cli.lab.command",
    "pangeo_hpc_ext.cli.doctor",
)
# Other programs register their subcommands here (the LSF emulator does), so that this package
# never imports them.
ENTRY_POINT_GROUP = "pangeo_hpc_ext.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pangeo-hpc",
        description="Jupyter and Dask on batch-scheduled HPC systems.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Ctrl-C must reach each command as KeyboardInterrupt (to kill what it submitted), whatever a
    # library did to SIGINT on import (dask_jobqueue's runner installs sys.exit).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
