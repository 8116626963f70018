"""The job report LSF writes at the top of a job's -o file (what sbatchd would mail otherwise)."""

from __future__ import annotations

import os
import resource
import time

from .config import ensure_config
from .state import TERM_TEXT, job_dir, job_key

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .state import Job


def host_list(hosts: list[str]) -> str:
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host] = counts.get(host, 0) + 1
    return "".join(f"<{n}*{h}>" if n > 1 else f"<{h}>" for h, n in counts.items())


def usage(label: str, value: str) -> str:
    # LSF 10 lines up every value of the resource usage summary at column 49.
    return f"    {label} :".ljust(49) + value


def job_report(job: Job, status: str, exit_code: int, reason: str | None, cluster: str) -> str:
    now = time.time()
    started = job.get("start_time") or now
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    subject = "Done" if status == "DONE" else "Exited"
    outcome = "Successfully completed." if status == "DONE" else ""
    if status != "DONE":
        lines = [f"{reason}: {TERM_TEXT.get(reason, '')}."] if reason else []
        lines.append(f"Exited with exit code {exit_code}.")
        outcome = "\n".join(lines)
    script = job["command"].rstrip("\n")
    elapsed = int(now - started)
    turnaround = int(now - job["submit_time"])
    home = job.get("exec_home") or os.path.expanduser("~")
    lines = [
        f"Sender: LSF System <lsfadmin@{job['hosts'][0]}>",
        f"Subject: Job {job_key(job)}: <{job['name']}> in cluster <{cluster}> {subject}",
        "",
        f"Job <{job['name']}> was submitted from host <{job['from_host']}> by user "
        f"<{job['user']}> in cluster <{cluster}> at {time.ctime(job['submit_time'])}",
        f"Job was executed on host(s) {host_list(job['hosts'])}, in queue <{job['queue']}>, "
        f"as user <{job['user']}> in cluster <{cluster}> at {time.ctime(started)}",
        f"<{home}> was used as the home directory.",
        f"<{job['cwd']}> was used as the working directory.",
        f"Started at {time.ctime(started)}",
        f"Terminated at {time.ctime(now)}",
        f"Results reported at {time.ctime(now)}",
        "",
        "Your job looked like:",
        "",
        "-" * 60,
        "# LSBATCH: User input",
        script,
        "-" * 60,
        "",
        outcome,
        "",
        "Resource usage summary:",
        "",
        usage("CPU time", f"{cpu.ru_utime + cpu.ru_stime:.2f} sec."),
        usage("Max Memory", f"{cpu.ru_maxrss // 1024} MB"),
        usage("Average Memory", "-"),
        usage("Total Requested Memory", "-"),
        usage("Delta Memory", "-"),
        usage("Max Swap", "-"),
        usage("Max Processes", "-"),
        usage("Max Threads", "-"),
        usage("Run time", f"{elapsed} sec."),
        usage("Turnaround time", f"{turnaround} sec."),
        "",
        "The output (if any) follows:",
        "",
        "",
    ]
    return "\n".join(lines)


def write_output_file(base: str, job: Job, status: str, exit_code: int, reason: str | None) -> None:
    """Write header + spooled output to -o, like sbatchd at job end (LSB_STDOUT_DIRECT=N)."""
    output = job.get("output")
    if not output:
        return
    config = ensure_config(base)
    header = job_report(job, status, exit_code, reason, str(config.get("cluster_name", "lsfsim")))
    spool = os.path.join(job_dir(base, job_key(job)), "stdout")
    path = os.path.join(job["cwd"], output)
    mode = "wb" if job.get("output_overwrite") else "ab"
    with open(path, mode) as target:
        target.write(header.encode())
        try:
            with open(spool, "rb") as source:
                while chunk := source.read(1 << 16):
                    target.write(chunk)
        except FileNotFoundError:
            pass
        error = job.get("error")
        if error and error != output:
            target.write(
                f"\n\nPS:\n\nRead file <{error}> for stderr output of this job.\n\n".encode()
            )
