"""Which schedulers are here: the server's default profiles, `pangeo-hpc lab` and `doctor` ask
the same question of the scheduler clients, so they never disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from pangeo_hpc_ext.backends import BACKENDS
from pangeo_hpc_ext.cli.lab.adapters import ADAPTERS
from pangeo_hpc_ext.core.profiles import build_profiles
from tests.unit.test_lab_script import executables

CASES = {
    # Commands on PATH -> the schedulers found there.
    ("bsub", "bjobs"): {"lsf"},
    ("sbatch", "squeue"): {"slurm"},
    ("qsub", "qstat", "qconf"): {"sge"},
    # PBS/Torque's (or Slurm's Torque wrapper's) qsub is not Grid Engine: no qconf.
    ("qsub", "qstat"): set(),
    # Nor is a qsub whose qstat does not answer as PBS (an empty script here).
    ("qsub", "qstat", "qdel"): set(),
    ("sbatch", "qsub"): {"slurm"},
    ("bsub", "sbatch", "qsub", "qconf"): {"lsf", "slurm", "sge"},
    ("ls",): set(),
}


@pytest.mark.parametrize("commands", list(CASES), ids=lambda c: "+".join(c))
def test_server_profiles_and_lab_detect_the_same_schedulers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: tuple[str, ...]
) -> None:
    path = executables(tmp_path / "bin", *commands)
    monkeypatch.setenv("PATH", path)
    # Grid Engine's commands find their cell without SGE_ROOT (Debian's do): it decides nothing.
    monkeypatch.delenv("SGE_ROOT", raising=False)

    lab = {name for name, adapter in ADAPTERS.items() if adapter().present()}
    server = {name for name, cls in BACKENDS.items() if cls.available()} - {"local"}
    assert lab == server == CASES[commands]
    assert set(build_profiles({})) == {"local", *CASES[commands]}
    # The lab CLI also looks on a PATH it is given, with the same answer.
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert {name for name, adapter in ADAPTERS.items() if adapter().present(path)} == lab


def answering_qstat(directory: Path, says: str) -> None:
    """A qstat that answers --version as PBS's or Grid Engine's does."""
    qstat = directory / "qstat"
    qstat.write_text(f"#!/bin/sh\nprintf '%s\\n' '{says}'\n")
    qstat.chmod(0o755)


@pytest.mark.parametrize(
    ("commands", "qstat_says", "found"),
    [
        # OpenPBS 23.06 and PBS Pro answer `pbs_version = ...`.
        (("qsub", "qdel"), "pbs_version = 23.06.06", {"pbs"}),
        # Grid Engine's qstat prints its name and usage; with qconf it is Grid Engine.
        (("qsub", "qdel", "qconf"), "SGE 8.1.9", {"sge"}),
        (("qsub", "qdel"), "SGE 8.1.9", set()),
        # PBS's commands first on PATH, Grid Engine's qconf too: the qsub that runs is PBS's.
        (("qsub", "qdel", "qconf"), "pbs_version = 23.06.06", {"pbs"}),
        # Torque's qstat says `Version: 6.1.3`: not PBS Pro, not Grid Engine.
        (("qsub", "qdel"), "Version: 6.1.3", set()),
    ],
)
def test_pbs_and_grid_engine_are_told_apart_by_asking_qstat(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    commands: tuple[str, ...],
    qstat_says: str,
    found: set[str],
) -> None:
    path = executables(tmp_path / "bin", *commands)
    answering_qstat(tmp_path / "bin", qstat_says)
    monkeypatch.setenv("PATH", path)
    lab = {name for name, adapter in ADAPTERS.items() if adapter().present()}
    server = {name for name, cls in BACKENDS.items() if cls.available()} - {"local"}
    assert lab == server == found
    assert set(build_profiles({})) == {"local", *found}
