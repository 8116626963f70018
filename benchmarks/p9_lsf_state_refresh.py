"""P9: one state refresh for 100 LSF jobs, as the server does it: `LSFClient.job_states` over
every job id at once, on each dialect the emulator speaks, and on a real LSF when `bsub` on PATH
is one.

Prints, per LSF: the bjobs form the client settled on, how many bjobs calls one refresh makes
(one; two where reasons and run limits come from `bjobs -l`), the first refresh (which also asks
`lsid`) and the p50/p95 of the following ones, in milliseconds. It measures and prints; it
asserts nothing about time. Every job it submitted is killed at the end.

    python benchmarks/p9_lsf_state_refresh.py [--jobs 100] [--rounds 10] [--no-real]
        [--no-emulator] [--hold]

On a real LSF the jobs are `sleep 600` with `-o /dev/null`; `--hold` submits them held (bsub -H)
so that they take no job slot from anyone else while they are read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import percentile
from p5_bsub_latency import stop_everything

from pangeo_hpc_ext.lsfsim import environment
from pangeo_hpc_ext.schedulers.lsf import LSFClient
from pangeo_hpc_ext.schedulers.lsf_output import parse_submission

JOB = "sleep 600\n"


def submit_all(count: int, env: dict[str, str], cwd: Path, hold: bool) -> list[str]:
    ids = []
    options = ["-o", "/dev/null", "-J", "p9-state-refresh", *(["-H"] if hold else [])]
    for _ in range(count):
        result = subprocess.run(
            ["bsub", *options], input=JOB, capture_output=True, text=True, env=env, cwd=cwd
        )
        parsed = parse_submission(result.stdout)
        if parsed is None:
            raise SystemExit(f"bsub failed ({result.returncode}): {result.stderr.strip()}")
        ids.append(parsed[0])
    return ids


def measure(label: str, ids: list[str], env: dict[str, str], rounds: int) -> None:
    """Refresh `rounds` + 1 times with a fresh client in this environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        client = LSFClient()
        start = time.perf_counter()
        first = asyncio.run(client.job_states(ids))
        first_ms = (time.perf_counter() - start) * 1000
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            states = asyncio.run(client.job_states(ids))
            times.append((time.perf_counter() - start) * 1000)
        dialect = asyncio.run(client.dialect())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    calls = 2 if dialect.form.reads_long else 1
    counted = {s.native_state for s in states.values()}
    print(
        f"{label:<34} form={dialect.form.value:<9} bjobs calls={calls}  jobs read="
        f"{len(first)}/{len(ids)} ({', '.join(sorted(counted))})  first={first_ms:7.1f} ms  "
        f"p50={statistics.median(times):7.1f} ms  p95={percentile(times, 0.95):7.1f} ms"
    )


def real_lsf() -> str | None:
    """The real bsub on PATH, None when there is none or it is the emulator's shim."""
    bsub = shutil.which("bsub")
    if bsub is None:
        return None
    try:
        if b"lsfsim" in Path(bsub).read_bytes()[:4096]:
            return None
    except OSError:
        return None
    return bsub


def on_emulator(dialect: str, jobs: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="p9-lsfsim-") as tmp:
        root = Path(tmp)
        env = {**os.environ, **environment(root / "home", root / "bin", dialect=dialect)}
        try:
            ids = submit_all(jobs, env, root, hold=False)
            measure(f"emulator {dialect} ({jobs} jobs)", ids, env, rounds)
        finally:
            stop_everything(env, root)


def on_real_lsf(jobs: int, rounds: int, hold: bool) -> None:
    env = dict(os.environ)
    ids: list[str] = []
    try:
        ids = submit_all(jobs, env, Path.cwd(), hold)
        banner = asyncio.run(LSFClient().banner()) or "real LSF"
        measure(f"{banner.split(',')[0]} ({jobs} jobs)", ids, env, rounds)
    finally:
        if ids:
            subprocess.run(["bkill", *ids], capture_output=True, env=env)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = asyncio.run(LSFClient().job_states(ids))
                if all(info.finished for info in left.values()):
                    break
                time.sleep(1)
            else:
                print(f"warning: jobs still unfinished after bkill: {ids}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-real", action="store_true", help="skip a real LSF on PATH")
    parser.add_argument("--no-emulator", action="store_true", help="skip the emulator")
    parser.add_argument("--hold", action="store_true", help="real LSF: submit held (bsub -H)")
    args = parser.parse_args()
    real = None if args.no_real else real_lsf()
    for dialect in () if args.no_emulator else ("lsf10", "lsf9", "openlava"):
        on_emulator(dialect, args.jobs, args.rounds)
    if real is not None:
        on_real_lsf(args.jobs, args.rounds, args.hold)
    else:
        print("no real LSF on PATH (bsub missing or the emulator's): measured the emulator only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
