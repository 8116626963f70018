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
