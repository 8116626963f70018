"""PBS Pro / OpenPBS through dask-jobqueue's PBSCluster; every scheduler call goes through
PBSClient, and queues and their walltime limits are read from `qstat -Q` before anything runs."""

from __future__ import annotations

from typing import Any, ClassVar

from ..directive_policy import PBS, Unsplittable, option_readings, readings
from ..errors import FieldError
from ..schedulers.pbs import PBSClient, format_walltime, parse_walltime
from ..schedulers.registry import SCHEDULERS
from .jobqueue import OPTIONAL_TEXT, JobqueueBackend

# PBS durations: [[hh:]mm:]ss or seconds.
WALLTIME_PATTERN = r"^([0-9]+:[0-9]{1,2}:[0-9]{1,2}|[0-9]+:[0-9]{1,2}|[0-9]+)$"
# A `-l` resource list as qsub takes it ("select=1:ncpus=4:mem=8gb", "select=2:ncpus=1,place=
# scatter"): one token, since it is written into a #PBS line.
RESOURCE_SPEC_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_=:.+,\-]*$"


def not_rerunnable(directive: str) -> bool:
    """Whether an extra directive says the job may not be rerun (`-r n`, `-rn`), in any way qsub
    may read it; a line that cannot be split is refused by the directive checks."""
    try:
        word_lists = readings(directive)
    except Unsplittable:
        return False
    return any(
        option == "-r" and (argument or "").strip().lower().startswith("n")
        for words in word_lists
        for index, word in enumerate(words)
        if word.startswith("-")
        for option, argument in option_readings(word, next(iter(words[index + 1 :]), None), PBS)
    )


class PBSBackend(JobqueueBackend):
    scheduler = SCHEDULERS["pbs"]
    client = PBSClient()
    parse_walltime_s = staticmethod(parse_walltime)
    # qsub reads #PBS lines with getopt; `-l` lists (walltime, select, ncpus, mem) item by item.
    directive_syntax = PBS
    queue_title = "Queue"
    # `-o DIR/` and `-e DIR/`: PBS names the files after the job id, "<id>.OU" and "<id>.ER".
    log_file_names = (r"{job_id}\.OU", r"{job_id}\.ER")
    default_walltime = "00:30:00"
    walltime_property: ClassVar[dict[str, Any]] = {
        "type": "string",
        "title": "Walltime (hh:mm:ss)",
        "pattern": WALLTIME_PATTERN,
        "errorMessage": "must be hh:mm:ss, mm:ss or seconds, such as 00:30:00 or 1800",
    }

    def default_options(self) -> dict[str, Any]:
        return {
            **super().default_options(),
            "account": self.jobqueue_default("account"),
            "resource_spec": self.jobqueue_default("resource-spec"),
        }

    def extra_properties(self, defaults: dict[str, Any]) -> dict[str, Any]:
        return {
            "account": {**OPTIONAL_TEXT, "title": "Account (-A)", "default": defaults["account"]},
            "resource_spec": {
                **OPTIONAL_TEXT,
                "title": "Resources (-l; none: select=1:ncpus=<cores>:mem=<memory>)",
                "pattern": RESOURCE_SPEC_PATTERN,
                "errorMessage": "must be a PBS resource list such as select=1:ncpus=4:mem=8gb",
                "default": defaults["resource_spec"],
            },
        }

    def check_options(self, options: dict[str, Any]) -> list[FieldError]:
        errors = super().check_options(options)
        directives = options.get("job_extra_directives") or []
        if options.get("job_array") and any(not_rerunnable(str(d)) for d in directives):
            # qsub: "cannot submit non-rerunable Array Job", at every scale-up by more than one.
            errors.append(
                FieldError(
                    "job_array",
                    "PBS refuses a job array of jobs that may not be rerun (-r n in "
                    "job_extra_directives): set job_array to false, or drop -r n",
                )
            )
        return errors

    def queue_limit_errors(
        self, options: dict[str, Any], walltime_s: int | None
    ) -> list[FieldError]:
        # Read when the options were checked against the schema, which lists the queues: an
        # unknown queue was refused there.
        queue = self.cached_queue(options.get("queue"))
        limit_s = queue.extra.get("max_walltime_s") if queue is not None else None
        if walltime_s and limit_s is not None and walltime_s > limit_s:
            return [
                FieldError(
                    "walltime",
                    f"walltime {options['walltime']} is above the resources_max.walltime of "
                    f"queue {queue.name} ({format_walltime(limit_s)})",
                )
            ]
        return []

    def job_options(self, options: dict[str, Any]) -> dict[str, Any]:
        shared = super().job_options(options)
        # PBS spools a job's output on its node and copies it to -o/-e only when the job ends;
        # -k oed writes it there directly, so a running worker's log can be read.
        direct = ["-k oed"] if shared["log_directory"] else []
        return {
            **shared,
            "account": options.get("account") or None,
            "resource_spec": options.get("resource_spec") or None,
            "job_extra_directives": direct + shared["job_extra_directives"],
        }
