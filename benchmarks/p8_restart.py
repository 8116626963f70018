"""P8: how long a restart costs the clusters a server keeps. A server with on_server_stop="keep"
runs an LSF cluster (emulated) and a local one, each with workers; it is stopped, a new one is
started on the same state_dir, and we time until GET api/clusters lists both running with every
worker connected again. Baseline in the same run: the same start with nothing to reattach (until
GET api/clusters answers). Prints figures; asserts nothing about time.

    python benchmarks/p8_restart.py [--workers 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

from harness import LSF_OPTIONS, ServerProcess, emulated_lsf, median, wait_until


def running(proc: ServerProcess, ids: set[str], workers: int) -> bool:
    code, listing = proc.api("GET", "clusters")
    if code != 200:
        return False
    up = {
        c["id"]
        for c in listing["clusters"]
        if c["status"] == "running" and c["workers"]["connected"] == workers
    }
    return ids <= up


def start_server(root, env, **config) -> tuple[ServerProcess, float]:
    from harness import REPO

    t0 = time.perf_counter()
    proc = ServerProcess(
        root / "server",
        env={**env, "PYTHONPATH": str(REPO)},
        pangeo_config={"state_dir": str(root / "state"), "job_poll_interval": 0.5, **config},
    ).start()
    return proc, t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    restarts, baselines, stops = [], [], []
    with emulated_lsf(slots=2 * args.workers) as (root, env):
        first, _ = start_server(root, env, on_server_stop="keep")
        ids = set()
        for profile, options in (("lsf", LSF_OPTIONS), ("local", {"memory_limit": "1GB"})):
            code, cluster = first.api(
                "POST",
                "clusters",
                {"profile": profile, "workers": args.workers, "options": options},
            )
            assert code == 201, cluster
            ids.add(cluster["id"])
        wait_until(lambda: running(first, ids, args.workers), "both clusters running", 300)
        proc = first
        for _ in range(args.rounds):
            t_stop = time.perf_counter()
            proc.stop()
            stops.append(time.perf_counter() - t_stop)
            proc, t0 = start_server(root, env, on_server_stop="keep")
            wait_until(lambda p=proc: running(p, ids, args.workers), "clusters back", 300)
            restarts.append(time.perf_counter() - t0)
        proc.stop()
        # Baseline: the same server start with nothing to reattach, then close everything.
        for _ in range(args.rounds):
            empty_root = root / f"empty-{len(baselines)}"
            empty_root.mkdir()
            empty, t0 = start_server(empty_root, env)
            empty.api("GET", "clusters")
            baselines.append(time.perf_counter() - t0)
            empty.stop()
        closer, _ = start_server(root, env)  # on_server_stop="close": the clusters go with it
        closer.stop()
    print(f"P8 restart with 2 kept clusters of {args.workers} workers (median of {args.rounds}):")
    for label, values in (
        ("server stop (keep)", stops),
        ("start -> both listed, all in", restarts),
        ("start with nothing to reattach", baselines),
    ):
        print(f"  {label:32}: {median(values):6.2f} s  {[round(x, 2) for x in values]}")
    print(f"  {'cost of reattaching':32}: {median(restarts) - median(baselines):6.2f} s")


if __name__ == "__main__":
    main()
