"""What `pangeo-hpc lab`, `status` and `stop` print: progress, the URL and the tunnel line."""

from __future__ import annotations

import sys
import time

FROZEN_FIX = "pangeo-hpc stop && pangeo-hpc lab"
PENDING_NOTE_EVERY = 30.0


def say(text: str = "") -> None:
    print(text, flush=True)


def fail(text: str) -> None:
    print(f"pangeo-hpc: {text}", file=sys.stderr, flush=True)


def clock(seconds: float) -> str:
    """h:mm:ss, the way bjobs -hms shows times."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) if text else "    (empty)"


def ssh_line(user: str, login_host: str, host: str, port: int) -> str:
    return f"ssh -N -L localhost:{port}:{host}:{port} {user}@{login_host}"


def lab_url(port: int, token: str) -> str:
    return f"http://localhost:{port}/lab?token={token}"


def ready_lines(
    *,
    job_id: str,
    host: str,
    port: int,
    requested_port: int,
    token: str,
    user: str,
    login_host: str,
    walltime_left_s: int | None,
) -> list[str]:
    lines = []
    if port != requested_port:
        lines.append(f"Port {requested_port} was taken on {host}; JupyterLab uses {port}.")
    left = f", walltime left {clock(walltime_left_s)}." if walltime_left_s is not None else "."
    lines += [
        f"JupyterLab is running in job {job_id} on {host}, port {port}{left}",
        "1. On your laptop, open the tunnel (leave it running):",
        f"   {ssh_line(user, login_host, host, port)}",
        "2. Then open:",
        f"   {lab_url(port, token)}",
        "Check it with `pangeo-hpc status`; end it with `pangeo-hpc stop`.",
    ]
    return lines


def frozen_message(job_id: str, native_state: str, host: str, port: int) -> str:
    return (
        f"Job {job_id} is {native_state} on {host} but JupyterLab on port {port} does not answer "
        f"(frozen). Fix: {FROZEN_FIX}"
    )


class Progress:
    """Progress while the job waits: one line rewritten in place on a terminal, a line per change
    (and every PENDING_NOTE_EVERY seconds) otherwise, so logs of `pangeo-hpc lab > file` stay
    readable."""

    def __init__(self, job_id: str, live: bool) -> None:
        self.job_id = job_id
        self.live = live
        self.shown = ""
        self.noted_at = 0.0
        self.open_line = False

    def pending(self, native_state: str, where: str, reason: str, submitted: float) -> None:
        """where: "queue normal", "partition debug", or "" when not known yet."""
        waited = clock(time.time() - submitted)
        head = f"{native_state:<5} job {self.job_id} is waiting" + (f" in {where}" if where else "")
        why = f": {reason.rstrip(';')}" if reason else ""
        if self.live:
            sys.stdout.write(f"\r\033[K{head} for {waited}{why}")
            sys.stdout.flush()
            self.open_line = True
            return
        key = head + why
        if key != self.shown:
            say(head + why)
            self.shown = key
            self.noted_at = time.monotonic()
        elif time.monotonic() - self.noted_at >= PENDING_NOTE_EVERY:
            say(f"{native_state:<5} still waiting after {waited}{why}")
            self.noted_at = time.monotonic()

    def other(self, native_state: str) -> None:
        if native_state != self.shown:
            self.done()
            say(f"{native_state:<5} job {self.job_id}")
            self.shown = native_state

    def done(self) -> None:
        if self.open_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.open_line = False
