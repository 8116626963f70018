"""Issue 17 item 3, against the real schedulers: what the directive policy refuses as setting the
partition (queue, walltime) is what real sbatch and qsub read as setting it, and what it lets
through leaves them as they were. Nothing is submitted: `sbatch --test-only`, `qsub -verify`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pangeo_hpc_ext.directive_policy import SGE, SLURM, settings
from tests.support.lab_cli import require_slurm
from tests.test_sge_jobs import require_sge

# Directives that move a job from the default partition (debug) to `short`.
SLURM_MOVES = [
    "-Op short",
    "-vpshort",
    "--exclusive --partition=short",
    "--exclusive --partition short",
    "-H --parti=short",
    '-H "-p" short',
    "-H -p'short'",
]
SLURM_STAYS = ["--exclusive", "-H", "--comment=x", "--qos=normal --hold"]


def sbatch_partition(tmp_path: Path, directive: str) -> str:
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\n#SBATCH -p debug\n#SBATCH {directive}\ntrue\n")
    result = subprocess.run(
        ["sbatch", "--test-only", str(script)], capture_output=True, text=True, timeout=30
    )
    # "sbatch: Job N to start at ... on nodes vm in partition short"
    assert "in partition" in result.stderr, result.stderr
    return result.stderr.rsplit("in partition", 1)[1].split()[0]


@pytest.mark.parametrize("directive", SLURM_MOVES + SLURM_STAYS)
def test_sbatch_reads_the_partition_where_the_policy_does(tmp_path: Path, directive: str) -> None:
    require_slurm()
    moved = sbatch_partition(tmp_path, directive) == "short"
    refused = ("-p", "queue") in {(s.option, s.overrides) for s in settings(directive, SLURM)}
    refused |= ("--partition", "queue") in {
        (s.option, s.overrides) for s in settings(directive, SLURM)
    }
    assert moved == (directive in SLURM_MOVES)
    assert refused == moved, (directive, settings(directive, SLURM))


# What `qsub -verify` shows of a job whose header asks for all.q and h_rt=600, with the directive.
SGE_CHANGES = {
    "-V -q short.q": ("hard_queue_list", "all.q,short.q"),
    "-l q=short.q": ("hard resource_list", "h_rt=600,q=short.q"),
    "-hard -l h_rt=999:00:00": ("hard resource_list", "h_rt=999:00:00"),
    "-l a=1 -l h_rt=999:00:00": ("hard resource_list", "a=1,h_rt=999:00:00"),
    "-V -masterq short.q": ("master hard queue_list", "short.q"),
    "-V -pe smp 2": ("parallel environment", "smp range: 2"),
}


def qsub_verify(tmp_path: Path, directive: str) -> dict[str, str]:
    """The job's fields as `qsub -verify` lists them (the script it echoes left out)."""
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\n#$ -q all.q\n#$ -l h_rt=600\n#$ {directive}\ntrue\n")
    result = subprocess.run(
        ["qsub", "-verify", str(script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    fields = {}
    for line in result.stdout.splitlines():
        name, colon, value = line.partition(":")
        if colon and not line.startswith((" ", "#")):
            fields[name.strip()] = value.strip()
    return fields


@pytest.mark.parametrize(("directive", "shown"), SGE_CHANGES.items())
def test_qsub_reads_what_the_policy_refuses(
    tmp_path: Path, directive: str, shown: tuple[str, str]
) -> None:
    require_sge()
    name, value = shown
    assert qsub_verify(tmp_path, directive).get(name) == value
    assert settings(directive, SGE), directive


def test_qsub_clear_drops_the_queue_and_walltime_before_it(tmp_path: Path) -> None:
    require_sge()
    verified = qsub_verify(tmp_path, "-clear")
    assert "hard_queue_list" not in verified and "hard resource_list" not in verified
    assert [s.overrides for s in settings("-clear", SGE)] == ["every option"]


def test_qsub_keeps_queue_and_walltime_for_allowed_directives(tmp_path: Path) -> None:
    require_sge()
    for directive in ("-V", "-hard -l arch=lx-amd64", "-cwd", "-R y"):
        verified = qsub_verify(tmp_path, directive)
        assert verified.get("hard_queue_list") == "all.q", (directive, verified)
        assert verified.get("hard resource_list", "").startswith("h_rt=600"), directive
        assert settings(directive, SGE) == [], directive
