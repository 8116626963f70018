"""`pangeo-hpc doctor`: a pass/fail table of what an HPC user's setup needs."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser("doctor", help="check scheduler commands and configuration")
    doctor.set_defaults(func=_not_ready)


def _not_ready(args: argparse.Namespace) -> int:
    print("pangeo-hpc doctor: not implemented yet", file=sys.stderr)
    return 2
