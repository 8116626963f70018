"""One supervisor per job (sbatchd's part): waits for dispatch, runs the job in its own session,
enforces the run limit, escalates bkill's signals and records how the job ended."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from .config import ensure_config, submit_host
from .state import (
    FINISHED,
    TERM_TEXT,
    finish_job,
    job_dir,
    job_key,
    kill_group,
    locked_state,
    read_state,
    schedule,
    state_version,
    wake_supervisor,
)

# A detached supervisor sleeps in sigtimedwait: SIGUSR1 (its job was dispatched or bkilled) and
# SIGCHLD (its job ended) wake it at once, so idle supervisors cost nothing. The timeout is only a
# fallback; an interactive bsub polls instead, as it must also notice its user's Ctrl-C.
WAKE_SIGNALS = (signal.SIGUSR1, signal.SIGCHLD)
FALLBACK_S = 1.0
POLL_S = 0.05
# Close every descriptor a caller may have leaked to us (os.closerange uses close_range(2)).
MAX_FD = min(os.sysconf("SC_OPEN_MAX"), 1 << 20)


def _sleep(timeout: float, detached: bool) -> None:
    if detached:
        signal.sigtimedwait(WAKE_SIGNALS, max(min(timeout, FALLBACK_S), 0.001))
    else:
        time.sleep(max(min(timeout, POLL_S), 0.001))


# Signals the job must see with their default action, whatever the submitter ignored or blocked.
RESET_SIGNALS = (
    "SIGINT",
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGPIPE",
    "SIGUSR1",
    "SIGUSR2",
    "SIGTTIN",
    "SIGTTOU",
    "SIGCHLD",
    "SIGXFSZ",
)

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .state import Job


def spawn_detached(base: str, key: str, elements: list[str] | None = None) -> int:
    """Double fork so the supervisor is nobody's child and holds none of the caller's pipes.

    Returns the supervisor's pid. bsub calls this inside its state transaction (the children
    close their copy of the lock fd at once), so the job is recorded with its supervisor.
    With `elements` (the keys of an array's elements), the process started is a launcher that
    starts their supervisors: bsub answers after one fork, as mbatchd takes an array of any
    size with one submission.
    """
    read_end, write_end = os.pipe()
    # Blocked from before the fork: a dispatch nudge may arrive before the supervisor is ready,
    # and SIGUSR1's default action would kill it.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            reply = pipe.read()
        os.waitpid(pid, 0)
        return int(reply or 0)
    try:
        os.close(read_end)
        # Let go of the caller's stdio before anything else: whoever reads bsub's output waits
        # for every holder of the pipe, and the grandchild may be scheduled late on a busy host.
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(
            os.path.join(job_dir(base, key), "supervisor.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o644,
        )
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(log, 2)
        os.closerange(3, write_end)
        os.closerange(write_end + 1, MAX_FD)
        os.setsid()
        child = os.fork()
        if child:
            os.write(write_end, str(child).encode())
            os._exit(0)
        os.close(write_end)
        sys.stdout = open(1, "w", closefd=False, buffering=1)
        sys.stderr = open(2, "w", closefd=False, buffering=1)
        for name in ("SIGINT", "SIGHUP", "SIGPIPE"):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        # Started by an array's launcher, which ignores the nudge: the job must not inherit
        # that (still blocked here, so nothing is lost).
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        code = 0
        try:
            if elements is None:
                supervise(base, key, interactive=False)
            else:
                launch_elements(base, elements)
        except BaseException:  # the log is the only place anyone will see it
            import traceback

            traceback.print_exc()
            code = 1
        sys.stderr.flush()
        os._exit(code)
    except BaseException:
        os._exit(1)


def launch_elements(base: str, keys: list[str]) -> None:
    """Start each element's supervisor, then record it in place of this launcher (recorded as
    their supervisor meanwhile: if it dies first, its elements are reaped as orphans). A
    dispatch nudge meant for an element is ignored here: its supervisor reads the table when it
    starts."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    pids = {key: spawn_detached(base, key) for key in keys}
    with locked_state(base) as state:
        for key, pid in pids.items():
            job = state["jobs"].get(key)
            if job is not None:
                job["supervisor_pid"] = pid
                # Dispatched meanwhile, the element's nudge went to this launcher: pass it on
                # once saved, or its supervisor only looks again after FALLBACK_S.
                wake_supervisor(job)


