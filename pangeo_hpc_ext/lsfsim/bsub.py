"""bsub: submit a job (script on stdin or a command), as LSF's bsub prints and fails."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time

from .config import (
    UNIT_FACTORS_KB,
    ensure_config,
    home,
    minute_seconds,
    submit_host,
    unit_for_limits,
    user_name,
)
from .state import FINISHED, job_dir, job_key, locked_state, read_state, schedule, state_version

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Options taking a value, and flags. Longer spellings first so "-Is" is not read as "-I s".
VALUE_OPTIONS = {
    "-J",
    "-q",
    "-n",
    "-R",
    "-M",
    "-W",
    "-o",
    "-oo",
    "-e",
    "-eo",
    "-P",
    "-cwd",
    "-u",
    "-m",
    "-w",
    "-b",
    "-t",
    "-E",
    "-Ep",
    "-G",
    "-g",
    "-app",
    "-sla",
    "-We",
    "-c",
    "-F",
    "-D",
    "-S",
    "-v",
    "-i",
    "-is",
    "-L",
    "-Lp",
    "-k",
    "-env",
    "-outdir",
    "-C",
    "-p",
    "-f",
    "-a",
    "-jsdl",
    "-U",
}
FLAG_OPTIONS = {
    "-I",
    "-Is",
    "-Ip",
    "-IS",
    "-ISs",
    "-ISp",
    "-K",
    "-B",
    "-N",
    "-r",
    "-rn",
    "-x",
    "-H",
    "-tty",
    "-XF",
    "-IX",
    "-hl",
    "-ar",
    "-ul",
    "-Zs",
}

# What C's isspace() takes for blank in the C locale (str.strip() would also strip U+2028...).
C_SPACE = " \t\n\v\f\r"

SUBMIT_FAIL_TEXT = (
    "Failed in an LSF library call: Slave LIM configuration is not ready yet. Job not submitted."
)


class Rejected(Exception):
    """bsub refuses the job: the message goes to stderr and bsub exits 255."""


def parse_options(args: list[str]) -> tuple[dict[str, Any], list[str]]:
    options: dict[str, Any] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return options, args[index + 1 :]
        if not arg.startswith("-") or arg == "-":
            return options, args[index:]
        if arg in FLAG_OPTIONS:
            options[arg] = True
            index += 1
            continue
        if arg in VALUE_OPTIONS:
            if index + 1 >= len(args):
                raise Rejected(f"bsub: option requires an argument -- {arg[1:]}")
            options[arg] = args[index + 1]
            index += 2
            continue
        if arg[:2] in VALUE_OPTIONS and len(arg) > 2:  # getopt style "-n4"
            options[arg[:2]] = arg[2:]
            index += 1
            continue
        raise Rejected(f"bsub: illegal option -- {arg[1:]}")
    return options, []


def split_words(line: str) -> list[str]:
    """Shell-like word splitting with '...' and "..." quotes (shlex costs ~4 ms to import)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    in_word = False
    for char in line:
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "'\"":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if quote:
        raise ValueError("unterminated quote")
    if in_word:
        words.append("".join(current))
    return words


def script_directives(script: str) -> dict[str, Any]:
    """#BSUB lines up to the first command line; a trailing backslash continues the line.
    LSF reads the script with fgets: a line ends at a newline only, never at the other
    characters str.splitlines() breaks at (U+2028, U+0085, U+001C...), and only C's isspace()
    is blank."""
    options: dict[str, Any] = {}
    pending = ""
    for raw in script.split("\n"):
        line = pending + raw.strip(C_SPACE)
        pending = ""
        if not line:
            continue
        if not line.startswith("#"):
            break
        if not line.startswith("#BSUB"):
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        try:
            words = split_words(line[len("#BSUB") :])
        except ValueError:
            words = line[len("#BSUB") :].split()
        parsed, _rest = parse_options(words)
        options.update(parsed)
    return options


