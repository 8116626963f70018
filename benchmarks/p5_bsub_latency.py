"""P5: latency of the emulated `bsub` and `bjobs -o ... -json` as the product calls them.

Runs N submissions of a trivial job through the shim (each as its own process, as dask-jobqueue
does), then N `bjobs -json` queries for all of them, and prints p50/p95 in milliseconds.
It measures and prints; it asserts nothing about time. Every job it started is killed at the end.

    python benchmarks/p5_bsub_latency.py [--jobs 50] [--slots 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import percentile

from pangeo_hpc_ext.lsfsim import environment

PRODUCT_FIELDS = (
    "jobid stat queue exec_host submit_time start_time run_time runtimelimit exit_code "
    "exit_reason job_name"
)
SCRIPT = "#!/usr/bin/env bash\n#BSUB -J bench\n#BSUB -q normal\n#BSUB -W 00:10\nsleep 60\n"


def timed(argv: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, cwd=cwd)
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return elapsed, result.stdout


def stop_everything(env: dict[str, str], root: Path) -> None:
    """bkill 0, then wait (bounded) until no job is unfinished and every supervisor has left,
    so that deleting the temporary LSFSIM_HOME strands no process."""
    subprocess.run(["bkill", "0"], env=env, cwd=root, capture_output=True)
    deadline = time.monotonic() + 60
    state_file = root / "home" / "state.json"
    while time.monotonic() < deadline:
        unfinished = subprocess.run(["bjobs"], env=env, cwd=root, capture_output=True, text=True)
        jobs = json.loads(state_file.read_text())["jobs"].values() if state_file.exists() else []
        supervisors = [job["supervisor_pid"] for job in jobs if job.get("supervisor_pid")]
        if "No unfinished job found" in unfinished.stderr and not any(
            os.path.exists(f"/proc/{pid}") for pid in supervisors
        ):
            return
        time.sleep(0.1)
    print("warning: some emulated jobs or supervisors were still alive after 60 s", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument(
        "--slots",
        type=int,
        default=0,
        help="LSFSIM_SLOTS; 0 (default) keeps the jobs pending so only the commands are measured",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="p5-lsfsim-") as tmp:
        root = Path(tmp)
        env = {**os.environ, **environment(root / "home", root / "bin", slots=args.slots)}
        script = root / "job.sh"
        script.write_text(SCRIPT)
        try:
            submits: list[float] = []
            ids: list[str] = []
            for _ in range(args.jobs):
                # dask-jobqueue's exact form: a shell running `bsub< script`.
                elapsed, out = timed(["sh", "-c", f"bsub< {script}"], env, root)
                submits.append(elapsed)
                ids.append(out.split("<", 1)[1].split(">", 1)[0])
            queries = [
                timed(["bjobs", "-o", PRODUCT_FIELDS, "-json", *ids], env, root)[0]
                for _ in range(args.jobs)
            ]
            baseline = [
                timed([sys.executable, "-S", "-c", "pass"], env, root)[0] for _ in range(args.jobs)
            ]
        finally:
            stop_everything(env, root)
        report = [
            ("bsub (sh -c 'bsub< script')", submits),
            (f"bjobs -o ... -json ({len(ids)} ids)", queries),
            ("python -S -c pass (bare start-up, for scale)", baseline),
        ]
        print(f"P5 LSF emulator latency, {args.jobs} runs each, LSFSIM_SLOTS={args.slots}")
        for label, values in report:
            print(
                f"  {label:<50} p50 {statistics.median(values):7.1f} ms"
                f"   p95 {percentile(values, 0.95):7.1f} ms   max {max(values):7.1f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