def _job(base: str, key: str) -> Job | None:
    return read_state(base)["jobs"].get(key)


def wait_for_dispatch(
    base: str, key: str, on_tick: Any = None, detached: bool = True
) -> Job | None:
    """Block until the job is RUN (returned) or ended while pending (None)."""
    seen = None
    # A bsub killed inside its transaction never saves the job; do not wait for it forever.
    give_up = time.monotonic() + 60
    while True:
        version = state_version(base)
        if version != seen or time.monotonic() > give_up:
            seen = version
            if not os.path.isdir(base):
                return None  # the emulator's home was deleted: nobody will dispatch us
            state = read_state(base)
            job = state["jobs"].get(key)
            if job is None:
                job_id = int(key.partition("[")[0])
                if int(state.get("next_id", 1)) <= job_id and time.monotonic() < give_up:
                    pass  # bsub, which started us, has not saved the job yet
                else:
                    return None
            elif job["status"] in FINISHED:
                return None
            elif job["status"] == "RUN":
                return job
        if on_tick is not None:
            on_tick()
        _sleep(FALLBACK_S, detached)


def job_environment(base: str, job: Job) -> dict[str, str]:
    directory = job_dir(base, job_key(job))
    try:
        with open(os.path.join(directory, "env.json"), encoding="utf-8") as handle:
            env: dict[str, str] = json.load(handle)
    except FileNotFoundError:
        env = dict(os.environ)
    hosts: list[str] = job["hosts"]
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host] = counts.get(host, 0) + 1
    env.update(
        {
            "LSB_JOBID": str(job["id"]),
            "LSB_JOBNAME": job["name"],
            "LSB_QUEUE": job["queue"],
            "LSB_HOSTS": " ".join(hosts),
            "LSB_MCPU_HOSTS": " ".join(f"{host} {count}" for host, count in counts.items()),
            "LSB_DJOB_NUMPROC": str(len(hosts)),
            "LS_SUBCWD": job["cwd"],
            "LSB_SUB_HOST": job["from_host"],
            # The element's index; 0 for a job that is no array's [LSF-REFERENCE, job env].
            "LSB_JOBINDEX": str(job.get("index") or 0),
            "LSB_PROJECT_NAME": job.get("project") or "default",
            "LSFUSER": job["user"],
            "LSB_EXEC_CLUSTER": job.get("cluster", "lsfsim"),
            "HOSTNAME": hosts[0] if hosts else submit_host(),
        }
    )
    for key, field in (("LSB_OUTPUTFILE", "output"), ("LSB_ERRORFILE", "error")):
        if job.get(field):
            env[key] = job[field]
        else:
            env.pop(key, None)
    if job.get("interactive"):
        env["LSB_INTERACTIVE"] = "Y"
    return env


def _open_for_job(path: str, cwd: str, overwrite: bool) -> int:
    full = os.path.join(cwd, path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_APPEND)
    return os.open(full, flags, 0o644)