def parse_runlimit(value: str) -> float:
    # OL parses [hh:]mm as hh*60+mm minutes; anything else is a bad specification, in OL's
    # wording (IBM's is UNCONFIRMED).
    match = re.fullmatch(r"(?:(\d+):)?(\d+)", value.strip())
    if not match:
        raise Rejected(f"{value}: Bad RUNLIMIT specification. Job not submitted.")
    minutes = int(match.group(2)) + 60 * int(match.group(1) or 0)
    if minutes <= 0:
        raise Rejected(f"{value}: Bad RUNLIMIT specification. Job not submitted.")
    return float(minutes)


def parse_memlimit_kb(value: str, unit: str) -> int:
    # IBM 10.1 accepts unit suffixes (KB/K ... EB/E); the error text is OpenLava's (typo included:
    # "MEMLIMT"), IBM's wording for this case is UNCONFIRMED.
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGTPE]B?)?!?", value.strip(), re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise Rejected(f"{value}: MEMLIMT value should be a positive integer. Job not submitted.")
    suffix = (match.group(2) or unit).upper()
    if not suffix.endswith("B"):
        suffix += "B"
    return int(float(match.group(1)) * UNIT_FACTORS_KB[suffix])


def parse_slots(value: str) -> int:
    text = value.split(",")[-1].strip()  # "-n min,max": the emulator grants max
    if not re.fullmatch(r"-?\d+", text):
        raise Rejected("Bad argument for option -n. Job not submitted.")
    slots = int(text)
    if slots <= 0:
        raise Rejected("The number of processors must be a positive integer. Job not submitted.")
    return slots


def parse_resources(value: str) -> dict[str, int]:
    if value.count("[") != value.count("]"):
        raise Rejected(
            'Error in select section: Expected number, string, name, or "(" but found end of '
            "section. Job not submitted."
        )
    found: dict[str, int] = {}
    for key in ("hosts", "ptile"):
        match = re.search(rf"span\[[^\]]*\b{key}=(\d+)", value)
        if match:
            found[key] = int(match.group(1))
    return found


def build_job(
    options: dict[str, Any],
    command_args: list[str],
    script: str | None,
    config: dict[str, Any],
    base: str,
) -> dict[str, Any]:
    queues = config.get("queues", {})
    queue = options.get("-q")
    queue_given = queue is not None
    if queue is None:
        queue = next((name for name, spec in queues.items() if spec.get("default")), None)
        queue = queue or next(iter(queues), "normal")
    if queue not in queues:
        raise Rejected(f"{queue}: No such queue. Job not submitted.")
    spec = queues[queue]
    nslots = parse_slots(options["-n"]) if "-n" in options else 1
    if spec.get("proclimit") is not None and nslots > int(spec["proclimit"]):
        raise Rejected("Too many processors requested. Job not submitted.")
    runlimit = parse_runlimit(options["-W"]) if "-W" in options else None
    if runlimit is not None and spec.get("runlimit_min") is not None:
        if runlimit > float(spec["runlimit_min"]):
            raise Rejected("RUNLIMIT: Cannot exceed queue's hard limit(s). Job not submitted.")
    memlimit_kb = None
    if "-M" in options:
        memlimit_kb = parse_memlimit_kb(options["-M"], unit_for_limits(base, config))
        if spec.get("memlimit_mb") is not None and memlimit_kb > int(spec["memlimit_mb"]) * 1024:
            # OpenLava's wording (LSBE_OVER_LIMIT + rName); IBM's is UNCONFIRMED.
            raise Rejected("MEMLIMIT: Cannot exceed queue's hard limit(s). Job not submitted.")
    resources = parse_resources(options.get("-R", ""))
    if script is not None:
        command = script
        default_name = ";".join(line for line in script.splitlines() if line.strip())
    else:
        command = " ".join(command_args)
        default_name = command
    return {
        "name": options.get("-J") or default_name,
        "queue": queue,
        "queue_given": queue_given,
        "project": options.get("-P"),
        "user": user_name(),
        "from_host": submit_host(),
        "cwd": os.path.abspath(options.get("-cwd") or os.getcwd()),
        "command": command,
        "argv": script is None,
        "nslots": nslots,
        "span_hosts": resources.get("hosts"),
        "ptile": resources.get("ptile"),
        "resources": options.get("-R"),
        "runlimit_min": runlimit if runlimit is not None else spec.get("runlimit_min"),
        "runlimit_given": runlimit,
        "memlimit_kb": memlimit_kb,
        "minute_seconds": minute_seconds(config),
        "output": options.get("-oo") or options.get("-o"),
        "output_overwrite": "-oo" in options,
        "error": options.get("-eo") or options.get("-e"),
        "error_overwrite": "-eo" in options,
        "interactive": any(flag in options for flag in ("-I", "-Is", "-Ip", "-IS", "-ISs")),
        "status": "PEND",
        "submit_time": time.time(),
        "start_time": None,
        "finish_time": None,
        "hosts": [],
        "exit_code": None,
        "exit_reason": None,
        "pend_reason": "New job is waiting for scheduling;",
        "cluster": config.get("cluster_name", "lsfsim"),
    }


