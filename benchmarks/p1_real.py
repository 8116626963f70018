"""P1 on a real batch scheduler: real Slurm (.ci/slurm.sh up) or volclava, a real LSF
(.ci/volclava.sh up). Time from POST to the push event "running" (N workers connected) through
the extension, against the same dask-jobqueue cluster class in a plain script, same scheduler,
same run. Then the cost of reading 100 held jobs' states with one call against 100 calls.
Prints figures; asserts nothing about time.

    python benchmarks/p1_real.py --scheduler slurm|lsf [--workers 4] [--rounds 3] [--jobs 100]
        [--pause 20] [--no-array]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import median, seconds_to_running, server

from pangeo_hpc_ext.schedulers.base import SchedulerClient
from pangeo_hpc_ext.schedulers.lsf import LSFClient
from pangeo_hpc_ext.schedulers.slurm import SlurmClient
from tests.support.volclava import LSF_DEFAULTS, lsf_environ


@dataclass(frozen=True)
class Scheduler:
    name: str  # profile and backend
    title: str
    cluster_class: str  # dask_jobqueue's, for the plain script
    options: dict[str, Any]  # the profile's defaults; the plain script gets the same
    client: Callable[[], SchedulerClient]
    # A job script that is held (never runs, costs the machine nothing) and writes to DIR.
    held_script: Callable[[Path], str]
    environ: Callable[[], dict[str, str]] = field(default=lambda: dict(os.environ))


SCHEDULERS = {
    "slurm": Scheduler(
        "slurm",
        "Slurm",
        "SLURMCluster",
        {"cores": 1, "memory": "1GB", "walltime": "00:10:00", "queue": "debug", "interface": "lo"},
        SlurmClient,
        lambda logs: f"#!/bin/sh\n#SBATCH --hold\n#SBATCH -o {logs}/%j.out\ntrue\n",
    ),
    "lsf": Scheduler(
        "lsf",
        "volclava (LSF)",
        "LSFCluster",
        LSF_DEFAULTS,
        LSFClient,
        lambda logs: f"#!/bin/sh\n#BSUB -H\n#BSUB -o {logs}/%J.out\ntrue\n",
        lsf_environ,
    ),
}

PLAIN_SCRIPT = """
import json, sys, time
import dask_jobqueue
from distributed import Client
cluster_class, options, log_directory = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4]
n = int(sys.argv[3])
t0 = time.perf_counter()
cluster = getattr(dask_jobqueue, cluster_class)(
    **options, processes=1, log_directory=log_directory,
    scheduler_options={"dashboard_address": "127.0.0.1:0"},
)
cluster.scale(n)
client = Client(cluster)
client.wait_for_workers(n, timeout=180)
print(time.perf_counter() - t0)
client.close()
cluster.close()
"""


def plain_script(scheduler: Scheduler, env: dict[str, str], workers: int, logs: Path) -> float:
    argv = [scheduler.cluster_class, json.dumps(scheduler.options), str(workers), str(logs)]
    out = subprocess.run(
        [sys.executable, "-c", PLAIN_SCRIPT, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


async def through_extension(proc: Any, scheduler: Scheduler, workers: int) -> float:
    return await seconds_to_running(proc, {"profile": scheduler.name, "workers": workers}, workers)


async def batched_vs_one_by_one(
    scheduler: Scheduler, count: int, logs: Path
) -> tuple[float, float]:
    """Held jobs read back with one call for all of them, then with one call each."""
    client = scheduler.client()
    script = scheduler.held_script(logs)
    ids = list(await asyncio.gather(*(client.submit(script) for _ in range(count))))
    try:
        await client.job_states(ids[:1])  # LSF: the dialect is found out once, not timed
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
    parser.add_argument("--scheduler", choices=sorted(SCHEDULERS), required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=100)
    # A pause between starts lets the spare supervisor that replaces the one just used finish
    # its imports, as it has between a user's starts; 0 measures starts back to back.
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument(
        "--no-array",
        action="store_true",
        help="the profile's job_array off: one job per worker, as the plain script submits",
    )
    args = parser.parse_args()
    scheduler = SCHEDULERS[args.scheduler]
    env = scheduler.environ()
    # This process's own client calls (the 100-job read) reach the same scheduler.
    os.environ.update(env)
    ours: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory(prefix=f"pangeo-bench-{scheduler.name}-") as tmp:
        root = Path(tmp)
        defaults = {**scheduler.options, "log_directory": str(root)}
        if args.no_array:
            defaults["job_array"] = False
        profiles = {scheduler.name: {"backend": scheduler.name, "defaults": defaults}}
        with server(root, env, profiles=profiles) as proc:
            for _ in range(args.rounds):  # interleaved, so drift affects both alike
                plain.append(plain_script(scheduler, env, args.workers, root))
                time.sleep(args.pause)
                ours.append(asyncio.run(through_extension(proc, scheduler, args.workers)))
                time.sleep(args.pause)
        one_call, many_calls = asyncio.run(batched_vs_one_by_one(scheduler, args.jobs, root))
    plain_label = f"plain {scheduler.cluster_class} script"
    print(
        f"P1 on {scheduler.title}: time to {args.workers} workers "
        f"(median of {args.rounds}, pause {args.pause:.0f} s):"
    )
    print(f"  {plain_label:<26}: {median(plain):6.2f} s  {[round(x, 2) for x in plain]}")
    ours_label = "through pangeo-hpc-ext" + (" (no array)" if args.no_array else "")
    print(f"  {ours_label:<26}: {median(ours):6.2f} s  {[round(x, 2) for x in ours]}")
    print(f"  ratio                     : {median(ours) / median(plain):6.3f}")
    print(f"States of {args.jobs} held jobs:")
    print(f"  one call                  : {one_call * 1000:8.1f} ms")
    print(f"  {f'{args.jobs} calls':<26}: {many_calls * 1000:8.1f} ms")
    print(f"  ratio                     : {many_calls / one_call:8.1f}x")


if __name__ == "__main__":
    main()
