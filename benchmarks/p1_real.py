"""P1 on real Slurm (.ci/slurm.sh up): time from POST to the push event "running" (N workers
connected) through the extension, against the same SLURMCluster in a plain script, same Slurm,
same run. Then the cost of reading 100 jobs' states with one squeue call against 100 calls.
Prints figures; asserts nothing about time.

    python benchmarks/p1_slurm.py [--workers 4] [--rounds 3] [--jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import median, seconds_to_running, server

from pangeo_hpc_ext.schedulers.slurm import SlurmClient

OPTIONS = {"cores": 1, "memory": "1GB", "walltime": "00:10:00", "queue": "debug", "interface": "lo"}

PLAIN_SCRIPT = """
import sys, time
from dask_jobqueue import SLURMCluster
from distributed import Client
n, log_directory = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
cluster = SLURMCluster(
    cores=1, memory="1GB", processes=1, queue="debug", walltime="00:10:00", interface="lo",
    log_directory=log_directory, scheduler_options={"dashboard_address": "127.0.0.1:0"},
)
cluster.scale(n)
client = Client(cluster)
client.wait_for_workers(n, timeout=120)
print(time.perf_counter() - t0)
client.close()
cluster.close()
"""


def plain_script(workers: int, log_directory: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_SCRIPT, str(workers), str(log_directory)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


async def through_extension(proc, workers: int) -> float:
    return await seconds_to_running(proc, {"profile": "slurm", "workers": workers}, workers)


async def batched_vs_one_by_one(count: int, log_directory: Path) -> tuple[float, float]:
    """Held jobs (they never run, so they cost the 2-core machine nothing) read back with one
    squeue for all of them, then with one squeue each."""
    client = SlurmClient()
    script = f"#!/bin/sh\n#SBATCH --hold\n#SBATCH -o {log_directory}/%j.out\ntrue\n"
    ids = list(await asyncio.gather(*(client.submit(script) for _ in range(count))))
    try:
        t0 = time.perf_counter()
        together = await client.job_states(ids)
        one_call = time.perf_counter() - t0
        t0 = time.perf_counter()
        apart = {}
        for job_id in ids:
            apart.update(await client.job_states([job_id]))
        many_calls = time.perf_counter() - t0
        assert len(together) == len(apart) == count, (len(together), len(apart))
    finally:
        await client.kill(ids)
    return one_call, many_calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    ours: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pangeo-bench-slurm-") as tmp:
        root = Path(tmp)
        profile = {"backend": "slurm", "defaults": {**OPTIONS, "log_directory": str(root)}}
        with server(root, dict(os.environ), profiles={"slurm": profile}) as proc:
            for _ in range(args.rounds):  # interleaved, so drift affects both alike
                plain.append(plain_script(args.workers, root))
                ours.append(asyncio.run(through_extension(proc, args.workers)))
        one_call, many_calls = asyncio.run(batched_vs_one_by_one(args.jobs, root))
    print(f"P1 on Slurm: time to {args.workers} workers (median of {args.rounds}):")
    print(f"  plain SLURMCluster script : {median(plain):6.2f} s  {[round(x, 2) for x in plain]}")
    print(f"  through pangeo-hpc-ext    : {median(ours):6.2f} s  {[round(x, 2) for x in ours]}")
    print(f"  ratio                     : {median(ours) / median(plain):6.3f}")
    print(f"States of {args.jobs} jobs:")
    print(f"  one squeue call           : {one_call * 1000:8.1f} ms")
    print(f"  {args.jobs} squeue calls          : {many_calls * 1000:8.1f} ms")
    print(f"  ratio                     : {many_calls / one_call:8.1f}x")


if __name__ == "__main__":
    main()
