"""IBM Spectrum LSF through its commands on PATH (bsub, bjobs, bkill, bqueues) and `lsf.conf`.

The one place that knows LSF's output: submission lines, `bjobs -o ... -json` records, the state
table, reasons, host lists, walltime and memory units. Formats follow real LSF (see the emulator's
references); the emulator is only ever reached by putting its shims first on PATH."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

from ..errors import SchedulerCommandFailed
from .base import JobInfo, JobState, QueueInfo, SchedulerClient, distinct_hosts
from .commands import run_command

COMMANDS = ("bsub", "bjobs", "bkill", "bqueues")
# Sites may print esub lines before this one, so every line is searched.
SUBMITTED = re.compile(
    r"Job <(?P<job_id>\d+)> is submitted to (?:default )?queue <(?P<queue>[^>]*)>"
)
BJOBS_FIELDS = (
    "jobid stat queue exec_host submit_time start_time run_time runtimelimit exit_code "
    "exit_reason pend_reason"
)
# Every STAT LSF prints, mapped once. UNKWN: mbatchd lost the host, the job may well still run.
# ZOMBI: killed while its host was unreachable; LSF finishes it off when the host returns.
NATIVE_STATES: dict[str, JobState] = {
    "PEND": JobState.PENDING,
    "PROV": JobState.PENDING,
    "WAIT": JobState.PENDING,
    "RUN": JobState.RUNNING,
    "UNKWN": JobState.RUNNING,
    "PSUSP": JobState.SUSPENDED,
    "USUSP": JobState.SUSPENDED,
    "SSUSP": JobState.SUSPENDED,
    "DONE": JobState.FINISHED,
    "EXIT": JobState.FAILED,
    "ZOMBI": JobState.FAILED,
}
# LSF's -W [hh:]mm; a bare number is minutes.
WALLTIME_PATTERN = r"^([0-9]{1,4}:)?[0-9]{1,5}$"
_UNIT_EXPONENT = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6, "Z": 7}


def job_state(native: str) -> JobState:
    # A word this table lacks comes from a newer LSF; "running" keeps the job from being
    # resubmitted or forgotten until LSF says it ended.
    return NATIVE_STATES.get(native.upper(), JobState.RUNNING)


def parse_submission(output: str) -> tuple[str, str] | None:
    """(job id, queue) from bsub's answer, None when it holds no submission line."""
    match = SUBMITTED.search(output)
    return (match.group("job_id"), match.group("queue")) if match else None


def walltime_minutes(value: str) -> int | None:
    """Minutes of an LSF `-W [hh:]mm`, None when it is not one (minutes past 59 with hours)."""
    if not re.fullmatch(WALLTIME_PATTERN, value):
        return None
    if ":" in value:
        hours, minutes = (int(part) for part in value.split(":"))
        return None if minutes >= 60 else hours * 60 + minutes
    return int(value)


def lsf_timestamp(text: str, now: float | None = None) -> str | None:
    """ISO 8601 of bjobs' `Mon DD HH:MM` (no year: the latest such moment not in the future)."""
    match = re.match(r"\s*([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?", text or "")
    if not match:
        return None
    month, day, hour, minute, second = match.groups()
    current = datetime.fromtimestamp(now if now is not None else time.time()).astimezone()
    try:
        stamp = datetime.strptime(
            f"{current.year} {month} {day} {hour}:{minute}:{second or '00'}", "%Y %b %d %H:%M:%S"
        )
    except ValueError:
        return None
    stamp = stamp.replace(tzinfo=current.tzinfo)
    if stamp > current.replace(microsecond=0) and (stamp - current).days >= 1:
        stamp = stamp.replace(year=current.year - 1)
    return stamp.isoformat()


def exec_hosts(exec_host: str) -> tuple[str, ...]:
    """Distinct hosts of EXEC_HOST: `node01:node01`, `4*node01:2*node02` or space separated."""
    names = [part.split("*", 1)[-1] for part in re.split(r"[:\s]+", exec_host.strip())]
    return distinct_hosts(names)


