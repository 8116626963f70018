"""`pangeo-hpc lab/status/stop/doctor --scheduler lsf` against volclava (.ci/volclava.sh), a real
LSF-family scheduler, with real JupyterLab processes bound to 127.0.0.1. No emulator: volclava's
commands are first on PATH. Skipped when volclava is not here, unless PANGEO_HPC_REQUIRE_LSF=1."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.lab_cli import (
    SchedulerLab,
    interactive_ends_with_stop,
    lab_env,
    start_batch_lab,
    start_interactive_lab,
    status_of,
    stop_lab,
    tidy,
)
from tests.support.volclava import bjobs_long, bjobs_records, lsf_environ, require_lsf
from tests.test_doctor import ENABLED, doctor, rows, user_setup

JOB_NAME = "pangeo-hpc-lab"


class VolclavaLab(SchedulerLab):
    cancel_command = "bkill"

    def our_jobs(self) -> set[str]:
        """Unfinished lab jobs (volclava keeps ended ones in bjobs -a)."""
        return {
            job_id
            for job_id, record in bjobs_records().items()
            if record["JOB_NAME"] == JOB_NAME and record["STAT"] not in ("DONE", "EXIT")
        }


@pytest.fixture
def volclava(tmp_path: Path) -> Iterator[VolclavaLab]:
    require_lsf()
    env = lsf_environ(lab_env(tmp_path / "state"))
    yield from tidy(VolclavaLab(env=env, state_dir=tmp_path / "state"))


def test_batch_lab_on_volclava_runs_answers_and_stops(volclava: VolclavaLab) -> None:
    lab = start_batch_lab(volclava, "lsf")
    record = bjobs_records([lab.job_id])[lab.job_id]
    assert (record["STAT"], record["EXEC_HOST"], record["QUEUE"]) == ("RUN", lab.node, "normal")
    assert record["JOB_NAME"] == JOB_NAME
    # volclava holds the 30-minute run limit the #BSUB -W line asked for.
    assert re.search(r"RUNLIMIT\s+30\.0 min", bjobs_long(lab.job_id))

    status = status_of(volclava, lab, "lsf", "RUN")
    assert status["interactive"] is False
    stop_lab(volclava, status)
    # bkill's first signal is SIGINT, on which JupyterLab exits 0: DONE as often as EXIT.
    assert bjobs_records([lab.job_id])[lab.job_id]["STAT"] in ("DONE", "EXIT")


def test_interactive_lab_on_volclava_is_held_by_bsub_is_and_ends_with_stop(
    volclava: VolclavaLab,
) -> None:
    # volclava's res serves `bsub -Is`: the job runs JupyterLab and bsub holds it. Once the job
    # is dispatched, bsub execs LSF's I/O relay in place: the same process, now named nios.
    reader, lab = start_interactive_lab(volclava, "lsf")
    holder = [p for p in psutil.Process(reader.proc.pid).children() if p.name() == "nios"]
    assert len(holder) == 1, reader.text
    assert bjobs_records([lab.job_id])[lab.job_id]["STAT"] == "RUN"
    status = status_of(volclava, lab, "lsf", "RUN")
    assert status["interactive"] is True

    interactive_ends_with_stop(volclava, reader, status, holder[0])


GOOD_LSF = """
jobqueue:
  lsf:
    cores: 1
    memory: 1GB
    queue: normal
    walltime: '00:30'
    interface: lo
    lsf-units: MB
"""


def test_doctor_passes_on_volclava(volclava: VolclavaLab, tmp_path: Path) -> None:
    env = user_setup(tmp_path, GOOD_LSF, ENABLED)
    env = {k: v for k, v in lsf_environ(env).items() if k != "LSF_ENVDIR" or v}
    result = doctor(env, "--scheduler", "lsf")
    table = rows(result.stdout)
    assert result.returncode == 0 and set(table.values()) == {"PASS"}, result.stdout
    assert {
        "LSF commands on PATH",
        "LSF answers (lsid)",
        "LSF job states (bjobs)",
        "lsf.conf units vs memory",
        "LSF queues",
    } <= set(table)
    checks = json.loads(doctor(env, "--scheduler", "lsf", "--json").stdout)["checks"]
    details = {c["name"]: c["detail"] for c in checks if c["ok"]}
    assert len(details) == len(checks), checks
    assert details["LSF answers (lsid)"] == "My cluster name is volclava"
    assert (
        "bjobs -o <OpenLava's 15 fields> -json, with bjobs -l" in details["LSF job states (bjobs)"]
    )
    # volclava reads a bare -M in MB (IBM LSF: KB); this user's dask config says so.
    assert "LSF_UNIT_FOR_LIMITS unset (MB)" in details["lsf.conf units vs memory"]
