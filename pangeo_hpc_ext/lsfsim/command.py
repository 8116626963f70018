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

    shims = sub.add_parser(
        "shims",
        help="write bsub/bjobs/bkill/bqueues/bhosts/lsid into DIR and print the lines to export",
    )
    shims.add_argument("directory", metavar="DIR", type=Path)
    shims.add_argument(
        "--home",
        type=Path,
        help="emulator state and config (default: $LSFSIM_HOME, else under ~/.local/share)",
    )
    shims.add_argument("--slots", type=int, help="total job slots (LSFSIM_SLOTS)")
    shims.add_argument(
        "--json", action="store_true", help="print the variables as JSON instead of export lines"
    )
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
    import json
    import shlex

    from . import environment
    from .config import home

    # As on a real cluster, where LSF's profile sets LSF_ENVDIR: dask-jobqueue reads the memory
    # unit from $LSF_ENVDIR/lsf.conf, and without it assumes KB while the emulator says MB.
    env = environment(args.home or home(), args.directory, slots=args.slots)
    if args.json:
        print(json.dumps(env))
        return 0
    shim_dir = env["PATH"].split(":", 1)[0]
    print(f'export PATH={shlex.quote(shim_dir)}:"$PATH"')
    for key, value in env.items():
        if key != "PATH":
            print(f"export {key}={shlex.quote(value)}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    from .admin import reset

    return reset()


def _config(args: argparse.Namespace) -> int:
    from .admin import show_config

    return show_config()
