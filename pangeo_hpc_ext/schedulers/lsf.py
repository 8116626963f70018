"""IBM Spectrum LSF and its relatives through their commands on PATH (bsub, bjobs, bkill,
bqueues, lsid) and `lsf.conf`: which bjobs form this LSF takes, the unit of memory limits, and
job arrays. What the commands print is read in lsf_output.py. The emulator is only ever reached
by putting its shims first on PATH."""

from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import SchedulerCommandFailed
from .arrays import LSF_ARRAYS
from .base import JobInfo, QueueInfo, SchedulerClient
from .commands import run_command
from .lsf_output import (
    BJOBS_FIELDS,
    COMMANDS,
    DELIMITER,
    FORM_REJECTED,
    BjobsForm,
    LongRecord,
    form_for_banner,
    parse_bhosts_slots,
    parse_bjobs_delimited,
    parse_bjobs_json,
    parse_bjobs_long,
    parse_bjobs_wide,
    parse_bqueues,
    parse_submission,
)

_UNIT_EXPONENT = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6, "Z": 7}


@dataclass(frozen=True)
class LSFDialect:
    """What the installed LSF is (`lsid`'s first line) and the bjobs form that reads it."""

    banner: str | None
    form: BjobsForm


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


def default_limits_unit(banner: str | None) -> str:
    """The unit of bare memory limits (-M) when lsf.conf sets no LSF_UNIT_FOR_LIMITS: KB for IBM
    LSF, MB for OpenLava/volclava (recorded: `bsub -M 1024` gives MEMLIMIT `1048576 K`)."""
    return "MB" if form_for_banner(banner) is BjobsForm.OPENLAVA else "KB"


def memory_in_units(n_bytes: int, unit: str) -> int:
    # The same rounding as dask-jobqueue's lsf_format_bytes_ceil, so `lab` and LSFCluster agree.
    return math.ceil(n_bytes / 1024 ** _UNIT_EXPONENT[unit.upper()[0]])


def missing_commands(names: tuple[str, ...] = COMMANDS) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


# bjobs' answers that mean "none of these jobs", not a failure.
NOTHING_FOUND = re.compile(r"is not found|No (?:unfinished |pending |running )?job found")


class _FormRejected(Exception):
    def __init__(self, returncode: int, text: str) -> None:
        super().__init__(text)
        self.returncode = returncode
        self.text = text


_DIALECTS: dict[tuple[str | None, str | None], LSFDialect] = {}


