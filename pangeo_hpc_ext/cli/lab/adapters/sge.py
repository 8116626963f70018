"""`pangeo-hpc lab` on Grid Engine: #$ directives, `qrsh` holding an interactive job, the
SGEClient; and Grid Engine's memory values and complexes, for `doctor`."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ....schedulers import sge_output as sge
from ....schedulers.base import JobInfo
from ....schedulers.registry import SCHEDULERS
from ..options import LabOptions, format_walltime
from .base import LabScheduler, Submission

JOB_NAME = "pangeo-hpc-lab"
# The parallel environment a job with several slots on one host asks for. Sites name their own;
# `smp` is the usual name, the one the SGE backend defaults to and `.ci/gridengine.sh` creates.
PARALLEL_ENVIRONMENT = "smp"
# The memory limit `--memory` asks for: h_vmem is in every Grid Engine's complex list, and the
# limit is per slot.
MEMORY_RESOURCE = "h_vmem"
MIB = 2**20
# Accounting's start time is to the second, and the job is read a little after it ended.
WALLTIME_SLACK_S = 30

# Grid Engine's memory values (sge_types(1)): a number and an optional multiplier, k m g t
# powers of 1000 and K M G T powers of 1024. "4GB" is refused ("not a memory value").
MEMORY_VALUE = re.compile(r"(?P<number>\d+(?:\.\d*)?)(?P<unit>[kKmMgGtT]?)")
_POWER = {"k": 1, "m": 2, "g": 3, "t": 4}


def memory_value_bytes(text: str) -> int | None:
    """Bytes of a Grid Engine memory value; None for what qsub refuses."""
    match = MEMORY_VALUE.fullmatch(text.strip())
    if match is None:
        return None
    unit = match["unit"]
    base = 1024 if unit.isupper() else 1000
    return math.ceil(float(match["number"]) * base ** _POWER.get(unit.lower(), 0))


@dataclass(frozen=True)
class Complex:
    """One line of `qconf -sc`: a resource jobs may ask for with -l."""

    name: str
    shortcut: str
    type: str  # MEMORY, TIME, INT, BOOL...
    requestable: bool
    consumable: bool


def parse_complexes(text: str) -> dict[str, Complex]:
    """`qconf -sc`, by name and by shortcut (qsub -l takes either)."""
    complexes: dict[str, Complex] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 6 or words[0].startswith("#"):
            continue
        name, shortcut, kind, _relop, requestable, consumable = words[:6]
        found = Complex(
            name=name,
            shortcut=shortcut,
            type=kind.upper(),
            requestable=requestable.upper() in ("YES", "FORCED"),
            consumable=consumable.upper() in ("YES", "JOB"),
        )
        complexes[name] = complexes.setdefault(shortcut, found)
    return complexes


def resource_items(spec: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a `-l` list such as "h_vmem=4G,h_rt=1:00:00"."""
    items = []
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if name.strip():
            items.append((name.strip(), value.strip()))
    return items


class SGELab(LabScheduler):
    scheduler = SCHEDULERS["sge"]
    lab_commands = ("qsub", "qstat", "qdel")
    # qrsh prints its job id through stdio, block-buffered into a file: stdbuf -oL makes it
    # print the id when the job is submitted rather than when it ends.
    interactive_commands = ("qrsh", "stdbuf")
    doctor_commands = ("qsub", "qstat", "qdel", "qconf", "qrsh", "qacct")
    load_hint = (
        "load Grid Engine first (e.g. `module load sge` or "
        "`source $SGE_ROOT/$SGE_CELL/common/settings.sh`)"
    )
    batch_submit_shown = "qsub < job.sh"
    query_command = "qstat -j"
    queues_listed_by = "qconf -sql"
    queue_limits_shown_by = "qconf -sq {queue}"
    # qsub accepts an h_rt above the queue's and the job waits with "cannot run in queue ...
    # because of cluster queue" for ever.
    pends_past_queue_limits = True
    # Grid Engine sets HOSTNAME in the job to the execution host (over -V's copy of the login
    # host's), the host qstat names in the job's queue instance.
    host_variable = "HOSTNAME"

    def resource_options(self, options: LabOptions, log: Path | None) -> list[tuple[str, str]]:
        # -V: the job gets this shell's environment, as LSF and Slurm jobs do by default.
        pairs = [("-N", JOB_NAME), ("-V", "")]
        if options.queue:
            pairs.append(("-q", options.queue))
        if options.cores > 1:
            pairs.append(("-pe", f"{PARALLEL_ENVIRONMENT} {options.cores}"))
        if options.memory_bytes is not None:
            per_slot = math.ceil(options.memory_bytes / options.cores / MIB)
            pairs.append(("-l", f"{MEMORY_RESOURCE}={per_slot}M"))
        pairs.append(("-l", f"h_rt={format_walltime(options.walltime_minutes)}:00"))
        if log is not None:
            # The queue's shell (often csh) would run the script otherwise.
            pairs += [("-S", "/bin/bash"), ("-j", "y"), ("-o", str(log))]
        return pairs

    def option_words(self, options: LabOptions) -> list[str]:
        return [
            word
            for flag, value in self.resource_options(options, None)
            for word in (flag, *value.split())
        ]

    def interactive_argv(self, options: LabOptions, script: Path) -> list[str]:
        # -now no: wait in the queue like a batch job instead of failing when no slot is free.
        # -verbose: "Your job N (...) has been submitted" as soon as it is.
        qrsh = ["qrsh", "-now", "no", "-verbose", *self.option_words(options)]
        return ["stdbuf", "-oL", *qrsh, "/bin/bash", str(script)]

    def interactive_submission(self, output: str) -> Submission | None:
        # qrsh's lines name no queue; Grid Engine picks one when the job starts.
        job_id = sge.parse_qsub(output)
        return Submission(job_id, "") if job_id else None

    async def submit_script(self, script: str, options: LabOptions) -> Submission:
        # Without -q Grid Engine picks a queue only when the job starts.
        return Submission(await self.client.submit(script), options.queue or "")

    def refusal_hint(self, error: str) -> str:
        if "unknown queue" in error:
            return "`qconf -sql` lists the queues you can use."
        if "parallel environment" in error:
            return (
                f"`qconf -spl` lists the parallel environments; --cores 1 needs none "
                f"(more cores ask -pe {PARALLEL_ENVIRONMENT} N)."
            )
        if "unknown resource" in error or "not a memory value" in error:
            return "`qconf -sc` lists the resources jobs may ask for with -l."
        return ""

    def reached_walltime(
        self,
        info: JobInfo | None,
        log_tail: str,
        walltime_minutes: int | None = None,
        now: float | None = None,
    ) -> bool:
        # Accounting says "qmaster enforced h_rt, h_cpu, or h_vmem limit" (failed 37) for a
        # memory kill too: it was the walltime only if the job ran that long.
        if info is None or "h_rt" not in (info.reason or ""):
            return False
        if walltime_minutes is None or info.started is None:
            return True
        ran = (time.time() if now is None else now) - datetime.fromisoformat(
            info.started
        ).timestamp()
        return ran >= walltime_minutes * 60 - WALLTIME_SLACK_S
