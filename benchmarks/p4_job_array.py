"""P4: 0 -> 100 workers submitted, as one job array vs one job per worker.

Scales a real dask-jobqueue cluster (our backend, the product's job class and client) from 0 to
N workers and back to 0, once with `job_array` on and once off (and, for reference, 0 -> 1),
and prints how long the submissions took (scale(N) until every job id is known), how long the
way back took (scale(0) until the scheduler says every job ended), their ratio, and how many
scheduler commands each direction ran (counted by wrappers put first on PATH that log each
call and run the real command).

- On the LSF emulator with a 1 s bsub (LSFSIM_SUBMIT_DELAY=1) and no job slots, so that the jobs
  pend and no worker competes for the 2 cores.
- On real Slurm when `sbatch` is on PATH (`--slurm`), the jobs submitted held (`--hold`), so
  that none starts.
- On real OpenPBS (`--pbs`; .ci/openpbs.sh up), its commands first on PATH for that run alone,
  the jobs submitted held (`-h`).

It measures and prints; it asserts nothing about time. It stops by itself (a bound on every
wait) and cancels every job it submitted.

    python benchmarks/p4_job_array.py [--workers 100] [--slurm] [--pbs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pangeo_hpc_ext.backends.base import JobEvents
from pangeo_hpc_ext.lsfsim import environment

BOUND_S = 300.0
COMMANDS = {
    "lsf": ("bsub", "bjobs", "bkill"),
    "slurm": ("sbatch", "squeue", "scancel"),
    "pbs": ("qsub", "qstat", "qdel"),
}


@contextlib.contextmanager
def counted_commands(names: tuple[str, ...], directory: Path) -> Iterator[Path]:
    """Wrappers first on PATH that log each call of `names` to a file and run the real one."""
    log = directory / "calls.log"
    bin_dir = directory / "counting-bin"
    bin_dir.mkdir()
    for name in names:
        real = shutil.which(name)
        if real is None:
            raise SystemExit(f"{name} is not on PATH")
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\necho {name} >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    previous = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{previous}"
    try:
        yield log
    finally:
        os.environ["PATH"] = previous


def calls(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


async def until(check: Any, what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {BOUND_S:.0f} s: {what}")
        await asyncio.sleep(0.1)


async def scale_up_and_down(
    backend: Any, options: dict[str, Any], workers: int, log: Path
) -> dict[str, Any]:
    submitted: list[str] = []
    refused: list[str] = []
    events = JobEvents(submitted=submitted.append, submit_failed=refused.append)
    cluster = await backend.start_cluster(options, name="p4bench", events=events)
    try:
        before = calls(log)
        start = time.perf_counter()
        cluster.scale(workers)

        async def all_submitted() -> bool:
            if refused:
                raise SystemExit(f"a submission was refused: {refused[0]}")
            return len(submitted) >= workers

        await until(all_submitted, f"{workers} jobs submitted")
        up_s = time.perf_counter() - start
        up_calls = calls(log) - before

        before = calls(log)
        start = time.perf_counter()
        cluster.scale(0)

        async def all_ended() -> bool:
            if cluster.workers:
                return False
            states = await backend.job_states(submitted)
            return all(info.finished for info in states.values())

        await until(all_ended, "every job ended after scaling to 0")
        down_s = time.perf_counter() - start
        down_calls = calls(log) - before
    finally:
        with contextlib.suppress(Exception):
            await backend.kill_jobs(submitted)
        await asyncio.wait_for(cluster.close(), 60)
    return {"up_s": up_s, "down_s": down_s, "up": up_calls, "down": down_calls, "ids": submitted}


def report(title: str, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    for mode, r in results.items():
        print(
            f"  {mode:<16} submit {r['up_s']:7.2f} s ({dict(r['up'])})   "
            f"back to 0 {r['down_s']:6.2f} s ({dict(r['down'])})   jobs: {r['ids'][:2]}..."
        )
    one, single, array = results["one worker"], results["one job each"], results["job array"]
    print(
        f"  array / one job each: submit {array['up_s'] / single['up_s']:.3f}x, "
        f"back to 0 {array['down_s'] / single['down_s']:.3f}x; "
        f"array / one worker's submission: {array['up_s'] / one['up_s']:.2f}x"
    )


async def run(scheduler: str, workers: int, directory: Path) -> dict[str, dict[str, Any]]:
    if scheduler == "lsf":
        from pangeo_hpc_ext.backends.lsf import LSFBackend

        backend: Any = LSFBackend()
        extra: dict[str, Any] = {"queue": "normal", "walltime": "00:10"}
    elif scheduler == "slurm":
        from pangeo_hpc_ext.backends.slurm import SlurmBackend

        backend = SlurmBackend()
        # Held: none of them starts, whatever the partition has free.
        extra = {"walltime": "00:10:00", "job_extra_directives": ["--hold"]}
    else:
        from pangeo_hpc_ext.backends.pbs import PBSBackend

        backend = PBSBackend()
        extra = {"queue": "workq", "walltime": "00:10:00", "job_extra_directives": ["-h"]}
    options = {
        **backend.default_options(),
        "cores": 1,
        "memory": "1GB",
        "interface": "lo",
        "log_directory": str(directory / "logs"),
        **extra,
    }
    results = {}
    with counted_commands(COMMANDS[scheduler], directory) as log:
        # The reference: one worker, one submission.
        results["one worker"] = await scale_up_and_down(
            backend, {**options, "job_array": False}, 1, log
        )
        for mode, on in (("one job each", False), ("job array", True)):
            results[mode] = await scale_up_and_down(
                backend, {**options, "job_array": on}, workers, log
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--slurm", action="store_true", help="also on real Slurm")
    parser.add_argument("--pbs", action="store_true", help="also on real OpenPBS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pangeo-p4-") as tmp:
        root = Path(tmp)
        saved = dict(os.environ)
        os.environ.update(environment(root / "lsfsim", root / "lsf-bin", slots=0, submit_delay=1.0))
        try:
            (root / "lsf").mkdir()
            results = asyncio.run(run("lsf", args.workers, root / "lsf"))
            report(f"LSF emulator, 1 s bsub, {args.workers} workers", results)
        finally:
            import subprocess

            subprocess.run(["bkill", "-u", "all", "0"], capture_output=True)
            os.environ.clear()
            os.environ.update(saved)
        if args.slurm:
            if shutil.which("sbatch") is None:
                print("\nreal Slurm: sbatch is not on PATH, skipped")
                return
            (root / "slurm").mkdir()
            results = asyncio.run(run("slurm", args.workers, root / "slurm"))
            report(f"real Slurm, {args.workers} workers (held)", results)
        if args.pbs:
            run_on_pbs(args.workers, root / "pbs")


def run_on_pbs(workers: int, directory: Path) -> None:
    from tests.support.pbs import pbs_path

    path = pbs_path()
    if path is None:
        print("\nreal OpenPBS: no qsub in $PANGEO_HPC_PBS_BIN or /opt/pbs/bin, skipped")
        return
    # Grid Engine's qsub/qstat/qdel may be on PATH too: PBS's first, for this run alone.
    saved = os.environ["PATH"]
    os.environ["PATH"] = path
    try:
        directory.mkdir()
        results = asyncio.run(run("pbs", workers, directory))
        report(f"real OpenPBS, {workers} workers (held)", results)
    finally:
        os.environ["PATH"] = saved


if __name__ == "__main__":
    main()
