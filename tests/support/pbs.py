"""Finding real OpenPBS for the PBS suites. Its commands stay off the global PATH (Grid Engine's
qsub/qstat/qdel may be installed too, and the other suites must keep finding those): a PBS test
puts PBS's bin folder first on PATH for itself alone, as a user who loads PBS would."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab_cli import require_daemon

# Written by `.ci/openpbs.sh up`: `export PANGEO_HPC_PBS_BIN=/opt/pbs/bin`.
ENV_FILE = Path("/var/lib/pbs-ci-env.sh")
DEFAULT_BIN = Path("/opt/pbs/bin")
REQUIRE = "PANGEO_HPC_REQUIRE_PBS"


def pbs_bin() -> Path | None:
    """PBS's bin folder: $PANGEO_HPC_PBS_BIN, else what .ci/openpbs.sh wrote, else /opt/pbs/bin."""
    if os.environ.get("PANGEO_HPC_PBS_BIN"):
        return Path(os.environ["PANGEO_HPC_PBS_BIN"])
    if ENV_FILE.is_file():
        found = re.search(r"PANGEO_HPC_PBS_BIN=(\S+)", ENV_FILE.read_text())
        if found:
            return Path(found.group(1))
    return DEFAULT_BIN if (DEFAULT_BIN / "qsub").exists() else None


def pbs_path() -> str | None:
    """PATH with PBS's commands first, None when PBS is not installed."""
    found = pbs_bin()
    if found is None or not (found / "qsub").exists():
        return None
    return f"{found}{os.pathsep}{os.environ.get('PATH', '')}"


def pbs_problem() -> str | None:
    """Why real OpenPBS cannot run a job here, or None."""
    path = pbs_path()
    if path is None:
        return "PBS is not here: no qsub in $PANGEO_HPC_PBS_BIN or /opt/pbs/bin (.ci/openpbs.sh up)"
    env = {**os.environ, "PATH": path}
    try:
        result = subprocess.run(
            ["pbsnodes", "-a"], capture_output=True, text=True, timeout=20, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"pbsnodes did not answer: {error}"
    if result.returncode != 0:
        return f"pbsnodes failed: {(result.stderr or result.stdout).strip()} (is pbs_server up?)"
    if not re.search(r"^\s*state = (free|job-busy)", result.stdout, re.MULTILINE):
        return f"no PBS node is free:\n{result.stdout}"
    return None


@pytest.fixture
def pbs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Real OpenPBS, its commands first on PATH for this test (and the processes it starts)."""
    require_daemon(pbs_problem(), REQUIRE)
    path = pbs_path()
    assert path is not None
    monkeypatch.setenv("PATH", path)
    yield path


def command(*argv: str) -> subprocess.CompletedProcess:
    """A PBS command run on PBS's PATH."""
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": pbs_path() or ""},
        check=False,
    )
