"""P11: how long a JupyterLab takes to stop (SIGTERM to exit) while it keeps one cluster (it is
left running for the next server), against the same server stopping with no cluster, same
emulator, same run, alternated. Prints figures and the server's log lines of the slowest stop
with their times since the signal; asserts nothing about time.

    python benchmarks/p11_stop_kept.py [--workers 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import time
from pathlib import Path

from harness import LSF_OPTIONS, REPO, ServerProcess, emulated_lsf, median, wait_until

LOG_TIME = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")


def start(root: Path, env: dict[str, str], name: str) -> ServerProcess:
    proc = ServerProcess(
        root / name,
        env={**env, "PYTHONPATH": str(REPO)},
        pangeo_config={"state_dir": str(root / "state"), "on_server_stop": "keep"},
    )
    try:
        return proc.start(timeout=180)
    except Exception:
        proc.stop()  # a server too slow to answer is not left running
        raise


def timed_stop(proc: ServerProcess) -> tuple[float, float]:
    """Seconds from SIGTERM to the process's exit, and the signal's wall-clock time."""
    assert proc.proc is not None
    sent = time.time()
    t0 = time.perf_counter()
    proc.proc.send_signal(signal.SIGTERM)
    proc.proc.wait(120)
    return time.perf_counter() - t0, sent


def log_after(proc: ServerProcess, sent: float) -> list[str]:
    lines = []
    for line in proc.log_path.read_text(errors="replace").splitlines():
        match = LOG_TIME.match(line)
        if match:
            at = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if at >= sent - 0.01:
                lines.append(f"  {at - sent:6.2f}  {line[:150]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kept: list[float] = []
    empty: list[float] = []
    slowest: tuple[float, list[str]] = (0.0, [])
    load = [os.getloadavg()[0]]
    with emulated_lsf(slots=args.workers) as (root, env):
        for round_ in range(args.rounds):
            proc = start(root, env, f"kept-{round_}")
            if round_ == 0:
                body = {"profile": "lsf", "workers": args.workers, "options": LSF_OPTIONS}
                code, cluster = proc.api("POST", "clusters", body)
                assert code == 201, cluster
            wait_until(
                lambda p=proc: [
                    c
                    for c in p.api("GET", "clusters")[1]["clusters"]
                    if c["status"] == "running" and c["workers"]["connected"] == args.workers
                ],
                "the kept cluster running with all its workers",
                300,
            )
            seconds, sent = timed_stop(proc)
            kept.append(seconds)
            if seconds > slowest[0]:
                slowest = (seconds, log_after(proc, sent))
            bare = start(root / "bare", env, f"bare-{round_}")
            empty.append(timed_stop(bare)[0])
            load.append(os.getloadavg()[0])
        closer = start(root, env, "closer")
        closer.api("DELETE", f"clusters/{cluster['id']}")
        closer.stop()
    print(f"P11 server stop, one kept cluster of {args.workers} workers (median of {args.rounds})")
    print(f"  load average (1 min) during the run: {min(load):.2f} .. {max(load):.2f}")
    print(f"  with the kept cluster : {median(kept):6.2f} s  {[round(x, 2) for x in kept]}")
    print(f"  with no cluster       : {median(empty):6.2f} s  {[round(x, 2) for x in empty]}")
    print(f"  the slowest stop, {slowest[0]:.2f} s, as its log tells it:")
    print("\n".join(slowest[1]))


if __name__ == "__main__":
    main()
