"""`pangeo-hpc lab` on IBM Spectrum LSF: #BSUB directives, `bsub -Is`, the LSFClient."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from ....schedulers import lsf
from ....schedulers.base import JobInfo
from ....schedulers.registry import SCHEDULERS
from ..options import LabOptions, format_walltime
from .base import LabScheduler, Submission

JOB_NAME = "pangeo-hpc-lab"


class LSFLab(LabScheduler):
    scheduler = SCHEDULERS["lsf"]
    lab_commands = ("bsub", "bjobs", "bkill")
    doctor_commands = ("bsub", "bjobs", "bkill", "bqueues", "bhosts", "lsid")
    load_hint = "load LSF first (e.g. `module load lsf` or `source $LSF_ENVDIR/profile.lsf`)"
    # `bsub < script` is how LSF reads #BSUB lines everywhere; `bsub script` only with
    # LSB_BSUB_PARSE_SCRIPT=Y.
    batch_submit_shown = "bsub < job.sh"
    query_command = "bjobs"
    queues_listed_by = "bqueues"
    queue_limits_shown_by = "bqueues -l"
    # LSF lists the job's slots as LSB_HOSTS; its first host is bjobs' first EXEC_HOST.
    host_variable = "LSB_HOSTS"

    def resource_options(self, options: LabOptions, log: Path | None) -> list[tuple[str, str]]:
        pairs = [("-J", JOB_NAME)]
        if options.queue:
            pairs.append(("-q", options.queue))
        pairs += [("-n", str(options.cores)), ("-R", "span[hosts=1]")]
        if options.memory_bytes is not None:
            pairs.append(("-M", str(lsf.memory_in_units(options.memory_bytes, self.limits_unit()))))
        pairs.append(("-W", format_walltime(options.walltime_minutes)))
        if log is not None:
            pairs.append(("-o", str(log)))
        return pairs

    def limits_unit(self) -> str:
        """-M's unit: lsf.conf's LSF_UNIT_FOR_LIMITS, else this LSF's own default (KB for IBM
        LSF, MB for volclava), asked of lsid once."""
        assert isinstance(self.client, lsf.LSFClient)
        if self.client.limits_unit() is None:
            asyncio.run(self.client.dialect())
        return self.client.limits_unit() or "KB"

    def directive(self, flag: str, value: str) -> str:
        # LSF's own examples (and dask-jobqueue) double-quote values such as -R strings.
        if not re.fullmatch(r"[\w./:@%+-]+", value):
            value = '"' + value.replace('"', r"\"") + '"'
        return f"{self.directive_prefix} {flag} {value}"

    def interactive_argv(self, options: LabOptions, script: Path) -> list[str]:
        # LSF reads #BSUB lines only from stdin; with -Is the options go on the command line.
        return ["bsub", "-Is", *self.option_words(options), "/bin/bash", str(script)]

    def interactive_submission(self, output: str) -> Submission | None:
        parsed = lsf.parse_submission(output)
        return Submission(*parsed) if parsed else None

    async def submit_script(self, script: str, options: LabOptions) -> Submission:
        assert isinstance(self.client, lsf.LSFClient)
        return Submission(*await self.client.submit_to_queue(script))

    def refusal_hint(self, error: str) -> str:
        if "RUNLIMIT" in error:
            return "Ask for a shorter --walltime or another --queue (`bqueues -l QUEUE` shows it)."
        if "MEMLIMIT" in error:
            return "Ask for less --memory or another --queue (`bqueues -l QUEUE` shows MEMLIMIT)."
        if "No such queue" in error:
            return "`bqueues` lists the queues you can use."
        return ""

    def reached_walltime(
        self, info: JobInfo | None, log_tail: str, walltime_minutes: int | None = None
    ) -> bool:
        # LSF also writes the reason into the job report at the end of the -o file.
        return "TERM_RUNLIMIT" in ((info.reason or "") if info else "") + log_tail
