"""Shared helpers for the LSF emulator tests: drive it only through its shims, like a user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Bounds for waits: generous for a loaded 2-core CI; waits end as soon as the state is reached.
WAIT_S = 30.0

JSON_FIELDS = (
    "jobid stat queue exec_host submit_time start_time run_time runtimelimit exit_code "
    "exit_reason job_name nreq_slot"
)


def element_id(record: dict[str, str]) -> str:
    """The job id the product uses for a record: `123[4]` for an array's element (its JOBID is
    the array's, its JOB_NAME ends with the index), the JOBID otherwise."""
    index = re.fullmatch(r".*\[(\d+)\]", record.get("JOB_NAME", ""))
    return f"{record['JOBID']}[{index[1]}]" if index else record["JOBID"]


class LsfSim:
    def __init__(self, root: Path, **knobs: Any) -> None:
        root_dir = str(Path(__file__).resolve().parents[1])
        if root_dir not in sys.path:
            sys.path.insert(0, root_dir)
        from pangeo_hpc_ext.lsfsim import environment

        self.home = root / "lsfsim-home"
        self.shims = root / "lsfsim-bin"
        self.workdir = root / "work"
        self.workdir.mkdir()
        self.env = dict(os.environ)
        for key in list(self.env):
            if key.startswith("LSFSIM_") or key == "LSF_ENVDIR":
                del self.env[key]
        # The whole LSF suite on another dialect: PANGEO_HPC_LSFSIM_DIALECT=lsf9|openlava.
        if os.environ.get("PANGEO_HPC_LSFSIM_DIALECT"):
            knobs.setdefault("dialect", os.environ["PANGEO_HPC_LSFSIM_DIALECT"])
        self.env.update(environment(self.home, self.shims, **knobs))

    def run(
        self,
        *argv: str,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = WAIT_S,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            timeout=timeout,
        )

    def submit(
        self, *options: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> int:
        result = self.run("bsub", *options, stdin=stdin, env=env)
        assert result.returncode == 0, f"bsub failed: {result.stderr!r}"
        line = next(x for x in result.stdout.splitlines() if x.startswith("Job <"))
        return int(line.split("<", 1)[1].split(">", 1)[0])

    def records(self, *ids: int, fields: str = JSON_FIELDS) -> list[dict[str, str]]:
        args = [str(i) for i in ids] or ["-a", "-u", "all"]
        # Checks read the emulator's whole truth, whatever LSF it speaks to the product.
        result = self.run("bjobs", "-o", fields, "-json", *args, env={"LSFSIM_DIALECT": "lsf10"})
        assert result.returncode in (0, 255), result.stderr
        return json.loads(result.stdout)["RECORDS"]

    def record(self, job_id: int) -> dict[str, str]:
        return self.records(job_id)[0]

    def wait_for(
        self, job_id: int, predicate: Callable[[dict[str, str]], bool], what: str
    ) -> dict[str, str]:
        deadline = time.monotonic() + WAIT_S
        record = self.record(job_id)
        while not predicate(record):
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} never became {what}; last seen {record}")
            time.sleep(0.05)
            record = self.record(job_id)
        return record

    def wait_stat(self, job_id: int, *stats: str) -> dict[str, str]:
        return self.wait_for(job_id, lambda r: r.get("STAT") in stats, "/".join(stats))

    def job_pgids(self) -> list[int]:
        # Verification only: which process groups did the emulator start?
        state = json.loads((self.home / "state.json").read_text())
        return [job["pgid"] for job in state["jobs"].values() if job.get("pgid")]

    def cleanup(self) -> None:
        if not (self.home / "state.json").exists():
            return
        self.run("bkill", "-u", "all", "0")
        deadline = time.monotonic() + WAIT_S
        while True:
            result = self.run("bjobs", "-u", "all")
            if "No unfinished job found" in result.stderr:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still unfinished after bkill 0: {result.stdout}")
            time.sleep(0.05)
        for pgid in self.job_pgids():
            wait_gone(lambda pgid=pgid: group_alive(pgid), f"process group {pgid}")


def group_alive(pgid: int) -> bool:
    return any(pid_alive(pid) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def pid_alive(pid: int) -> bool:
    """True for a live process; zombies (dead, waiting for their reaper) count as gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(alive: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while alive():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} is still alive")
        time.sleep(0.05)


@pytest.fixture
def lsf(tmp_path: Path) -> Iterator[LsfSim]:
    """One emulator with default knobs, every job killed afterwards."""
    root = tmp_path / "lsf"  # tmp_path itself may already hold another emulator
    root.mkdir()
    sim = LsfSim(root)
    yield sim
    sim.cleanup()


@pytest.fixture
def make_lsf(tmp_path: Path) -> Iterator[Callable[..., LsfSim]]:
    """Emulators with knobs (slots=, minute_seconds=, ...)."""
    sims: list[LsfSim] = []

    def make(**knobs: Any) -> LsfSim:
        root = tmp_path / f"lsf{len(sims)}"
        root.mkdir()
        sims.append(LsfSim(root, **knobs))
        return sims[-1]

    yield make
    for sim in sims:
        sim.cleanup()