# `-J "name[1-10,20]%2"`: a job array [LSF-REFERENCE 1.4, IBM bsub -J]. Each index is a
# number, a range `a-b` or a stepped range `a-b:s`; `%n` caps how many elements run at once
# (read, not enforced here).
ARRAY_NAME = re.compile(r"(?P<name>.*)\[(?P<spec>[0-9,:\-]+)\](?:%(?P<limit>\d+))?")
# LSF's MAX_JOB_ARRAY_SIZE default (lsb.params).
MAX_ARRAY_SIZE = 1000


def array_indices(spec: str) -> list[int]:
    """The indices of an array specification, in order; Rejected when it is not one (the
    wording is OpenLava's LSBE_BAD_IDX; IBM's is UNCONFIRMED)."""
    indices: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part)
        if match is None:
            raise Rejected("Bad job array index list. Job not submitted.")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        step = int(match.group(3) or 1)
        if first < 1 or last < first or step < 1:
            raise Rejected("Bad job array index list. Job not submitted.")
        indices.extend(range(first, last + 1, step))
    if len(indices) > MAX_ARRAY_SIZE:
        raise Rejected("Job array size is greater than maximum array size. Job not submitted.")
    return sorted(set(indices))


def split_array_name(name: str | None) -> tuple[str | None, list[int]]:
    """(job name, indices) of a -J value: no indices when it names a single job."""
    match = ARRAY_NAME.fullmatch(name or "")
    if match is None:
        return name, []
    return match.group("name"), array_indices(match.group("spec"))


def substitute(path: str | None, job_id: int, index: int = 0) -> str | None:
    if path is None:
        return None
    return path.replace("%J", str(job_id)).replace("%I", str(index))


def elements(job: dict[str, Any], indices: list[int]) -> list[dict[str, Any]]:
    """The jobs bsub records: the job itself, or one per array element, each a job of its own
    named `name[index]` (as bjobs shows elements)."""
    if not indices:
        return [job]
    return [{**job, "index": index, "name": f"{job['name']}[{index}]"} for index in indices]


def read_script() -> str:
    if sys.stdin is None or sys.stdin.closed:
        return ""
    if sys.stdin.isatty():
        sys.stdout.write("bsub> ")
        sys.stdout.flush()
    return sys.stdin.read()


