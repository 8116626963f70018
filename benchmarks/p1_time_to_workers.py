"""P1: time from POST to the push event "running" (N workers connected) through the extension,
divided by the time the same LSFCluster takes in a plain script (the seed's notebook way), same
emulator, same run. Measured twice: with TLS (the default) and with a profile's `tls: false`.
Target: both ratios <= 1.05. Prints figures; asserts nothing about time.

    python benchmarks/p1_time_to_workers.py [--workers 4] [--rounds 5] [--pause 35]

The three ways run in turn within each round, each round in a rotated order, so that drift in
the machine's load touches all alike; each figure is a median over the rounds. `--pause` waits
between runs of the extension so that its spare supervisor is ready for each start, as it is
for a user's (it is prepared SPARE_DELAY_S after a start); 0 measures back-to-back starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

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

# The extension's two profiles: the default (TLS) and one without.
PROFILES = {"tls": {"backend": "lsf"}, "plain-tcp": {"backend": "lsf", "tls": False}}
WAYS = ("plain", "tls", "plain-tcp")


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


async def through_extension(proc, profile: str, workers: int) -> float:
    return await seconds_to_running(
        proc, {"profile": profile, "workers": workers, "options": LSF_OPTIONS}, workers
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=35.0)
    args = parser.parse_args()
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    load = [os.getloadavg()[0]]
    with (
        emulated_lsf(slots=args.workers) as (root, env),
        server(root, env, profiles=PROFILES) as proc,
    ):
        last_start = 0.0
        for round_ in range(args.rounds):
            order = WAYS[round_ % 3 :] + WAYS[: round_ % 3]
            for way in order:
                if way == "plain":
                    times[way].append(plain_script(env, args.workers))
                    continue
                time.sleep(max(0.0, last_start + args.pause - time.monotonic()))
                last_start = time.monotonic()
                times[way].append(asyncio.run(through_extension(proc, way, args.workers)))
            load.append(os.getloadavg()[0])
    plain = median(times["plain"])
    print(f"P1 time to {args.workers} workers (median of {args.rounds}, pause {args.pause:.0f} s)")
    print(f"  load average (1 min) during the run: {min(load):.2f} .. {max(load):.2f}")
    print(f"  plain LSFCluster script : {plain:6.2f} s  {[round(x, 2) for x in times['plain']]}")
    for way, title in (("tls", "with TLS (default)"), ("plain-tcp", "tls: false")):
        ratio = median(times[way]) / plain
        figures = [round(x, 2) for x in times[way]]
        print(f"  {title:<24}: {median(times[way]):6.2f} s  {figures}  ratio {ratio:5.3f}")
    print("  target: ratio <= 1.05 for both")


if __name__ == "__main__":
    main()
