"""`pangeo-hpc lab` on Slurm: #SBATCH directives, `srun` holding an interactive job, the
SlurmClient."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ....errors import SchedulerCommandFailed
from ....schedulers.base import JobInfo
from ....schedulers.registry import SCHEDULERS
from ..options import LabOptions, format_walltime
from .base import LabScheduler, Submission

JOB_NAME = "pangeo-hpc-lab"
# srun's own lines on stderr: "srun: job 12 queued and waiting for resources" while the job
# waits, and (with -v) "srun: jobid 12: nodes(1):`n1', ..." once it has its node: without -v a
# job that starts at once would never name itself.
SRUN_JOB = re.compile(r"^srun: job(?:id)? (?P<job_id>\d+)[: ]", re.MULTILINE)
MIB = 2**20


# sbatch --mem: a whole number with an optional unit letter, MiB when there is none; a B after
# the letter is allowed and changes nothing (4GB is 4 GiB). 1.5G or 4GiB are refused.
SBATCH_MEM = re.compile(r"(?P<number>\d+)(?:(?P<unit>[KMGT])B?)?", re.IGNORECASE)
_MEM_EXPONENT = {"K": -1, "": 0, "M": 0, "G": 1, "T": 2}


def sbatch_mem_mib(text: str) -> int | None:
    """MiB of a --mem value as sbatch reads it (K, M, G, T are powers of 1024); None when sbatch
    would refuse it, e.g. "1.5G"."""
    match = SBATCH_MEM.fullmatch(text.strip())
    if match is None:
        return None
    return math.ceil(int(match["number"]) * 1024.0 ** _MEM_EXPONENT[(match["unit"] or "").upper()])


def memory_mib(memory_bytes: int) -> int:
    """Slurm reads --mem's M (its default unit) as MiB; rounded up so the job never gets less
    than asked for."""
    return math.ceil(memory_bytes / MIB)


class SlurmLab(LabScheduler):
    scheduler = SCHEDULERS["slurm"]
    lab_commands = ("sbatch", "squeue", "scancel")
    interactive_commands = ("srun",)
    doctor_commands = ("sbatch", "squeue", "scancel", "sinfo", "srun")
    load_hint = "load Slurm first (e.g. `module load slurm`)"
    batch_submit_shown = "sbatch < job.sh"
    query_command = "squeue -j"
    queues_word = "partitions"
    queue_word = "partition"
    queues_listed_by = "sinfo -s"
    queue_limits_shown_by = "sinfo -s"
    # Without EnforcePartLimits (the default), sbatch accepts a --time above the partition's
    # MaxTime and the job pends with reason PartitionTimeLimit for ever.
    pends_past_queue_limits = True
    # squeue's NODELIST names the node as slurmd knows it, which is what slurmd sets here.
    host_variable = "SLURMD_NODENAME"

    def resource_options(self, options: LabOptions, log: Path | None) -> list[tuple[str, str]]:
        pairs = [("--job-name", JOB_NAME)]
        if options.queue:
            pairs.append(("--partition", options.queue))
        # One task with all the cores, on one node: JupyterLab is one process tree.
        pairs += [("--nodes", "1"), ("--ntasks", "1"), ("--cpus-per-task", str(options.cores))]
        if options.memory_bytes is not None:
            pairs.append(("--mem", f"{memory_mib(options.memory_bytes)}M"))
        pairs.append(("--time", format_walltime(options.walltime_minutes) + ":00"))
        if log is not None:
            pairs.append(("--output", str(log)))
        return pairs

    def directive(self, flag: str, value: str) -> str:
        return f"{self.directive_prefix} {flag}={value}"

    def option_words(self, options: LabOptions) -> list[str]:
        return [f"{flag}={value}" for flag, value in self.resource_options(options, None)]

    def interactive_argv(self, options: LabOptions, script: Path) -> list[str]:
        # srun in the foreground holds the allocation: the job ends when srun ends, as with
        # `srun --pty bash`. No --pty, even when `lab` runs in a terminal: the terminal stays
        # the CLI's (progress, URL, Ctrl-C), srun's output goes to the job log that `lab` reads
        # for the job id, and srun without a terminal only prints that it disregards --pty.
        return ["srun", "-v", *self.option_words(options), "/bin/bash", str(script)]

    def interactive_submission(self, output: str) -> Submission | None:
        match = SRUN_JOB.search(output)
        return Submission(match.group("job_id"), "") if match else None

    async def submit_script(self, script: str, options: LabOptions) -> Submission:
        job_id = await self.client.submit(script)
        return Submission(job_id, options.queue or await self._default_partition())

    async def _default_partition(self) -> str:
        # sbatch's answer names no partition; the walltime check has usually read them already.
        if self._queues is None:
            try:
                self._queues = await self.client.queues()
            except SchedulerCommandFailed:
                return ""
        return next((queue.name for queue in self._queues if queue.default), "")

    def refusal_hint(self, error: str) -> str:
        if "Invalid partition" in error:
            return "`sinfo -s` lists the partitions you can use."
        if "time limit" in error.lower():
            return "Ask for a shorter --walltime or another --queue (`sinfo -s` shows TIMELIMIT)."
        if "Memory specification" in error or "node configuration is not available" in error:
            return (
                "Ask for less --memory or fewer --cores, or another --queue "
                "(`sinfo -o '%P %c %m'` shows the CPUs and MB of each partition's nodes)."
            )
        return ""

    def reached_walltime(
        self, info: JobInfo | None, log_tail: str, walltime_minutes: int | None = None
    ) -> bool:
        # slurmstepd writes "*** JOB 12 ON n1 CANCELLED AT ... DUE TO TIME LIMIT ***" into
        # the output file; squeue says TIMEOUT while it still lists the job.
        return (info is not None and info.native_state == "TIMEOUT") or (
            "DUE TO TIME LIMIT" in log_tail
        )
