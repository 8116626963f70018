"""`pangeo-hpc lsfsim ...`: install the LSF emulator's command shims and manage its state."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lsfsim",
        help="LSF emulator for tests and demos (never used unless its shims are on PATH)",
        description="Emulated LSF: bsub, bjobs, bkill, bqueues, bhosts, lsid running jobs locally.",
    )
    sub = parser.add_subparsers(dest="lsfsim_command", metavar="SUBCOMMAND")

    shims = sub.add_parser("shims", help="write bsub/bjobs/bkill/bqueues/bhosts/lsid into DIR")
    shims.add_argument("directory", metavar="DIR", type=Path)
    shims.set_defaults(func=_shims)

    reset = sub.add_parser("reset", help="kill every emulated job and forget all job state")
    reset.set_defaults(func=_reset)

    config = sub.add_parser("config", help="print the emulator's config file path and contents")
    config.set_defaults(func=_config)

    parser.set_defaults(func=lambda args: _help(parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _shims(args: argparse.Namespace) -> int:
    from .shims import write_shims

    for path in write_shims(args.directory):
        print(path)
    return 0


def _reset(args: argparse.Namespace) -> int:
    from .admin import reset

    return reset()


def _config(args: argparse.Namespace) -> int:
    from .admin import show_config

    return show_config()
