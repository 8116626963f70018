"""`pangeo-hpc lab`, `status` and `stop`: JupyterLab as a batch job on a compute node."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser("lab", help="start JupyterLab as a batch job on a compute node")
    lab.set_defaults(func=_not_ready)
    status = subparsers.add_parser("status", help="show the running lab job")
    status.set_defaults(func=_not_ready)
    stop = subparsers.add_parser("stop", help="kill the lab job and remove its record")
    stop.set_defaults(func=_not_ready)


def _not_ready(args: argparse.Namespace) -> int:
    print(f"pangeo-hpc {args.command}: not implemented yet", file=sys.stderr)
    return 2