class LSFClient(SchedulerClient):
    """LSF's commands, for the backend, `pangeo-hpc lab` and `doctor` alike."""

    name = "lsf"
    arrays = LSF_ARRAYS

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

    async def banner(self) -> str | None:
        """`lsid`'s first line (`IBM Spectrum LSF Standard 10.1.0.6, ...`, `volclava project
        2.2, ...`); None when lsid is missing or does not answer."""
        if missing_commands(("lsid",)):
            return None
        try:
            result = await run_command(["lsid"], timeout=self.timeout_s)
        except SchedulerCommandFailed:
            return None
        return next((line.strip() for line in result.stdout.splitlines() if line.strip()), None)

    @staticmethod
    def _installation() -> tuple[str | None, str | None]:
        # One answer per LSF: the bjobs on PATH and the LSF_ENVDIR naming its cluster.
        return shutil.which("bjobs"), os.environ.get("LSF_ENVDIR")

    async def dialect(self) -> LSFDialect:
        """The installed LSF and the best bjobs form it is known to take (lsid's banner at first;
        a form bjobs refuses is stepped down from, once, and remembered)."""
        key = self._installation()
        known = _DIALECTS.get(key)
        # An lsid that did not answer is asked again next time: its banner decides the unit of
        # bare -M numbers too.
        if known is None or (known.banner is None and not missing_commands(("lsid",))):
            banner = await self.banner()
            form = known.form if known is not None else form_for_banner(banner)
            known = _DIALECTS[key] = LSFDialect(banner, form)
        return known

    def limits_unit(self) -> str | None:
        """The unit of bare -M numbers here: lsf.conf's LSF_UNIT_FOR_LIMITS, else this LSF's
        default once `dialect()` has been asked; None when neither is known yet."""
        unit = unit_for_limits(lsf_conf_path())
        known = _DIALECTS.get(self._installation())
        if unit is None and known is not None:
            return default_limits_unit(known.banner)
        return unit

    async def probe(self, job_ids: list[str] | None = None) -> LSFDialect:
        """Try the forms on these jobs (else the user's recent ones, `-a`) until bjobs takes one:
        what `doctor` shows. OpenLava checks -o fields only against a job it prints, so with no
        job to show the banner's choice stands untried."""
        await self._read_stepping_down(job_ids or ["-a"])
        return await self.dialect()

    async def job_states(self, job_ids: list[str]) -> dict[str, JobInfo]:
        if not job_ids:
            return {}
        return await self._read_stepping_down(job_ids)

    async def _read_stepping_down(self, job_ids: list[str]) -> dict[str, JobInfo]:
        dialect = await self.dialect()
        forms = list(BjobsForm)
        while True:
            try:
                return await self._read(dialect.form, job_ids)
            except _FormRejected as rejected:
                following = forms[forms.index(dialect.form) + 1 :]
                if not following:
                    raise SchedulerCommandFailed(
                        "bjobs", rejected.returncode, rejected.text
                    ) from None
                dialect = LSFDialect(dialect.banner, following[0])
                _DIALECTS[self._installation()] = dialect

    async def _bjobs(self, argv: list[str]) -> tuple[int, str, str]:
        result = await run_command(argv, timeout=self.timeout_s)
        if FORM_REJECTED.search(result.stderr):
            raise _FormRejected(result.returncode, result.stderr.strip())
        return result.returncode, result.stdout, result.stderr

    async def _read(self, form: BjobsForm, job_ids: list[str]) -> dict[str, JobInfo]:
        returncode, out, err = await self._bjobs(form.argv(job_ids))

        def parse(long: dict[str, LongRecord] | None) -> dict[str, JobInfo]:
            if form is BjobsForm.DELIMITED:
                return parse_bjobs_delimited(out, BJOBS_FIELDS, DELIMITER)
            if form is BjobsForm.PLAIN:
                return parse_bjobs_wide(out, long=long)
            return parse_bjobs_json(out, long=long)

        try:
            jobs = parse(None)
        except ValueError:
            raise SchedulerCommandFailed("bjobs", returncode, err or out) from None
        # A JSON answer is an answer whatever the exit code (volclava exits 255 with
        # `"RECORDS":[]` when nothing is unfinished, and when every id is unknown); text forms
        # say "No unfinished job found" (volclava: exit 254) or "Job <N> is not found" (255).
        answered = form.json or NOTHING_FOUND.search(err)
        if not jobs and returncode != 0 and not answered:
            raise SchedulerCommandFailed("bjobs", returncode, err or out)
        if not form.reads_long:
            return jobs
        # Reasons, the run limit and every host, for all the jobs at once; without them those
        # fields stay unknown (None), never guessed.
        wanted = [job_id for job_id, info in jobs.items() if info.native_state != "DONE"]
        if not wanted:
            return jobs
        try:
            _, long_out, _ = await self._bjobs(["bjobs", "-l", *wanted])
        except (SchedulerCommandFailed, _FormRejected):
            return jobs
        return parse(parse_bjobs_long(long_out))

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
        queues = parse_bqueues(result.stdout)
        hosts = await run_command(["bhosts", "-w"], timeout=self.timeout_s)
        slots = parse_bhosts_slots(hosts.stdout) if hosts.returncode == 0 else None
        return [
            QueueInfo(q.name, q.default, q.max_walltime_min, {**q.extra, "slots_per_host": slots})
            for q in queues
        ]