def _seconds(text: str) -> int | None:
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def _walltime_left(record: dict[str, str], state: JobState) -> int | None:
    if state is not JobState.RUNNING:
        return None
    try:
        limit_s = int(float(record.get("RUNTIMELIMIT") or "") * 60)
    except ValueError:
        return None
    run_s = _seconds(record.get("RUN_TIME", ""))
    return None if run_s is None else max(0, limit_s - run_s)


def _reason(record: dict[str, str], state: JobState) -> str | None:
    if state is JobState.PENDING:
        return (record.get("PEND_REASON") or "").strip().rstrip(";") or None
    if state.ended:
        reason = (record.get("EXIT_REASON") or "").strip()
        code = (record.get("EXIT_CODE") or "").strip()
        if not reason and state is JobState.FAILED and code:
            reason = f"exit code {code}"
        return reason or None
    return None


def parse_bjobs_json(text: str, now: float | None = None) -> dict[str, JobInfo]:
    """Records of `bjobs -o "<fields>" -json`; jobs LSF no longer knows are left out."""
    data = json.loads(text)
    jobs: dict[str, JobInfo] = {}
    for record in data.get("RECORDS", []):
        job_id = record.get("JOBID", "")
        if not job_id or "ERROR" in record:
            continue  # aged out of mbatchd's memory: nothing left to report or kill
        native = record.get("STAT") or "UNKWN"
        state = job_state(native)
        jobs[job_id] = JobInfo(
            job_id=job_id,
            state=state,
            native_state=native,
            reason=_reason(record, state),
            hosts=exec_hosts(record.get("EXEC_HOST") or ""),
            submitted=lsf_timestamp(record.get("SUBMIT_TIME", ""), now),
            started=lsf_timestamp(record.get("START_TIME", ""), now),
            walltime_left_s=_walltime_left(record, state),
        )
    return jobs


def parse_bqueues(text: str) -> list[QueueInfo]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("QUEUE_NAME"):
        return []
    return [QueueInfo(name=line.split()[0]) for line in lines[1:]]


def lsf_conf_path() -> Path | None:
    """$LSF_ENVDIR/lsf.conf (else /etc/lsf.conf), where dask-jobqueue also looks."""
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


def missing_commands(names: tuple[str, ...] = COMMANDS) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


class LSFClient(SchedulerClient):
    """LSF's commands, for the backend, `pangeo-hpc lab` and `doctor` alike."""

    name = "lsf"

    async def submit(self, script: str) -> str:
        job_id, _queue = await self.submit_to_queue(script)
        return job_id

    async def submit_to_queue(
        self, script: str, env: dict[str, str] | None = None
    ) -> tuple[str, str]:
        """(job id, queue it went to). `bsub < script` is how LSF reads #BSUB directives
        everywhere; `bsub script.sh` only with LSB_BSUB_PARSE_SCRIPT=Y."""
        result = await run_command(["bsub"], stdin=script, env=env, timeout=2 * self.timeout_s)
        parsed = parse_submission(result.stdout + result.stderr)
        # Some sites' bsub says "Job not submitted." with exit 0 (balsam PR #34).
        if result.returncode != 0 or parsed is None or "Job not submitted" in result.stderr:
            raise SchedulerCommandFailed("bsub", result.returncode, result.stderr or result.stdout)
        return parsed

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        if not job_ids:
            return {}
        result = await run_command(
            ["bjobs", "-o", BJOBS_FIELDS, "-json", *job_ids], timeout=self.timeout_s
        )
        try:
            return parse_bjobs_json(result.stdout)
        except ValueError:
            raise SchedulerCommandFailed(
                "bjobs", result.returncode, result.stderr or result.stdout
            ) from None

    async def kill(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        # bkill exits 255 when any job had already finished; that is success for us.
        result = await run_command(["bkill", *job_ids], timeout=self.timeout_s)
        if result.returncode not in (0, 255):
            raise SchedulerCommandFailed("bkill", result.returncode, result.stderr)

    async def queues(self) -> list[QueueInfo]:
        result = await run_command(["bqueues"], timeout=self.timeout_s)
        if result.returncode != 0:
            raise SchedulerCommandFailed("bqueues", result.returncode, result.stderr)
        return parse_bqueues(result.stdout)
