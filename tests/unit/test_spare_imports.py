"""A spare supervisor imports, while it waits for its cluster, what a cluster's start imports:
seconds of a start otherwise (the scheduler's dashboard, dask-jobqueue)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The spare's own entry point, given no cluster (its server went away): it leaves once it has
# imported what it imports ahead, and the modules it holds then are printed.
SPARE_WITHOUT_A_CLUSTER = """
import runpy, sys
runpy.run_module("pangeo_hpc_ext.supervisor", run_name="__main__")
print(sorted(m for m in sys.argv[1:] if m in sys.modules))
"""

EXPECTED = ["dask_jobqueue", "distributed.dashboard.scheduler", "distributed.http.scheduler.info"]


def test_a_spare_supervisor_imports_what_a_start_needs_before_its_cluster_comes() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SPARE_WITHOUT_A_CLUSTER, *EXPECTED],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == str(EXPECTED), f"imported ahead: {out.stdout} {out.stderr[-2000:]}"
