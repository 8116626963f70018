"""Running scheduler commands without blocking the server's event loop."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass

from ..errors import SchedulerCommandFailed

# A scheduler command that hangs (a stuck mbatchd/slurmctld) must not hang a request forever.
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


async def run_command(
    argv: list[str],
    *,
    stdin: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run argv; a missing executable or a time-out becomes SchedulerCommandFailed, a non-zero
    exit code does not (several scheduler commands use it for partial answers)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError:
        raise SchedulerCommandFailed(
            argv[0], None, "command not found on PATH (is the scheduler's client installed?)"
        ) from None
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout
        )
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise SchedulerCommandFailed(argv[0], None, f"no answer within {timeout:.0f} s") from None
    return CommandResult(
        proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
    )


def run_command_sync(argv: list[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> str | None:
    """stdout and stderr of argv for synchronous callers (detection at start-up, the CLI);
    None when it cannot run or does not answer in time."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout + proc.stderr