def main(args: list[str]) -> int:
    try:
        options, command_args = parse_options(args)
        script = None
        if not command_args:
            script = read_script()
            merged = script_directives(script)
            merged.update(options)  # the command line overrides #BSUB lines
            options = merged
            if not script.strip():
                raise Rejected("No command is specified. Job not submitted.")
        delay = float(os.environ.get("LSFSIM_SUBMIT_DELAY") or 0)
        if delay > 0:
            time.sleep(delay)  # a loaded mbatchd; never while holding the state lock
        failure = os.environ.get("LSFSIM_SUBMIT_FAIL", "")
        if failure and failure.lower() not in ("0", "false", "no"):
            raise Rejected(failure if " " in failure else SUBMIT_FAIL_TEXT)
        base = home()
        config = ensure_config(base)
        array_name, indices = split_array_name(options.get("-J"))
        if indices:
            options["-J"] = array_name
        job = build_job(options, command_args, script, config, base)
        if indices and job["interactive"]:
            raise Rejected("Job array cannot be interactive. Job not submitted.")
    except Rejected as error:
        print(error, file=sys.stderr)
        return 255
    env = dict(os.environ)
    if job["interactive"]:
        # This process is the job's supervisor: the dispatch nudge (SIGUSR1) must not kill it.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    # A Ctrl-C inside the transaction would leave a spawned supervisor with no saved job; it is
    # delivered once the job is recorded instead (as LSF: a job mbatchd accepted stays submitted).
    interrupts = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts)
    with locked_state(base) as state:
        job_id = int(state.get("next_id", 1))
        state["next_id"] = job_id + 1
        jobs = elements(job, indices)
        launcher = None
        if indices:
            from .supervisor import spawn_detached

            keys = [f"{job_id}[{index}]" for index in indices]
            for key in keys:
                os.makedirs(job_dir(base, key), exist_ok=True)
            sys.stdout.flush()
            sys.stderr.flush()
            launcher = spawn_detached(base, keys[0], elements=keys)
        for element in jobs:
            element["id"] = job_id
            index = element.get("index") or 0
            element["output"] = substitute(element["output"], job_id, index)
            element["error"] = substitute(element["error"], job_id, index)
            key = job_key(element)
            directory = job_dir(base, key)
            os.makedirs(directory, exist_ok=True)
            if script is not None:
                with open(os.path.join(directory, "script"), "w", encoding="utf-8") as handle:
                    handle.write(script)
            with open(os.path.join(directory, "env.json"), "w", encoding="utf-8") as handle:
                json.dump(env, handle)
            if element["interactive"]:
                element["supervisor_pid"] = os.getpid()
            elif launcher is not None:
                element["supervisor_pid"] = launcher
            else:
                from .supervisor import spawn_detached

                sys.stdout.flush()
                sys.stderr.flush()
                element["supervisor_pid"] = spawn_detached(base, key)
            state["jobs"][key] = element
        schedule(base, state, config)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    # No "Job is submitted to <P> project." line for -P: UNCONFIRMED whether stock LSF prints it
    # (it may be a site esub); OpenLava does not.
    where = "queue" if job["queue_given"] else "default queue"
    stream = sys.stderr if os.environ.get("BSUB_STDERR") else sys.stdout
    print(f"Job <{job_id}> is submitted to {where} <{job['queue']}>.", file=stream, flush=True)
    if job["interactive"]:
        return run_interactive(base, str(job_id))
    if "-K" in options:
        return wait_until_finished(base, job_id)
    return 0


def run_interactive(base: str, key: str) -> int:
    # No banner at the end of an -I/-Is job and the job's exit status as ours: OpenLava's nios
    # behaviour (IBM's is UNCONFIRMED).
    from .supervisor import supervise

    print("<<Waiting for dispatch ...>>", file=sys.stderr, flush=True)

    def started(job: dict[str, Any]) -> None:
        sys.stderr.write(f"<<Starting on {job['hosts'][0]}>>\r\n")
        sys.stderr.flush()

    signals: list[int] = []

    def kill_on_signal(signum: int, _frame: Any) -> None:
        # Ctrl-C or a hang-up of an interactive bsub ends its job, as bkill would.
        signals.append(signum)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), kill_on_signal)
    return supervise(
        base, key, interactive=True, on_started=started, interrupted=lambda: bool(signals)
    )


def wait_until_finished(base: str, job_id: int) -> int:
    print("<<Waiting for dispatch ...>>", file=sys.stderr, flush=True)
    seen = None
    announced = False
    while True:
        version = state_version(base)
        if version != seen:
            seen = version
            job = read_state(base)["jobs"].get(str(job_id))
            if job is None:
                return 255
            if job["status"] != "PEND" and not announced and job.get("hosts"):
                print(f"<<Starting on {job['hosts'][0]}>>", file=sys.stderr, flush=True)
                announced = True
            if job["status"] in FINISHED:
                print("<<Job is finished>>", file=sys.stderr, flush=True)
                return int(job.get("exit_code") or 0)
        time.sleep(0.05)
