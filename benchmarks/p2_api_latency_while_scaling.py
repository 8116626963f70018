"""P2: latency of GET api/clusters while a cluster scales to 100 jobs and every bsub takes 1 s
(a loaded mbatchd). The server must keep answering: target p99 < 50 ms. The same GET on the idle
server, in the same run, is the baseline. Prints figures; asserts nothing about time.

    python benchmarks/p2_api_latency_while_scaling.py [--jobs 100] [--delay 1.0]
"""

from __future__ import annotations

import argparse
import time

from harness import LSF_OPTIONS, emulated_lsf, median, percentile, server, wait_until


def sample_get(proc, seconds: float | None = None, until=None) -> list[float]:
    latencies = []
    deadline = time.monotonic() + (seconds or 600)
    while time.monotonic() < deadline and not (until and until()):
        t0 = time.perf_counter()
        code, _ = proc.api("GET", "clusters")
        latencies.append((time.perf_counter() - t0) * 1000)
        assert code == 200
    return latencies


def renice(proc, niceness: int) -> None:
    """Linux sets a priority per thread: every thread of the server gets it."""
    import os

    import psutil

    for thread in psutil.Process(proc.proc.pid).threads():
        os.setpriority(os.PRIO_PROCESS, thread.id, niceness)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=4, help="emulated slots; the rest PEND")
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="renice every thread of the server (e.g. -10, as root): what remains is the "
        "server's own loop, not CPU contention with the workers booting beside it",
    )
    args = parser.parse_args()
    with (
        emulated_lsf(slots=args.slots, submit_delay=args.delay) as (root, env),
        server(root, env, job_poll_interval=1.0, max_workers=max(100, args.jobs)) as proc,
    ):
        _, cluster = proc.api(
            "POST", "clusters", {"profile": "lsf", "workers": 0, "options": LSF_OPTIONS}
        )
        cid = cluster["id"]
        if args.server_nice:
            renice(proc, args.server_nice)
        wait_until(
            lambda: proc.api("GET", f"clusters/{cid}")[1]["status"] == "running", "scheduler up"
        )
        idle = sample_get(proc, seconds=3)

        t0 = time.monotonic()
        proc.api("PATCH", f"clusters/{cid}", {"workers": args.jobs})

        def all_submitted() -> bool:
            return len(proc.api("GET", f"clusters/{cid}")[1]["jobs"]) >= args.jobs

        busy = sample_get(proc, until=all_submitted)
        submit_s = time.monotonic() - t0
        t1 = time.perf_counter()
        proc.api("DELETE", f"clusters/{cid}")
        delete_s = time.perf_counter() - t1

    niced = f", server niced {args.server_nice}" if args.server_nice else ""
    print(
        f"P2 GET api/clusters latency, {args.jobs} jobs, bsub delay {args.delay} s, "
        f"{args.slots} slots{niced}:"
    )
    print(
        f"  idle    n={len(idle):5d} p50 {median(idle):6.1f} ms  "
        f"p99 {percentile(idle, 0.99):6.1f} ms"
    )
    print(
        f"  scaling n={len(busy):5d} p50 {median(busy):6.1f} ms  "
        f"p99 {percentile(busy, 0.99):6.1f} ms"
        f"  max {max(busy):6.1f} ms  (target p99 < 50 ms)"
    )
    print(f"  {args.jobs} jobs submitted in {submit_s:.1f} s ({args.slots} slots, the rest PEND)")
    print(f"  DELETE (bkill of every job, confirmed by bjobs) took {delete_s:.1f} s")


if __name__ == "__main__":
    main()
