"""`pangeo-hpc lab`, `status` and `stop`: JupyterLab as a batch job on a compute node.

`lab` writes a job script, submits it (batch by default, so a dropped laptop connection does not
kill it; `--interactive` holds it with the scheduler's interactive form, e.g. `bsub -Is`),
follows the job until it runs, waits until JupyterLab answers with its token, and prints the URL
and the exact `ssh -N -L` line. Schedulers are reached only through their commands on PATH.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
from collections.abc import Callable
from pathlib import Path

from .adapters import LabScheduler, UnknownScheduler, choose, scheduler_names
from .options import NODE_ADDRESS, LabOptions, OptionError, lab_options
from .report import fail, say
from .run import LabRun
from .script import job_script
from .session import LabState, StateError, default_state_dir
from .status import show_status, stop

LOGIN_HOST_ENV = "PANGEO_HPC_LOGIN_HOST"
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser(
        "lab",
        help="start JupyterLab as a batch job on a compute node and print the ssh tunnel",
        description="Submit JupyterLab as a batch job, wait until it answers, and print its URL "
        "with token and the ssh tunnel command to reach it from your laptop.",
    )
    lab.add_argument(
        "--scheduler",
        choices=scheduler_names(),
        help="batch scheduler (default: the one whose commands are on PATH)",
    )
    lab.add_argument("--queue", "-q", help="queue (default: the cluster's default queue)")
    lab.add_argument("--walltime", "-W", default="01:00", help="hh:mm (default 01:00)")
    lab.add_argument("--cores", "-n", type=int, default=1, help="job slots (default 1)")
    lab.add_argument("--memory", "-M", help="memory limit, e.g. 8GB (in the scheduler's units)")
    lab.add_argument("--port", type=int, default=8888, help="first port to try on the node")
    lab.add_argument(
        "--ip",
        default=NODE_ADDRESS,
        help="address JupyterLab binds on the node (default: the node's own address)",
    )
    lab.add_argument(
        "--login-host",
        default=os.environ.get(LOGIN_HOST_ENV) or socket.getfqdn(),
        help=f"host name for the ssh line (default: ${LOGIN_HOST_ENV} or this host's name)",
    )
    lab.add_argument(
        "--interactive",
        action="store_true",
        help="hold the job from this terminal (`bsub -Is`, `srun`, `qrsh`); it ends when this "
        "command ends",
    )
    lab.add_argument("--dry-run", action="store_true", help="show the job script, submit nothing")
    lab.add_argument(
        "--start-timeout",
        type=float,
        default=300.0,
        help="seconds JupyterLab may take to answer once the job runs (default 300)",
    )
    _add_state_dir(lab)
    lab.set_defaults(func=_guarded(run_lab))

    status = subparsers.add_parser("status", help="show the lab job: state, host, port, url")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    _add_state_dir(status)
    status.set_defaults(func=_guarded(lambda args: show_status(_state(args), args.json)))

    stopper = subparsers.add_parser("stop", help="kill the lab job and remove its record")
    _add_state_dir(stopper)
    stopper.set_defaults(func=_guarded(lambda args: stop(_state(args))))


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the lab job's record lives (default: $PANGEO_HPC_STATE_DIR or "
        "~/.local/share/pangeo-hpc/lab)",
    )


def _state(args: argparse.Namespace) -> LabState:
    return LabState((args.state_dir or default_state_dir()).resolve())


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A damaged record or a record of a scheduler this version lacks: a message, not a trace."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (StateError, UnknownScheduler) as exc:
            fail(str(exc))
            return 1

    return run


def options_from(args: argparse.Namespace) -> LabOptions:
    return lab_options(
        queue=args.queue,
        walltime=args.walltime,
        cores=args.cores,
        memory=args.memory,
        port=args.port,
        ip=args.ip,
        login_host=args.login_host,
        interactive=args.interactive,
        start_timeout_s=args.start_timeout,
    )


def run_lab(args: argparse.Namespace) -> int:
    try:
        options = options_from(args)
    except OptionError as exc:
        fail(str(exc))
        return EXIT_USAGE
    adapter = choose(args.scheduler)
    if options.interactive and adapter.interactive_unsupported:
        fail(adapter.interactive_unsupported)
        return EXIT_USAGE
    state = _state(args)
    if args.dry_run:
        return dry_run(adapter, options, state)
    needed = adapter.lab_commands + (adapter.interactive_commands if options.interactive else ())
    if missing := adapter.missing(needed):
        fail(adapter.no_commands_message(missing))
        return 1
    return LabRun(state, adapter, options).run()


def dry_run(adapter: LabScheduler, options: LabOptions, state: LabState) -> int:
    session = state.root / "session-<new>"
    say(f"# Job script (would be written to {session / 'job.sh'}):")
    say(job_script(adapter, options, session, session / "job.log"))
    if options.interactive:
        say("# Would run: " + shlex.join(adapter.interactive_argv(options, Path("<job.sh>"))))
    else:
        say(f"# Would run: {adapter.batch_submit_shown}")
    say("# The token is generated at submission and stored 0600 in the session directory.")
    return 0
