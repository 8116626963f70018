"""When worker jobs that ended by themselves (walltime, node failure, an external kill) are
replaced, and when a cluster stops trying.

A job whose worker connected did its work: replacing it is routine. A job that ended before its
worker ever connected (a bad environment, a refused resource, a node that kills it at once) is a
failure; each one in a row doubles the wait before the next submission, and after a few the
cluster is degraded and submits nothing more until the user scales it again, so that a job that
fails at once never becomes a submit storm."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schedulers.base import JobInfo

FAILURES_BEFORE_GIVING_UP = 5
FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 300.0


def backoff_s(consecutive_failures: int) -> float:
    if consecutive_failures <= 0:
        return 0.0
    return min(FIRST_BACKOFF_S * 2 ** (consecutive_failures - 1), MAX_BACKOFF_S)


@dataclass
class ReplacementPolicy:
    consecutive_failures: int = 0
    not_before: float = 0.0  # monotonic seconds
    gave_up: str | None = None  # the scheduler's reason for the last failure, once given up
    last_failure: str | None = None
    judged: set[str] = field(default_factory=set)

    def judge(self, ended: list[JobInfo], routine: set[str]) -> None:
        """Count the newly ended jobs as routine ends or failures, in the order given. `routine`
        jobs are those whose worker connected, or that we ended on purpose."""
        for job in ended:
            if job.job_id in self.judged:
                continue
            self.judged.add(job.job_id)
            if job.job_id in routine:
                self.consecutive_failures = 0
                continue
            self.consecutive_failures += 1
            self.last_failure = job.reason or f"job {job.job_id} ended {job.native_state}"
            if self.consecutive_failures >= FAILURES_BEFORE_GIVING_UP:
                self.gave_up = (
                    f"{self.consecutive_failures} worker jobs in a row ended before their worker "
                    f"connected; not resubmitting until you scale. Last: {self.last_failure}"
                )

    def may_submit(self, now: float) -> bool:
        return self.gave_up is None and now >= self.not_before

    def submitted(self, now: float) -> None:
        self.not_before = now + backoff_s(self.consecutive_failures)

    def reset(self) -> None:
        """The user scaled: their request is a fresh start (the judged jobs stay judged)."""
        self.consecutive_failures = 0
        self.not_before = 0.0
        self.gave_up = None
        self.last_failure = None
