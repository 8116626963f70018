"""P10: what the extension adds to JupyterLab's start. JupyterLab is started with and without
pangeo_hpc_ext, alternately, on the emulated LSF (so the default profiles include lsf), and timed
from the process start until GET api/status answers. Prints the medians and their ratio (goal
<= 1.05); asserts nothing about time. Also prints which heavy modules the server imported.

    python benchmarks/p10_server_start.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from harness import REPO, ServerProcess, emulated_lsf, median


def start_seconds(root, env, extension: bool, n: int) -> float:
    t0 = time.perf_counter()
    proc = ServerProcess(
        root / f"server-{'with' if extension else 'without'}-{n}",
        env={**env, "PYTHONPATH": str(REPO)},
        pangeo_config={"state_dir": str(root / "state")},
        app_module="jupyterlab",
        extension=extension,
    ).start()
    elapsed = time.perf_counter() - t0
    proc.stop()
    return elapsed


def heavy_imports() -> str:
    code = (
        "import sys, pangeo_hpc_ext.server.app;"
        "print(' '.join(m for m in ('distributed', 'dask_jobqueue', 'bokeh') if m in sys.modules)"
        " or 'none')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    return out.stdout.strip() or out.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with emulated_lsf() as (root, env):
        start_seconds(root, env, True, -1)  # warm the file cache for both
        with_ext, without = [], []
        for n in range(args.rounds):
            without.append(start_seconds(root, env, False, n))
            with_ext.append(start_seconds(root, env, True, n))
    print(f"P10 JupyterLab to api/status, {args.rounds} rounds alternated")
    for label, times in (("without the extension", without), ("with the extension", with_ext)):
        print(f"  {label:<22} median {median(times):.2f} s {[round(t, 2) for t in times]}")
    print(f"  ratio with/without: {median(with_ext) / median(without):.2f} (goal <= 1.05)")
    print(f"  heavy modules imported by pangeo_hpc_ext.server.app: {heavy_imports()}")


if __name__ == "__main__":
    main()
