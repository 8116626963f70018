"""volclava, the real LSF-family scheduler `.ci/volclava.sh up` builds and starts, for the real-LSF
suites. Its commands are never on the PATH of the emulator suites: a real-LSF test puts them first
on its own PATH (and drops the emulator's variables). What LSF holds is read here with volclava's
own bjobs, not through the product's LSF client."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.support.lab_cli import require_daemon
from tests.support.lsfsim import element_id

# Written by `.ci/volclava.sh up` (LSF_ENVDIR, ..., PANGEO_HPC_VOLCLAVA_BIN); CI sources it too.
# PANGEO_HPC_VOLCLAVA_ENV names another such file.
ENV_FILE = Path("/opt/volclava/ci-env.sh")
REQUIRE_VARIABLE = "PANGEO_HPC_REQUIRE_LSF"
LSF_VARIABLES = ("LSF_ENVDIR", "LSF_SERVERDIR", "LSF_BINDIR", "LSF_LIBDIR")
# The states of jobs that ended; bjobs -a keeps listing them (CLEAN_PERIOD).
ENDED = {"DONE", "EXIT"}
# The queue .ci/volclava.sh gives a 5-minute RUNLIMIT.
SHORT_QUEUE = "short"

# A profile's defaults on volclava's default queue, workers on loopback.
LSF_DEFAULTS = {
    "interface": "lo",
    "cores": 1,
    "memory": "1GB",
    "walltime": "00:10",
    "queue": "normal",
}


def volclava_variables() -> dict[str, str] | None:
    """volclava's LSF_* variables and bin directory, from the file `.ci/volclava.sh up` wrote
    (not from this environment: the suite's emulator fixture may have changed LSF_ENVDIR);
    None when volclava was never set up here."""
    env_file = Path(os.environ.get("PANGEO_HPC_VOLCLAVA_ENV") or ENV_FILE)
    if not env_file.is_file():
        return None
    found: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            found.update(w.split("=", 1) for w in words[1:] if "=" in w)
    return found if found.get("PANGEO_HPC_VOLCLAVA_BIN") else None


def lsf_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (this process's environment) as a volclava user has it: volclava's commands first
    on PATH and no other LSF's (no directory holding a bsub, as the emulator's shims do), its
    LSF_ENVDIR, no emulator variables. Empty LSF values when volclava is absent, so that a
    skipped test cannot reach another LSF by accident."""
    env = {k: v for k, v in (base or os.environ).items() if not k.startswith("LSFSIM_")}
    found = volclava_variables() or {}
    env.update({k: found.get(k, "") for k in LSF_VARIABLES})
    others = [
        d for d in env.get("PATH", "").split(os.pathsep) if d and not Path(d, "bsub").exists()
    ]
    bin_dir = found.get("PANGEO_HPC_VOLCLAVA_BIN")
    env["PATH"] = os.pathsep.join([bin_dir, *others] if bin_dir else others)
    return env


def lsf_command(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A volclava command as a user runs it."""
    return subprocess.run(
        list(argv), env=lsf_environ(), capture_output=True, text=True, timeout=timeout
    )


def lsf_problem() -> str | None:
    """Why volclava cannot run a job here, or None."""
    if volclava_variables() is None:
        return f"volclava is not here: no {ENV_FILE} (`.ci/volclava.sh up` as root starts it)"
    try:
        lsid = lsf_command("lsid", timeout=20)
        hosts = lsf_command("bhosts", "-w", timeout=20)
    except FileNotFoundError as error:
        return f"volclava's commands are missing ({error}); run `.ci/volclava.sh up`"
    except subprocess.TimeoutExpired as error:
        return f"`{error.cmd[0]}` did not answer within 20 s: are lim and mbatchd running?"
    if lsid.returncode != 0:
        return f"lsid failed: {(lsid.stderr or lsid.stdout).strip()} (`.ci/volclava.sh up`)"
    if not any(line.split()[1:2] == ["ok"] for line in hosts.stdout.splitlines()[1:]):
        return f"no volclava host is ok (bhosts -w says {hosts.stdout.strip()!r} {hosts.stderr!r})"
    return None


def require_lsf() -> None:
    """Skip without volclava, unless PANGEO_HPC_REQUIRE_LSF=1 says it must be here (CI)."""
    require_daemon(lsf_problem(), REQUIRE_VARIABLE)


def bjobs_records(job_ids: Iterable[str] = (), fields: str = "jobid stat queue exec_host job_name"):
    """bjobs -a's records for these jobs (every job of this user without ids), as volclava's
    `-o ... -json` gives them, by the id the product uses (`530[2]` for an array's element, whose
    JOBID is the array's). Unknown ids are left out."""
    ids = list(job_ids)
    result = lsf_command("bjobs", "-a", "-o", fields, "-json", *ids)
    # 255 with a JSON answer: none unfinished, or an unknown id among the asked ones.
    assert result.stdout.lstrip().startswith("{"), result.stderr
    records = json.loads(result.stdout)["RECORDS"]
    return {element_id(r): r for r in records if "ERROR" not in r}


def unfinished(job_ids: list[str]) -> dict[str, str]:
    """Our jobs volclava still lists as not ended, with their state word."""
    return {j: r["STAT"] for j, r in bjobs_records(job_ids).items() if r["STAT"] not in ENDED}


def bjobs_long(job_id: str) -> str:
    return lsf_command("bjobs", "-l", job_id).stdout