def start_job(base: str, job: Job) -> int:
    """Fork the job into its own session (pgid == pid) and exec it."""
    directory = job_dir(base, job_key(job))
    env = job_environment(base, job)
    if job.get("argv"):
        argv = ["/bin/sh", "-c", job["command"]]
    else:
        script = os.path.join(directory, "script")
        with open(script, encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
        if first.startswith("#!"):
            os.chmod(script, 0o755)
            argv = [str(script)]
        else:
            argv = ["/bin/sh", str(script)]
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        cwd = job["cwd"] if os.path.isdir(job["cwd"]) else "/tmp"
        os.chdir(cwd)
        if not job.get("interactive"):
            null = os.open(os.devnull, os.O_RDONLY)
            spool = os.open(
                os.path.join(directory, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
            )
            os.dup2(null, 0)
            os.dup2(spool, 1)
            error = job.get("error")
            if error and error != job.get("output"):
                os.dup2(_open_for_job(error, cwd, bool(job.get("error_overwrite"))), 2)
            else:
                os.dup2(spool, 2)
            os.closerange(3, MAX_FD)
        for name in RESET_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execve(argv[0], argv, env)
    except BaseException:
        os._exit(127)
    os._exit(127)


def supervise(
    base: str,
    key: str,
    *,
    interactive: bool,
    on_started: Any = None,
    interrupted: Any = None,
) -> int:
    """Run one job from dispatch to its recorded end; returns the job's exit status.

    `interrupted()` tells an interactive bsub's loops that its user hit Ctrl-C (a signal handler
    only sets a flag: taking the state lock inside one could deadlock against this very loop).
    """

    def kill_if_interrupted() -> None:
        if interrupted is not None and interrupted():
            from .bkill import request_kill

            request_kill(base, key)

    job = wait_for_dispatch(base, key, on_tick=kill_if_interrupted, detached=not interactive)
    if job is None:
        ended = _job(base, key)
        return int((ended or {}).get("exit_code") or 1)
    config = ensure_config(base)
    with locked_state(base) as state:
        job = state["jobs"].get(key)
        if job is None or job["status"] != "RUN" or job.get("kill_requested_at"):
            if job is not None and job["status"] == "RUN":
                finish_job(job, "EXIT", None, job.get("kill_reason") or "TERM_OWNER")
                schedule(base, state, config)
            return 1
        if on_started is not None:
            on_started(job)
        pid = start_job(base, job)
        job["pid"] = pid
        job["pgid"] = pid
        job["exec_home"] = os.path.expanduser("~")
    return monitor(base, job, pid, config, on_tick=kill_if_interrupted, detached=not interactive)


def monitor(
    base: str,
    job: Job,
    pid: int,
    config: dict[str, Any],
    on_tick: Any = None,
    detached: bool = True,
) -> int:
    interval = float(config.get("terminate_interval_s", 1.0))
    limit_min = job.get("runlimit_min")
    deadline = job["start_time"] + limit_min * job["minute_seconds"] if limit_min else None
    reason: str | None = None
    # (time, signal) still to send; filled by a bkill or by the run limit.
    escalation: list[tuple[float, int]] = []
    seen = state_version(base)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if on_tick is not None and reason is None:
            on_tick()
        now = time.time()
        if reason is None and deadline is not None and now >= deadline:
            reason = "TERM_RUNLIMIT"
            # LSF warns with SIGUSR2 (a job that does not handle it exits 140), then kills.
            kill_group(pid, signal.SIGUSR2)
            escalation = [(now + 2 * interval, signal.SIGKILL)]
        version = state_version(base)
        if version != seen and not os.path.isdir(base):
            # The emulated cluster was deleted (a test's temporary home): its jobs go with it
            # rather than run on unseen.
            kill_group(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 137
        if reason is None and version != seen:
            seen = version
            current = read_state(base)["jobs"].get(job_key(job), {})
            if current.get("kill_requested_at"):
                reason = current.get("kill_reason") or "TERM_OWNER"
                start = float(current["kill_requested_at"])
                if reason == "TERM_FORCE_OWNER":
                    escalation = [(now, signal.SIGKILL)]
                else:
                    escalation = [
                        (start + interval, signal.SIGTERM),
                        (start + 2 * interval, signal.SIGKILL),
                    ]
        while escalation and escalation[0][0] <= now:
            kill_group(pid, escalation.pop(0)[1])
        wake_at = [at for at, _ in escalation]
        if reason is None and deadline is not None:
            wake_at.append(deadline)
        _sleep(min(wake_at, default=now + FALLBACK_S) - time.time(), detached)
    # Whatever the job left behind in its process group goes with it, as under sbatchd.
    kill_group(pid, signal.SIGKILL)
    code = os.waitstatus_to_exitcode(status)
    exit_code = 128 - code if code < 0 else code
    if reason is None:
        # A bkill that landed after our last look at the table still decides how the job ended.
        current = read_state(base)["jobs"].get(job_key(job), {})
        if current.get("kill_requested_at"):
            reason = current.get("kill_reason") or "TERM_OWNER"
    final_status = "DONE" if exit_code == 0 and reason is None else "EXIT"
    if not job.get("interactive"):
        from .report import write_output_file

        try:
            write_output_file(base, job, final_status, exit_code, reason)
        except OSError as error:
            print(f"lsfsim: cannot write output file: {error}", file=sys.stderr)
    with locked_state(base) as state:
        record = state["jobs"].get(job_key(job))
        if record is not None:
            if reason is None and record.get("kill_requested_at"):
                reason = record.get("kill_reason") or "TERM_OWNER"
                final_status = "EXIT"
            finish_job(record, final_status, exit_code, reason)
        schedule(base, state)
    return exit_code


def describe_reason(reason: str | None) -> str:
    return f"{reason}: {TERM_TEXT.get(reason, '')}" if reason else ""
