"""P1: time from POST to the push event "running" (N workers connected) through the extension,
divided by the time the same LSFCluster takes in a plain script (the seed's notebook way), same
emulator, same run.
Target: ratio <= 1.05. Prints figures; asserts nothing about time.

    python benchmarks/p1_time_to_workers.py [--workers 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

from harness import LSF_OPTIONS, emulated_lsf, median, seconds_to_running, server

PLAIN_SCRIPT = """
import sys, time
from dask_jobqueue import LSFCluster
from distributed import Client
n = int(sys.argv[1])
t0 = time.perf_counter()
cluster = LSFCluster(
    cores=1, memory="1GB", processes=1, queue="normal", walltime="01:00", interface="lo",
    scheduler_options={"dashboard_address": "127.0.0.1:0"},
)
cluster.scale(n)
client = Client(cluster)
client.wait_for_workers(n, timeout=120)
print(time.perf_counter() - t0)
client.close()
cluster.close()
"""


def plain_script(env: dict[str, str], workers: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_SCRIPT, str(workers)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


async def through_extension(proc, workers: int) -> float:
    return await seconds_to_running(
        proc, {"profile": "lsf", "workers": workers, "options": LSF_OPTIONS}, workers
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ours: list[float] = []
    plain: list[float] = []
    with (
        emulated_lsf(slots=args.workers) as (root, env),
        server(root, env) as proc,
    ):
        for _ in range(args.rounds):  # interleaved, so drift affects both alike
            plain.append(plain_script(env, args.workers))
            ours.append(asyncio.run(through_extension(proc, args.workers)))
    ratio = median(ours) / median(plain)
    print(f"P1 time to {args.workers} workers (median of {args.rounds}):")
    print(f"  plain LSFCluster script : {median(plain):6.2f} s  {[round(x, 2) for x in plain]}")
    print(f"  through pangeo-hpc-ext  : {median(ours):6.2f} s  {[round(x, 2) for x in ours]}")
    print(f"  ratio                   : {ratio:6.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
