"""Shared setup of the benchmarks: an emulated LSF cluster and a real server process, all on
127.0.0.1, in a temporary directory that is removed afterwards."""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pangeo_hpc_ext.cli.demo import DEMO_LSF_DEFAULTS  # noqa: E402
from pangeo_hpc_ext.lsfsim import environment  # noqa: E402
from tests.support.server_process import ServerProcess, wait_until  # noqa: E402, F401

# The demo's small jobs, on loopback.
LSF_OPTIONS = DEMO_LSF_DEFAULTS


@contextlib.contextmanager
def emulated_lsf(**knobs: Any) -> Iterator[tuple[Path, dict[str, str]]]:
    with tempfile.TemporaryDirectory(prefix="pangeo-bench-") as tmp:
        root = Path(tmp)
        env = environment(root / "lsfsim", root / "bin", **knobs)
        try:
            yield root, env
        finally:
            import os
            import subprocess

            subprocess.run(
                ["bkill", "-u", "all", "0"], env={**os.environ, **env}, capture_output=True
            )


@contextlib.contextmanager
def server(root: Path, env: dict[str, str], **pangeo_config: Any) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        root / "server",
        env={**env, "PYTHONPATH": str(REPO)},
        pangeo_config={"state_dir": str(root / "state"), **pangeo_config},
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
