"""One declaration per batch scheduler: what the backends, `pangeo-hpc lab`, `doctor`, the crash
ledger and the kernels' scheduler preload need to know about it, in one place. Adding a
scheduler is a client module, a backend, a lab adapter, its doctor checks and a row here."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from .base import SchedulerClient
from .commands import run_command_sync
from .lsf import LSFClient
from .pbs import PBSClient
from .sge import SGEClient
from .slurm import SlurmClient


@dataclass(frozen=True)
class Answer:
    """A command whose answer says which scheduler it belongs to (several schedulers install a
    `qsub` and a `qstat`: asking them is the only way to tell, never their order on PATH)."""

    argv: tuple[str, ...]
    pattern: str

    def given(self, path: str | None = None) -> bool:
        executable = shutil.which(self.argv[0], path=path)
        if executable is None:
            return False
        result = run_command_sync([executable, *self.argv[1:]], timeout=10.0)
        return result is not None and re.search(self.pattern, result) is not None


@dataclass(frozen=True)
class Scheduler:
    name: str  # as in profiles' `backend`, `--scheduler`, dask's `jobqueue.<name>`
    title: str  # as users call it
    # The commands `pangeo-hpc lab`, `status` and `stop` run (submit, query, kill).
    commands: tuple[str, ...]
    # Present when all of these are on PATH...
    detect_commands: tuple[str, ...]
    # ...and, where other schedulers ship commands of the same name, this command answers so...
    answer: Answer | None
    # ...and these schedulers' answers are not the ones given (their commands shadow ours).
    not_when: tuple[str, ...]
    directive_prefix: str  # of job script lines: "#BSUB", "#SBATCH", "#$", "#PBS"
    # The variable holding the job id in a job's environment, and one more that must be set for
    # it to count (Grid Engine's JOB_ID is too common a name alone).
    job_id_variable: str
    job_id_companion: str | None
    jobqueue_class: str  # dask-jobqueue's cluster class, "module:Class"
    jobqueue_job_class: str  # the name of its job class
    client_class: type[SchedulerClient]
    # The part of a job id dask-jobqueue keeps from the submit command's answer (its job class's
    # job_id_regexp): "12" of PBS's "12.server". None: the whole id.
    jobqueue_id_pattern: str | None = None

    def present(self, path: str | None = None) -> bool:
        """Whether this scheduler is here: the one test behind the server's default profiles,
        `pangeo-hpc lab`'s detection and `doctor`."""
        if not all(shutil.which(command, path=path) for command in self.detect_commands):
            return False
        if self.answer is not None and not self.answer.given(path):
            return False
        return not any(SCHEDULERS[other].answered(path) for other in self.not_when)

    def answered(self, path: str | None = None) -> bool:
        return self.answer is not None and self.answer.given(path)

    def jobqueue_job_id(self, job_id: str) -> str:
        """The id dask-jobqueue's cluster object gives the job whose full id is job_id."""
        if self.jobqueue_id_pattern is None:
            return job_id
        found = re.search(self.jobqueue_id_pattern, job_id)
        return found.group(0) if found else job_id

    def job_id(self, environ: Mapping[str, str]) -> str | None:
        """The id of the job of this scheduler that `environ` belongs to, if any."""
        job_id = environ.get(self.job_id_variable, "").strip()
        if job_id and (self.job_id_companion is None or environ.get(self.job_id_companion)):
            return job_id
        return None


PBS_ANSWER = Answer(("qstat", "--version"), r"pbs_version\s*=")

SCHEDULERS: dict[str, Scheduler] = {
    entry.name: entry
    for entry in (
        Scheduler(
            name="lsf",
            title="LSF",
            commands=("bsub", "bjobs", "bkill"),
            detect_commands=("bsub",),
            answer=None,
            not_when=(),
            directive_prefix="#BSUB",
            job_id_variable="LSB_JOBID",
            job_id_companion=None,
            jobqueue_class="dask_jobqueue.lsf:LSFCluster",
            jobqueue_job_class="LSFJob",
            client_class=LSFClient,
        ),
        Scheduler(
            name="slurm",
            title="Slurm",
            commands=("sbatch", "squeue", "scancel"),
            detect_commands=("sbatch",),
            answer=None,
            not_when=(),
            directive_prefix="#SBATCH",
            job_id_variable="SLURM_JOB_ID",
            job_id_companion=None,
            jobqueue_class="dask_jobqueue.slurm:SLURMCluster",
            jobqueue_job_class="SLURMJob",
            client_class=SlurmClient,
        ),
        Scheduler(
            name="sge",
            title="Grid Engine",
            commands=("qsub", "qstat", "qdel"),
            # PBS/Torque and Slurm's Torque wrappers ship a qsub too, but no qconf; SGE_ROOT is no
            # sign either way (Debian's commands find their cell without it). With PBS's
            # commands first on PATH, qsub is PBS's whatever qconf says.
            detect_commands=("qsub", "qconf"),
            answer=None,
            not_when=("pbs",),
            directive_prefix="#$",
            job_id_variable="JOB_ID",
            job_id_companion="SGE_O_HOST",
            jobqueue_class="dask_jobqueue.sge:SGECluster",
            jobqueue_job_class="SGEJob",
            client_class=SGEClient,
        ),
        Scheduler(
            name="pbs",
            title="PBS",
            commands=("qsub", "qstat", "qdel"),
            detect_commands=("qsub", "qstat", "qdel"),
            # OpenPBS and PBS Pro print `pbs_version = 23.06.06`; Grid Engine's qstat prints its
            # usage, Torque's `Version: 6.1.3`.
            answer=PBS_ANSWER,
            not_when=(),
            directive_prefix="#PBS",
            job_id_variable="PBS_JOBID",
            job_id_companion=None,
            jobqueue_class="dask_jobqueue.pbs:PBSCluster",
            jobqueue_job_class="PBSJob",
            client_class=PBSClient,
            jobqueue_id_pattern=r"\d+",
        ),
    )
}


def scheduler(name: str) -> Scheduler:
    return SCHEDULERS[name]
