"""Issue 17 item 3: every option of an extra directive line is read as the scheduler reads it
(shell words, glued and clustered flags, abbreviations, resource lists), and none may set again
what was validated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pangeo_hpc_ext.backends.lsf import LSFBackend
from pangeo_hpc_ext.backends.sge import SGEBackend
from pangeo_hpc_ext.backends.slurm import SlurmBackend
from pangeo_hpc_ext.core.profiles import Profile
from pangeo_hpc_ext.directive_policy import LSF, PBS, SGE, SLURM, DirectiveSyntax, settings
from pangeo_hpc_ext.errors import InvalidOptions

# (directive, the option the scheduler reads in it, what that option would override)
LSF_BYPASSES = [
    ("-qbigmem", "-q", "queue"),  # bsub: `-qbigmem` is `-q bigmem`
    ("-x -q bigmem", "-q", "queue"),
    ("-B -W 48:00", "-W", "walltime"),
    ("-Bq bigmem", "-q", "queue"),  # clustered: refused by OpenLava, read one by one here
    ("-xqbigmem", "-q", "queue"),
    ("-B -n64", "-n", "cores"),
    ("-H -M999G", "-M", "memory"),
    ("-x -Pother", "-P", "project"),
    ("-B -oo /elsewhere/x", "-oo", "log_directory"),
    ("-B -outdir /elsewhere", "-outdir", "log_directory"),
    ("-Jd x", "-Jd", "job name"),  # OpenLava's template holds -Jd before -J
    ("-Jother", "-J", "job name"),
    ("-env X=1", "-e", "log_directory"),  # OpenLava reads `-env` as `-e nv`
    ("-We 10", "-W", "walltime"),  # and `-We` as `-W e`
    ('-G x"y -q bigmem "', "-q", "queue"),  # OpenLava honours a quote only at a word's start
    ("-B '-q' bigmem", "-q", "queue"),
    ("-pack jobs.txt", "-pack", "options file"),
]
SLURM_BYPASSES = [
    ("-Op bigmem", "-p", "queue"),  # getopt_long: short flags cluster
    ("-vpbigmem", "-p", "queue"),
    ("--exclusive --partition=bigmem", "--partition", "queue"),
    ("--exclusive --partition bigmem", "--partition", "queue"),
    ("--exclusive -t 7-00:00:00", "-t", "walltime"),
    ("-k -A otheracct", "-A", "account"),
    ("-H --accou=other", "--account", "account"),  # abbreviated long option
    ("-Qc64", "-c", "cores"),
    ("-s --mem-per-c=1T", "--mem-per-cpu", "memory"),
    ("-H -a 1-100", "-a", "job array"),
    ("-H --clusters=other", "--clusters", "queue"),
    ("-H -J other", "-J", "job name"),
    ('-H "-p" bigmem', "-p", "queue"),
]
SGE_BYPASSES = [
    ("-hard -l h_rt=999:00:00", "-l h_rt", "walltime"),
    ("-l a=1 -l h_rt=999:00:00", "-l h_rt", "walltime"),
    ("-l gpu=1,h_rt=999:00:00", "-l h_rt", "walltime"),
    ('-l "gpu=1, h_rt=999:00:00"', "-l h_rt", "walltime"),  # qsub trims the spaces
    ("-soft -l s_rt=999:00:00", "-l s_rt", "walltime"),
    ("-V -q bigmem.q", "-q", "queue"),
    ("-l q=bigmem.q", "-l q", "queue"),  # the qname complex's shortcut
    ("-V -masterq bigmem.q", "-masterq", "queue"),
    ("-V -pe mpi 64", "-pe", "cores"),
    ("-V -P other", "-P", "project"),
    ("-clear", "-clear", "every option"),  # drops the -q, -l h_rt and -pe before it
    ("-V -@ options.txt", "-@", "options file"),
    ("-qbigmem.q", "-q", "queue"),
    ("-V -t 1-100", "-t", "job array"),
]
PBS_BYPASSES = [
    ("-l walltime=999:00:00", "-l walltime", "walltime"),
    ("-l select=1:ncpus=64:mem=1tb", "-l ncpus", "cores"),
    ("-Vqbig", "-q", "queue"),
    ("-A other", "-A", "account"),
    ("-J 1-10", "-J", "job array"),
]


@pytest.mark.parametrize(
    ("syntax", "directive", "option", "overrides"),
    [(LSF, *case) for case in LSF_BYPASSES]
    + [(SLURM, *case) for case in SLURM_BYPASSES]
    + [(SGE, *case) for case in SGE_BYPASSES]
    + [(PBS, *case) for case in PBS_BYPASSES],
    ids=lambda value: value.scheduler if isinstance(value, DirectiveSyntax) else None,
)
def test_every_option_of_a_line_is_read_as_the_scheduler_reads_it(
    syntax: DirectiveSyntax, directive: str, option: str, overrides: str
) -> None:
    found = {(s.option, s.overrides) for s in settings(directive, syntax)}
    assert (option, overrides) in found, found


ALLOWED = [
    (LSF, ["-B", "-x", "-N", '-m "hostA hostB"', "-u someone@example.org", "-rn", "-ti"]),
    (LSF, ["-alloc_flags smt4", "-G climate", '-E "/bin/true"', "-w done(12)", "-Ip"]),
    (SLURM, ["--exclusive", "--qos=low", "-H", "--time-min=10", "--gres=gpu:1", "-Gp", "-kp"]),
    (SLURM, ["--mem-bind=local", "--ntasks-per-node=1", "--", "-C haswell", "--mail-type=END"]),
    (SGE, ["-V", "-hard -l gpu=1", "-l h_vmem=4G", "-m e", "-cwd", "-terse", "-R y"]),
    (PBS, ["-l place=scatter", "-W depend=afterok:12", "-V", "-m abe"]),
]


@pytest.mark.parametrize(("syntax", "directives"), ALLOWED)
def test_directives_that_set_nothing_validated_pass(
    syntax: DirectiveSyntax, directives: list[str]
) -> None:
    assert {d: settings(d, syntax) for d in directives} == {d: [] for d in directives}


@pytest.mark.parametrize(
    ("backend", "directive", "option"),
    [(LSFBackend(), d, o) for d, o, _ in LSF_BYPASSES]
    + [(SlurmBackend(), d, o) for d, o, _ in SLURM_BYPASSES]
    + [(SGEBackend(), d, o) for d, o, _ in SGE_BYPASSES],
)
def test_backends_answer_with_a_field_error_naming_the_option(
    backend: Any, directive: str, option: str
) -> None:
    errors = backend.directive_errors(["-H" if backend.name != "sge" else "-V", directive], {})
    assert {e.field for e in errors} == {"job_extra_directives.1"}, errors
    assert any(option in e.message for e in errors), errors


def test_a_line_that_cannot_be_split_is_refused() -> None:
    [error] = SlurmBackend().directive_errors(["--comment 'unterminated"], {})
    assert error.field == "job_extra_directives.0"
    assert "cannot be split" in error.message


def test_an_admin_memory_resource_is_refused_with_the_other_memory_complexes() -> None:
    refused = SGEBackend().directive_errors(
        ["-l h_vmem=1T", "-l mf=1T"], {"memory_resource": "h_vmem"}
    )
    assert [e.field for e in refused] == ["job_extra_directives.0", "job_extra_directives.1"]
    assert "'memory' option" in refused[0].message


def lsf_profile_allowing_only_normal(tmp_path: Path) -> Profile:
    """The profile of the issue's measurement: queue choices [normal]."""
    return Profile(
        name="lsf",
        label="LSF",
        backend=LSFBackend(),
        defaults={
            "queue": "normal",
            "cores": 1,
            "memory": "1GB",
            "walltime": "00:30",
            "log_directory": str(tmp_path / "logs"),
        },
        choices={"queue": ["normal"]},
    )


@pytest.mark.parametrize("directive", ["-qbigmem", "-x -q bigmem", "-B -W 48:00"])
def test_the_measured_lsf_bypasses_are_422(tmp_path: Path, directive: str) -> None:
    profile = lsf_profile_allowing_only_normal(tmp_path)
    with pytest.raises(InvalidOptions) as caught:
        asyncio.run(profile.resolve_options({"job_extra_directives": [directive]}))
    assert [e.field for e in caught.value.errors] == ["job_extra_directives.0"]
    assert "job_extra_directives" in caught.value.message


@pytest.mark.parametrize("syntax", [LSF, SLURM, SGE, PBS], ids=lambda s: s.scheduler)
def test_tables_name_only_options_they_know(syntax: DirectiveSyntax) -> None:
    # A refused or template option missing from `arguments` would be read with no arity.
    assert set(syntax.refused) <= set(syntax.arguments)
    assert set(syntax.template) <= set(syntax.arguments)
    assert syntax.resource_options <= set(syntax.arguments)
