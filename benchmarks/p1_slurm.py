"""P1 on a real scheduler (Slurm: .ci/slurm.sh up; PBS: .ci/openpbs.sh up): time from POST to
the push event "running" (N workers connected) through the extension, against the same
dask-jobqueue cluster in a plain script, same scheduler, same run. Then the cost of reading 100
jobs' states with one state call (squeue, qstat -f -x -F json) against 100 calls.
Prints figures; asserts nothing about time.

    python benchmarks/p1_slurm.py [--scheduler slurm|pbs] [--workers 4] [--rounds 3] [--jobs 100]
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

from pangeo_hpc_ext.schedulers.registry import SCHEDULERS

# Per scheduler: its default queue here, and a job script that is held (it never runs, so 100 of
# them cost the 2-core machine nothing) writing its output to {logs}.
QUEUES = {"slurm": "debug", "pbs": "workq"}
HELD = {
    "slurm": "#!/bin/sh\n#SBATCH --hold\n#SBATCH -o {logs}/%j.out\ntrue\n",
    "pbs": "#!/bin/sh\n#PBS -h\n#PBS -o {logs}/\n#PBS -e {logs}/\ntrue\n",
}

PLAIN_SCRIPT = """
import importlib, sys, time
from distributed import Client
n, log_directory, cluster_class, queue = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
module, _, name = cluster_class.partition(":")
t0 = time.perf_counter()
cluster = getattr(importlib.import_module(module), name)(
    cores=1, memory="1GB", processes=1, queue=queue, walltime="00:10:00", interface="lo",
    log_directory=log_directory, scheduler_options={"dashboard_address": "127.0.0.1:0"},
)
cluster.scale(n)
client = Client(cluster)
client.wait_for_workers(n, timeout=120)
print(time.perf_counter() - t0)
client.close()
cluster.close()
"""


PLAIN_ARGV = [sys.executable, "-c", PLAIN_SCRIPT]


def options(scheduler: str) -> dict[str, object]:
    return {
        "cores": 1,
        "memory": "1GB",
        "walltime": "00:10:00",
        "queue": QUEUES[scheduler],
        "interface": "lo",
    }


def plain_script(scheduler: str, workers: int, log_directory: Path) -> float:
    cluster_class = SCHEDULERS[scheduler].jobqueue_class
    out = subprocess.run(
        [*PLAIN_ARGV, str(workers), str(log_directory), cluster_class, QUEUES[scheduler]],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


async def through_extension(proc, scheduler: str, workers: int) -> float:
    return await seconds_to_running(proc, {"profile": scheduler, "workers": workers}, workers)


async def batched_vs_one_by_one(
    scheduler: str, count: int, log_directory: Path
) -> tuple[float, float]:
    """Held jobs read back with one state call for all of them, then with one call each."""
    client = SCHEDULERS[scheduler].client_class()
    script = HELD[scheduler].format(logs=log_directory)
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
    parser.add_argument("--scheduler", choices=sorted(QUEUES), default="slurm")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    name = args.scheduler
    if name == "pbs":
        # PBS's commands stay off the global PATH (.ci/openpbs.sh): first on it for this run.
        pbs_bin = os.environ.get("PANGEO_HPC_PBS_BIN") or "/opt/pbs/bin"
        os.environ["PATH"] = os.pathsep.join([pbs_bin, os.environ["PATH"]])
    title = SCHEDULERS[name].title
    ours: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory(prefix=f"pangeo-bench-{name}-") as tmp:
        root = Path(tmp)
        profile = {"backend": name, "defaults": {**options(name), "log_directory": str(root)}}
        with server(root, dict(os.environ), profiles={name: profile}) as proc:
            for _ in range(args.rounds):  # interleaved, so drift affects both alike
                plain.append(plain_script(name, args.workers, root))
                ours.append(asyncio.run(through_extension(proc, name, args.workers)))
        one_call, many_calls = asyncio.run(batched_vs_one_by_one(name, args.jobs, root))
    cluster_class = SCHEDULERS[name].jobqueue_class.partition(":")[2]
    print(f"P1 on {title}: time to {args.workers} workers (median of {args.rounds}):")
    plain_label = f"plain {cluster_class} script"
    print(f"  {plain_label:<26}: {median(plain):6.2f} s  {[round(x, 2) for x in plain]}")
    print(f"  through pangeo-hpc-ext    : {median(ours):6.2f} s  {[round(x, 2) for x in ours]}")
    print(f"  ratio                     : {median(ours) / median(plain):6.3f}")
    print(f"States of {args.jobs} jobs:")
    print(f"  one state call            : {one_call * 1000:8.1f} ms")
    print(f"  {args.jobs} state calls           : {many_calls * 1000:8.1f} ms")
    print(f"  ratio                     : {many_calls / one_call:8.1f}x")


if __name__ == "__main__":
    main()
