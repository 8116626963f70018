"""state_dir on a file system that fills up while the server runs (a 1 MiB tmpfs mounted for
this test; root ignores permission bits, so a full disk is the failure root meets too). A cluster
that cannot record its credentials or its jobs fails, saying which state_dir, its jobs are
killed, and the ledger on disk stays the last good one, with no half-written file beside it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.test_lsf_cluster import start_lsf

SUBMIT_DELAY_S = 3.0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-fs"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mount refused here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def pangeo_config(small_fs: Path) -> dict[str, Any]:
    return {"state_dir": str(small_fs / "state")}


@pytest.fixture
def lsf_knobs() -> dict[str, Any]:
    # Time to fill the disk between the credentials being written and the job being recorded.
    return {"submit_delay": SUBMIT_DELAY_S}


def fill(mount: Path) -> Path:
    filler = mount / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def ledgers(state_dir: Path) -> dict[str, Any]:
    found = {p.name: json.loads(p.read_text()) for p in state_dir.glob("jobs-*.json")}
    assert len(found) == 1, found
    return next(iter(found.values()))


def unfinished(lsf_env: Any) -> list[str]:
    return sorted(r["JOBID"] for r in lsf_env.records() if r["STAT"] in ("RUN", "PEND"))


async def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(path.exists):
        assert time.monotonic() < deadline, f"{path} was not written within {timeout:.0f} s"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(300)
async def test_a_full_state_dir_fails_the_cluster_and_keeps_the_ledger(
    api: Api, lsf_env: Any, small_fs: Path
) -> None:
    state_dir = small_fs / "state"
    good = await start_lsf(api, 1)
    good = await api.wait_for(good["id"], lambda c: len(c["jobs"]) == 1, "the first job recorded")
    ledger_before = ledgers(state_dir)
    assert ledger_before["clusters"][good["id"]]["job_ids"] == [good["jobs"][0]["job_id"]]

    # Full while the next cluster's job is being submitted: its id cannot be recorded.
    late = await start_lsf(api, 1)
    await wait_for_file(state_dir / "tls" / late["id"] / "key.pem")
    filler = fill(small_fs)
    late = await api.wait_for(late["id"], lambda c: c["status"] == "failed", "the cluster failed")
    assert str(state_dir) in late["error"] and "No space left" in late["error"], late["error"]

    # Full before the cluster starts: its credentials cannot be written.
    early = await start_lsf(api, 1)
    early = await api.wait_for(early["id"], lambda c: c["status"] == "failed", "cluster failed")
    assert str(state_dir / "tls") in early["error"], early["error"]
    assert not (state_dir / "tls" / early["id"]).exists()

    # Nothing of theirs runs, the ledger is the last good one and nothing is half written.
    deadline = time.monotonic() + 60
    while unfinished(lsf_env) != [good["jobs"][0]["job_id"]]:
        assert time.monotonic() < deadline, f"jobs still running: {lsf_env.records()}"
        await asyncio.sleep(0.2)
    assert ledgers(state_dir) == ledger_before
    assert [p.name for p in state_dir.iterdir() if p.name.startswith(".")] == []

    filler.unlink()
    for cluster in (good, late, early):
        code, _ = await api.call("DELETE", "clusters", cluster["id"])
        assert code == 204
    assert unfinished(lsf_env) == []
