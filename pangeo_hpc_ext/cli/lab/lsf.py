"""LSF as the `lab` command and `doctor` see it: only through bsub, bjobs and bkill on PATH.

Nothing here imports the emulator: on a real cluster these are IBM's commands, and the emulator is
only ever reached by putting its shims first on PATH.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LSF_COMMANDS = ("bsub", "bjobs", "bkill")
UNFINISHED_STATES = frozenset({"PEND", "RUN", "PSUSP", "USUSP", "SSUSP", "WAIT", "UNKWN"})
# Sites may print esub lines before this one, so every line is searched (LSF-REFERENCE §1.1).
_SUBMITTED = re.compile(r"Job <(\d+)> is submitted to (?:default )?queue <([^>]*)>")
_BJOBS_FIELDS = (
    "jobid stat queue exec_host submit_time start_time time_left exit_code exit_reason pend_reason"
)
_UNIT_EXPONENT = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6, "Z": 7}


class SchedulerError(RuntimeError):
    """A scheduler command failed; the message carries the scheduler's own words."""


class SubmitRefused(SchedulerError):
    """bsub did not accept the job."""


@dataclass(frozen=True)
class Submission:
    job_id: str
    queue: str
    output: str


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    state: str
    queue: str
    host: str
    time_left: str
    exit_code: str
    exit_reason: str
    pend_reason: str = ""

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED_STATES


def missing_commands(names: tuple[str, ...] = LSF_COMMANDS) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def parse_submission(output: str) -> tuple[str, str] | None:
    match = _SUBMITTED.search(output)
    return (match.group(1), match.group(2)) if match else None


def submit_script(script: str, env: dict[str, str] | None = None) -> Submission:
    # `bsub < script` is how LSF reads #BSUB directives everywhere; `bsub script.sh` only parses
    # them with LSB_BSUB_PARSE_SCRIPT=Y.
    proc = subprocess.Popen(
        ["bsub"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out, err = proc.communicate(script)
    parsed = parse_submission(out + err)
    if proc.returncode != 0 or parsed is None or "Job not submitted" in err:
        text = (err.strip() or out.strip()) or f"bsub exited with {proc.returncode} and no output"
        raise SubmitRefused(text)
    return Submission(parsed[0], parsed[1], out + err)


def job_info(job_id: str) -> JobInfo | None:
    """The job's current record, or None when LSF no longer knows it (aged out of CLEAN_PERIOD)."""
    proc = subprocess.run(
        ["bjobs", "-a", "-o", _BJOBS_FIELDS, "-json", job_id],
        capture_output=True,
        text=True,
        check=False,
    )
    if "is not found" in proc.stderr and not proc.stdout.strip():
        return None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SchedulerError(
            f"bjobs gave no JSON (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout}"
        ) from None
    for record in data.get("RECORDS", []):
        if record.get("JOBID") != job_id:
            continue
        if record.get("ERROR"):
            return None
        return JobInfo(
            job_id=job_id,
            state=record.get("STAT", ""),
            queue=record.get("QUEUE", ""),
            host=first_host(record.get("EXEC_HOST", "")),
            time_left=record.get("TIME_LEFT", ""),
            exit_code=record.get("EXIT_CODE", ""),
            exit_reason=record.get("EXIT_REASON", ""),
            pend_reason=record.get("PEND_REASON", ""),
        )
    return None


def first_host(exec_host: str) -> str:
    # EXEC_HOST is "node01", "node01:node01" (-w/-json) or "4*node01" (LSB_SHORT_HOSTLIST).
    first = re.split(r"[:\s]+", exec_host.strip())[0] if exec_host.strip() else ""
    return first.split("*", 1)[-1]


def kill_job(job_id: str) -> tuple[bool, str]:
    """(whether the job was still there to kill, LSF's message)."""
    proc = subprocess.run(["bkill", job_id], capture_output=True, text=True, check=False)
    text = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0:
        return True, text
    if "already finished" in text or "No matching job" in text or "not found" in text:
        return False, text
    raise SchedulerError(text or f"bkill exited with {proc.returncode}")


def parse_time_left(text: str) -> int | None:
    """Seconds from bjobs' TIME_LEFT ("0:59 L", "1:02:03 L", "45:10 E"), None when unknown."""
    match = re.match(r"\s*(\d+):(\d+)(?::(\d+))?", text or "")
    if not match:
        return None
    a, b, c = match.groups()
    if c is None:
        return int(a) * 3600 + int(b) * 60
    return int(a) * 3600 + int(b) * 60 + int(c)


def lsf_conf_path() -> Path | None:
    envdir = os.environ.get("LSF_ENVDIR")
    candidate = Path(envdir) / "lsf.conf" if envdir else Path("/etc/lsf.conf")
    return candidate if candidate.is_file() else None


def unit_for_limits(conf: Path | None) -> str | None:
    """LSF_UNIT_FOR_LIMITS from lsf.conf, upper-case (KB, MB, GB...); None when not set."""
    if conf is None:
        return None
    for line in conf.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "LSF_UNIT_FOR_LIMITS":
            return value.strip().strip("'\"").upper() or None
    return None


def memory_in_units(n_bytes: int, unit: str) -> int:
    # The same rounding as dask-jobqueue's lsf_format_bytes_ceil, so `lab` and LSFCluster agree.
    return math.ceil(n_bytes / 1024 ** _UNIT_EXPONENT[unit.upper()[0]])
