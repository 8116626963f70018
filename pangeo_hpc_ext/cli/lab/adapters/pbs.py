"""`pangeo-hpc lab` on PBS Pro / OpenPBS: #PBS directives and the PBSClient; no --interactive
(`qsub -I` needs a terminal of its own)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ....schedulers.base import JobInfo
from ....schedulers.registry import SCHEDULERS
from ..options import LabOptions, format_walltime
from .base import LabScheduler, Submission

JOB_NAME = "pangeo-hpc-lab"
MIB = 2**20
# What the mom writes into the job's output and its comment when the walltime runs out:
# "=>> PBS: job killed: walltime 65 exceeded limit 60".
WALLTIME_KILL = re.compile(r"walltime \d+ exceeded limit")


class PBSLab(LabScheduler):
    scheduler = SCHEDULERS["pbs"]
    lab_commands = ("qsub", "qstat", "qdel")
    doctor_commands = ("qsub", "qstat", "qdel", "pbsnodes")
    load_hint = "load PBS first (e.g. `module load pbs` or `source /etc/profile.d/pbs.sh`)"
    batch_submit_shown = "qsub < job.sh"
    query_command = "qstat -fx"
    queues_listed_by = "qstat -Q"
    queue_limits_shown_by = "qstat -Qf {queue}"
    # `lab --interactive` holds the job with a process whose stdio is the session log (the
    # terminal stays the CLI's, as with srun and qrsh); qsub -I refuses that.
    interactive_unsupported = (
        "--interactive is not available on PBS: `qsub -I` refuses to run unless its standard "
        'input and output are a terminal ("standard input and output must be a terminal for '
        'interactive job submission"), and pangeo-hpc keeps the terminal for itself. Leave '
        "--interactive out: the batch job is the same JupyterLab, and `pangeo-hpc stop` ends it."
    )
    # PBS sets no variable naming the execution host (exec_host is the mom's name, the node's
    # own short name): the node's host name is what counts.
    host_variable = "HOSTNAME"

    def resource_options(self, options: LabOptions, log: Path | None) -> list[tuple[str, str]]:
        # -V: the job gets this shell's environment, as LSF and Slurm jobs do by default.
        pairs = [("-N", JOB_NAME), ("-V", "")]
        if options.queue:
            pairs.append(("-q", options.queue))
        select = f"select=1:ncpus={options.cores}"
        if options.memory_bytes is not None:
            select += f":mem={math.ceil(options.memory_bytes / MIB)}mb"
        pairs.append(("-l", select))
        pairs.append(("-l", f"walltime={format_walltime(options.walltime_minutes)}:00"))
        if log is not None:
            # The user's login shell would run the script otherwise.
            pairs += [("-S", "/bin/bash"), ("-j", "oe"), ("-o", str(log))]
        return pairs

    def interactive_argv(self, options: LabOptions, script: Path) -> list[str]:
        raise NotImplementedError(self.interactive_unsupported)

    def interactive_submission(self, output: str) -> Submission | None:
        raise NotImplementedError(self.interactive_unsupported)

    async def submit_script(self, script: str, options: LabOptions) -> Submission:
        # qsub names the job only; without -q it went to the server's default queue.
        return Submission(await self.client.submit(script), options.queue or "")

    def refusal_hint(self, error: str) -> str:
        if "Unknown queue" in error:
            return "`qstat -Q` lists the queues you can use."
        if "exceeds queue resource limits" in error or "resource limits" in error:
            return (
                "Ask for a shorter --walltime, fewer --cores, less --memory or another --queue "
                "(`qstat -Qf QUEUE` shows resources_max)."
            )
        if "Insufficient amount of resource" in error:
            return "`pbsnodes -a` shows resources_available on the nodes."
        return ""

    def reached_walltime(
        self, info: JobInfo | None, log_tail: str, walltime_minutes: int | None = None
    ) -> bool:
        return bool(WALLTIME_KILL.search(((info.reason or "") if info else "") + log_tail))
