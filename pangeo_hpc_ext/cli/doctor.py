"""`pangeo-hpc doctor`: a pass/fail table of what an HPC user's setup needs, each fail with its fix.

Checks what breaks the seed's recipe in practice: the scheduler's commands missing on PATH or its
queues (partitions) not answering, missing or down, memory requests in the wrong unit
(dask-jobqueue writes LSF's `-M` in lsf.conf's LSF_UNIT_FOR_LIMITS, Slurm's --mem in MiB, Grid
Engine's resources per slot), a profile naming a network interface (ib0) this host lacks, no
dask jobqueue config, the proxy or our extension not enabled, and Jupyter security weakened by
hand (allow_origin='*', ip='0.0.0.0'). The scheduler is --scheduler, else the one on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..errors import SchedulerCommandFailed
from ..schedulers import lsf
from ..schedulers.base import QueueInfo
from .lab.adapters import LabScheduler, choose, scheduler_names, sge, slurm

QUEUES_SHOWN = 8
EXTENSION_MODULE = "pangeo_hpc_ext"
LABEXTENSION_NAME = "pangeo-hpc-ext"
# Older jupyter-server-proxy releases have CVE-2024-28179 and CVE-2022-21697.
PROXY_MIN_VERSION = (4, 2)
OPEN_ADDRESSES = ("0.0.0.0", "::", "*")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check scheduler commands, lsf.conf units, interfaces and Jupyter setup",
        description="Print a pass/fail table of what pangeo-hpc needs; exit 1 on any fail.",
    )
    doctor.add_argument(
        "--scheduler",
        choices=scheduler_names(),
        help="batch scheduler to check (default: the one whose commands are on PATH)",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    checks = list(all_checks(choose(args.scheduler)))
    if args.json:
        print(json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}))
    else:
        print(render(checks))
    return 0 if all(check.ok for check in checks) else 1


def render(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks) + 2
    lines = [f"{'CHECK':<{width}}RESULT  DETAIL"]
    for check in checks:
        lines.append(f"{check.name:<{width}}{'PASS' if check.ok else 'FAIL':<8}{check.detail}")
        if not check.ok and check.fix:
            lines.append(f"{'':<{width}}{'':<8}fix: {check.fix}")
    failed = sum(not check.ok for check in checks)
    lines.append("")
    lines.append(f"{len(checks)} checks, {failed} failed." if failed else "All checks passed.")
    return "\n".join(lines)


def all_checks(scheduler: LabScheduler) -> Iterator[Check]:
    jupyter_config, config_error = _jupyter_server_config()
    # dask-jobqueue's config section has the scheduler's name (jobqueue.lsf, .slurm, .sge).
    section = scheduler.name
    checkers: list[Callable[[], Check | None]] = [
        lambda: check_scheduler_commands(scheduler),
        *(partial(check, scheduler) for check in SCHEDULER_CHECKS.get(scheduler.name, ())),
        lambda: check_queues(scheduler, section),
        lambda: check_interfaces(section, jupyter_config),
        lambda: check_jobqueue_config(section),
        check_server_proxy,
        lambda: check_generic_proxy(jupyter_config),
        check_our_extension,
        lambda: check_jupyter_security(jupyter_config, config_error),
    ]
    for checker in checkers:
        try:
            check = checker()
        except Exception as exc:  # a broken check is a fail to report, not a crash
            name = getattr(getattr(checker, "func", checker), "__name__", "check")
            check = Check(name, False, f"check crashed: {exc!r}")
        if check is not None:
            yield check


def check_scheduler_commands(scheduler: LabScheduler) -> Check:
    name = f"{scheduler.title} commands on PATH"
    commands = scheduler.doctor_commands
    missing = scheduler.missing(commands)
    if missing:
        return Check(
            name,
            False,
            f"missing: {' '.join(missing)}",
            f"{scheduler.load_hint} and run this on a login node of the cluster",
        )
    where = sorted({str(Path(shutil.which(command) or "").parent) for command in commands})
    return Check(name, True, f"{' '.join(commands)} in {', '.join(where)}")


def check_queues(scheduler: LabScheduler, section: str) -> Check | None:
    if scheduler.missing(scheduler.doctor_commands):
        return None  # reported above
    name = f"{scheduler.title} {scheduler.queues_word}"
    try:
        queues = scheduler.queues()
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), _ask_admins(scheduler.title))
    if not queues:
        listed = f"no {scheduler.queues_word} listed"
        return Check(name, False, listed, _ask_admins(scheduler.title))
    shown = [_queue_label(queue) for queue in queues]
    more = f" and {len(shown) - QUEUES_SHOWN} more" if len(shown) > QUEUES_SHOWN else ""
    listing = ", ".join(shown[:QUEUES_SHOWN]) + more
    configured = _dask_config(f"jobqueue.{section}.queue")
    by_name = {queue.name: queue for queue in queues}
    if configured and str(configured) not in by_name:
        return Check(
            name,
            False,
            f"jobqueue.{section}.queue {configured!r} is not one of them: {listing}",
            f"set jobqueue.{section}.queue to one of the {scheduler.queues_word} listed "
            f"(`{scheduler.queues_listed_by}` shows them)",
        )
    target = by_name.get(str(configured)) if configured else _default_queue(queues)
    if target is not None and not _accepts_jobs(target):
        where = f"jobqueue.{section}.queue" if configured else "the default"
        return Check(
            name,
            False,
            f"{scheduler.queue_word} {target.name} ({where}) is {target.extra['available']}: "
            f"jobs there wait until an admin brings it up; {listing}",
            f"pick another {scheduler.queue_word} (jobqueue.{section}.queue, `pangeo-hpc lab "
            "--queue`) or ask your HPC admins",
        )
    return Check(name, True, listing)


def _default_queue(queues: list[QueueInfo]) -> QueueInfo | None:
    return next((queue for queue in queues if queue.default), None)


def _accepts_jobs(queue: QueueInfo) -> bool:
    # Slurm's sinfo says up, down, drain or inact; other schedulers' listings say nothing here.
    return queue.extra.get("available", "up") == "up"


def _queue_label(queue: QueueInfo) -> str:
    notes = ["default"] if queue.default else []
    if not _accepts_jobs(queue):
        notes.append(str(queue.extra["available"]))
    return queue.name + (f" ({', '.join(notes)})" if notes else "")


def check_lsf_answers() -> Check | None:
    if lsf.missing_commands(("lsid",)):
        return None
    try:
        proc = subprocess.run(["lsid"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return Check("LSF answers (lsid)", False, "lsid did not answer in 30 s", _ask_admins("LSF"))
    first = next((line for line in proc.stdout.splitlines() if "cluster name" in line), "")
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).strip().splitlines()
        return Check(
            "LSF answers (lsid)",
            False,
            f"lsid exit {proc.returncode}: {text[-1:]}",
            _ask_admins("LSF"),
        )
    return Check("LSF answers (lsid)", True, first.strip() or "lsid answered")


def _ask_admins(title: str) -> str:
    return f"{title}'s daemons do not answer from this host; ask your HPC admins"


def check_lsf_units() -> Check:
    name = "lsf.conf units vs memory"
    conf = lsf.lsf_conf_path()
    jq_units = _dask_config("jobqueue.lsf.lsf-units")
    memory = _dask_config("jobqueue.lsf.memory")
    if conf is None:
        return Check(
            name,
            False,
            "no lsf.conf: LSF_ENVDIR is unset and /etc/lsf.conf is missing, so dask-jobqueue "
            "writes -M in KB whatever the cluster uses",
            "export LSF_ENVDIR=<directory holding lsf.conf> (`source <LSF_TOP>/conf/profile.lsf` "
            "sets it)",
        )
    unit = lsf.unit_for_limits(conf)
    effective = unit or "KB"
    shown = f"LSF_UNIT_FOR_LIMITS={unit}" if unit else "LSF_UNIT_FOR_LIMITS unset (KB)"
    if jq_units and str(jq_units).upper()[0] != effective[0]:
        return Check(
            name,
            False,
            f"{conf} has {shown} but dask config jobqueue.lsf.lsf-units is {jq_units!r}: "
            "memory requests would be off by a factor of 1024 or more",
            f"set jobqueue.lsf.lsf-units to {effective} (or remove it) in your dask config",
        )
    detail = f"{shown} in {conf}"
    if memory:
        from dask.utils import parse_bytes

        limit = lsf.memory_in_units(parse_bytes(str(memory)), effective)
        detail += f"; memory {memory!r} is requested as -M {limit} ({effective})"
    return Check(name, True, detail)


def check_slurm_memory(scheduler: LabScheduler) -> Check:
    """dask-jobqueue writes `--mem` from jobqueue.slurm.memory (or job-mem as given): a job-mem
    sbatch cannot read, below what dask lets workers use, or above a node's memory breaks
    every worker."""
    name = "Slurm memory units"
    memory = _dask_config("jobqueue.slurm.memory")
    job_mem = _dask_config("jobqueue.slurm.job-mem")
    if job_mem is not None:
        requested = str(job_mem)
        mib = slurm.sbatch_mem_mib(requested)
        if mib is None:
            return Check(
                name,
                False,
                f"jobqueue.slurm.job-mem {requested!r}: sbatch reads --mem as a whole number "
                "with an optional K, M, G or T (MiB when none) and refuses this",
                "set jobqueue.slurm.job-mem to e.g. 20G, or remove it (memory is then used)",
            )
        if memory and mib * slurm.MIB < _bytes(memory):
            return Check(
                name,
                False,
                f"jobqueue.slurm.job-mem {requested!r} ({mib} MiB) is below memory {memory!r}: "
                "Slurm kills workers before dask's memory limit stops them",
                "remove jobqueue.slurm.job-mem or raise it to at least memory",
            )
    elif memory:
        from dask_jobqueue.slurm import slurm_format_bytes_ceil

        requested = slurm_format_bytes_ceil(_bytes(memory))
        mib = slurm.sbatch_mem_mib(requested) or 0
    else:
        return Check(
            name,
            True,
            "no jobqueue.slurm.memory set; `pangeo-hpc lab --memory 8GB` asks --mem=7630M "
            "(Slurm's M and G are MiB and GiB)",
        )
    source = f"job-mem {requested!r}" if job_mem is not None else f"memory {memory!r}"
    detail = f"{source} is requested as --mem={requested} ({mib} MiB; Slurm's M and G are MiB/GiB)"
    partition = _slurm_partition(scheduler)
    node_mb = partition.extra.get("memory_mb_per_node") if partition else None
    if partition is not None and node_mb:
        if mib > node_mb:
            return Check(
                name,
                False,
                f"{detail}, more than the {node_mb} MB of the largest node of partition "
                f"{partition.name}: sbatch refuses such jobs",
                f"lower jobqueue.slurm.memory to at most {node_mb}MiB or use another partition",
            )
        detail += f"; nodes of partition {partition.name} have up to {node_mb} MB"
    return Check(name, True, detail)


def _slurm_partition(scheduler: LabScheduler) -> QueueInfo | None:
    """The partition jobs go to (jobqueue.slurm.queue, else the default), when sinfo answers."""
    if scheduler.missing(scheduler.doctor_commands):
        return None
    try:
        partitions = scheduler.queues()
    except SchedulerCommandFailed:
        return None  # the partitions check reports it
    configured = _dask_config("jobqueue.slurm.queue")
    if configured:
        return next((p for p in partitions if p.name == str(configured)), None)
    return _default_queue(partitions)


def _bytes(text: Any) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(str(text)))


def check_sge_cell(scheduler: LabScheduler) -> Check | None:
    """Grid Engine's commands find their qmaster through $SGE_ROOT/$SGE_CELL/common, unless a
    wrapper (Debian's) supplies defaults."""
    if scheduler.missing(("qconf",)):
        return None  # the commands check says so
    name = "Grid Engine cell"
    root, cell = os.environ.get("SGE_ROOT"), os.environ.get("SGE_CELL") or "default"
    fix = "source $SGE_ROOT/$SGE_CELL/common/settings.sh (or `module load sge`) first"
    if not root:
        try:
            _qconf("-sql")
        except SchedulerCommandFailed as exc:
            return Check(name, False, f"SGE_ROOT is not set and {exc}", fix)
        return Check(name, True, "SGE_ROOT is not set; the commands find their cell themselves")
    act_qmaster = Path(root) / cell / "common" / "act_qmaster"
    try:
        qmaster = act_qmaster.read_text().strip()
    except OSError as exc:
        return Check(name, False, f"SGE_CELL={cell} is not a cell of {root}: {exc}", fix)
    return Check(name, True, f"SGE_ROOT={root} SGE_CELL={cell}, qmaster {qmaster}")


def _qconf(*args: str) -> str:
    """qconf's answer; SchedulerCommandFailed when it has none."""
    argv = ["qconf", *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchedulerCommandFailed("qconf", None, str(exc)) from None
    if proc.returncode != 0:
        raise SchedulerCommandFailed("qconf", proc.returncode, proc.stderr or proc.stdout)
    return proc.stdout


def check_sge_memory(scheduler: LabScheduler) -> Check | None:
    """dask-jobqueue passes jobqueue.sge.resource-spec to `-l` as written: a memory value qsub
    cannot read, a resource the cluster lacks, or less than dask's memory per job breaks every
    worker. Grid Engine's K/M/G are 1024-based, k/m/g 1000-based, and the value is per slot."""
    if scheduler.missing(("qconf",)):
        return None  # the commands check says so
    name = "Grid Engine memory units"
    try:
        complexes = sge.parse_complexes(_qconf("-sc"))
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), _ask_admins(scheduler.title))
    lab_memory = complexes.get(sge.MEMORY_RESOURCE)
    if lab_memory is None or not lab_memory.requestable:
        return Check(
            name,
            False,
            f"{sge.MEMORY_RESOURCE} is not a requestable resource here (`qconf -sc`), so "
            "`pangeo-hpc lab --memory` cannot ask for memory",
            "leave --memory out (the queue's defaults apply) or ask your HPC admins which "
            "memory resource to request",
        )
    spec = _dask_config("jobqueue.sge.resource-spec")
    memory = _dask_config("jobqueue.sge.memory")
    slots = int(_dask_config("jobqueue.sge.cores") or 1)
    units = "K/M/G are 1024-based, k/m/g 1000-based, per slot"
    if not spec:
        return Check(
            name,
            True,
            f"no jobqueue.sge.resource-spec: jobs ask for no memory; `pangeo-hpc lab --memory` "
            f"asks {sge.MEMORY_RESOURCE} per slot ({units})",
        )
    granted = None
    for resource, value in sge.resource_items(str(spec)):
        known = complexes.get(resource)
        if known is None or not known.requestable:
            return Check(
                name,
                False,
                f"jobqueue.sge.resource-spec {spec!r}: {resource!r} is not a resource jobs may "
                "ask for here; qsub refuses the job",
                "`qconf -sc` lists them (REQUESTABLE YES); fix jobqueue.sge.resource-spec",
            )
        if known.type != "MEMORY":
            continue
        per_slot = sge.memory_value_bytes(value)
        if per_slot is None:
            return Check(
                name,
                False,
                f"jobqueue.sge.resource-spec {spec!r}: {value!r} is not a memory value qsub "
                f"reads ({units}; no B: 4G, not 4GB)",
                f"write it as e.g. {resource}=4G in jobqueue.sge.resource-spec",
            )
        granted = per_slot * slots
    detail = f"resource-spec {spec!r}"
    if granted is not None and memory:
        detail += f" grants {granted / 2**30:.2f} GiB over {slots} slot(s) for memory {memory!r}"
        if granted < _bytes(memory):
            return Check(
                name,
                False,
                f"{detail}: less than dask lets the workers use, so Grid Engine kills them "
                f"first ({units})",
                "raise the value in jobqueue.sge.resource-spec to memory divided by cores",
            )
    return Check(name, True, f"{detail} ({units})")


def check_sge_parallel_environment(scheduler: LabScheduler) -> Check | None:
    """Several cores on one host are granted through a parallel environment (-pe smp N)."""
    if scheduler.missing(("qconf",)):
        return None
    name = "Grid Engine parallel environment"
    try:
        environments = _qconf("-spl").split()
    except SchedulerCommandFailed as exc:
        return Check(name, False, str(exc), _ask_admins(scheduler.title))
    wanted = sge.PARALLEL_ENVIRONMENT
    listed = ", ".join(environments) or "none"
    if wanted in environments:
        return Check(name, True, f"{wanted} (jobs with several cores ask -pe {wanted} N)")
    cores = int(_dask_config("jobqueue.sge.cores") or 1)
    detail = f"no {wanted} parallel environment (there are: {listed})"
    if cores > 1:
        return Check(
            name,
            False,
            f"jobqueue.sge.cores is {cores} but {detail}",
            f"ask your HPC admins for a parallel environment with allocation_rule $pe_slots "
            f"named {wanted}, or use cores: 1",
        )
    return Check(name, True, f"{detail}: fine for 1-core jobs; `pangeo-hpc lab --cores 1`")


# Checks only one scheduler has, run after its commands check, given the scheduler's adapter.
SCHEDULER_CHECKS: dict[str, tuple[Callable[[LabScheduler], Check | None], ...]] = {
    "lsf": (lambda _: check_lsf_answers(), lambda _: check_lsf_units()),
    "slurm": (check_slurm_memory,),
    "sge": (check_sge_cell, check_sge_memory, check_sge_parallel_environment),
}


def check_interfaces(section: str, jupyter_config: dict[str, Any]) -> Check:
    import psutil

    named = _named_interfaces(section, jupyter_config)
    present = sorted(psutil.net_if_addrs())
    if not named:
        return Check(
            "network interface", True, "no profile names one (dask picks the default route)"
        )
    missing = {where: iface for where, iface in named.items() if iface not in present}
    if missing:
        listing = ", ".join(f"{iface!r} ({where})" for where, iface in missing.items())
        return Check(
            "network interface",
            False,
            f"{listing} not on this host; it has {', '.join(present)}",
            "name an interface the nodes have (compute nodes may differ from this host: run "
            "`pangeo-hpc doctor` inside a job to see theirs), e.g. set "
            f"jobqueue.{section}.interface",
        )
    names = ", ".join(f"{iface} ({where})" for where, iface in named.items())
    return Check("network interface", True, f"{names} present")


def _named_interfaces(section: str, jupyter_config: dict[str, Any]) -> dict[str, str]:
    named: dict[str, str] = {}
    worker = _dask_config(f"jobqueue.{section}.interface")
    if worker:
        named[f"jobqueue.{section}.interface"] = str(worker)
    scheduler = (_dask_config(f"jobqueue.{section}.scheduler-options") or {}).get("interface")
    if scheduler:
        named[f"jobqueue.{section}.scheduler-options"] = str(scheduler)
    profiles = jupyter_config.get("PangeoHPC", {}).get("profiles", {}) or {}
    for profile, spec in profiles.items():
        iface = (spec or {}).get("defaults", {}).get("interface")
        if iface:
            named[f"profile {profile}"] = str(iface)
    return named


def check_jobqueue_config(section: str) -> Check:
    import dask.config

    name = "dask jobqueue config"
    files = [
        path
        for directory in dask.config.paths
        for path in _yaml_files(Path(directory))
        if "jobqueue" in (_load_yaml(path) or {})
    ]
    cores = _dask_config(f"jobqueue.{section}.cores")
    memory = _dask_config(f"jobqueue.{section}.memory")
    example = (
        f"write ~/.config/dask/jobqueue.yaml with `jobqueue: {{{section}: {{cores: 8, "
        "memory: 20GB, queue: general, walltime: '01:00', interface: ib0}}`"
    )
    # DASK_JOBQUEUE__LSF__* environment variables count as much as YAML files.
    source = ", ".join(map(str, files)) or "the environment"
    if cores is None or memory is None:
        if not files:
            where = ", ".join(dask.config.paths)
            return Check(name, False, f"no jobqueue section in {where}", example)
        unset = " and ".join(k for k, v in (("cores", cores), ("memory", memory)) if v is None)
        return Check(name, False, f"jobqueue.{section} {unset} not set ({source})", example)
    return Check(name, True, f"{section}: cores={cores} memory={memory} from {source}")


def _yaml_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def _load_yaml(path: Path) -> dict | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _dask_config(key: str) -> Any:
    import dask.config

    # dask-jobqueue's defaults leave cores/memory None; importing it registers them.
    import dask_jobqueue  # noqa: F401

    return dask.config.get(key, default=None)


def _enabled_server_extensions() -> dict[str, bool]:
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    return manager.get_jpserver_extensions()


def check_server_proxy() -> Check:
    name = "jupyter-server-proxy"
    if find_spec("jupyter_server_proxy") is None:
        return Check(name, False, "not installed", "pip install 'jupyter-server-proxy>=4.2'")
    version = metadata.version("jupyter-server-proxy")
    if _version_tuple(version) < PROXY_MIN_VERSION:
        return Check(
            name,
            False,
            f"{version} has known vulnerabilities (CVE-2024-28179, CVE-2022-21697)",
            "pip install -U 'jupyter-server-proxy>=4.2'",
        )
    if not _enabled_server_extensions().get("jupyter_server_proxy"):
        return Check(
            name,
            False,
            f"{version} installed but not enabled as a server extension",
            "jupyter server extension enable --user jupyter_server_proxy",
        )
    return Check(name, True, f"{version}, enabled")


def check_generic_proxy(config: dict[str, Any]) -> Check:
    """Which is in force: jupyter-server-proxy's /proxy/<port> closed (our default) or opened."""
    name = "generic /proxy/<port> route"
    enabled = _enabled_server_extensions()
    if find_spec("jupyter_server_proxy") is None or not enabled.get("jupyter_server_proxy"):
        return Check(name, True, "absent: jupyter-server-proxy is not enabled")
    if not enabled.get(EXTENSION_MODULE):
        return Check(
            name,
            False,
            "open: it forwards your Jupyter credentials to any local port, and pangeo-hpc-ext "
            "(which closes it) is not enabled",
            f"jupyter server extension enable --user {EXTENSION_MODULE}",
        )
    if config.get("PangeoHPC", {}).get("allow_generic_proxy") is True:
        return Check(
            name,
            True,
            "open by choice (c.PangeoHPC.allow_generic_proxy = True): any local port is reachable "
            "through Jupyter with your credentials",
        )
    return Check(name, True, "closed (default; c.PangeoHPC.allow_generic_proxy = True opens it)")


def check_our_extension() -> Check:
    from jupyter_core.paths import jupyter_path

    name = "pangeo-hpc-ext extension"
    problems: list[str] = []
    fixes: list[str] = []
    if not _enabled_server_extensions().get(EXTENSION_MODULE):
        problems.append("server extension not enabled")
        fixes.append(f"jupyter server extension enable --user {EXTENSION_MODULE}")
    found = [
        Path(root) / LABEXTENSION_NAME
        for root in jupyter_path("labextensions")
        if (Path(root) / LABEXTENSION_NAME / "package.json").is_file()
    ]
    if not found:
        problems.append("labextension not installed")
        fixes.append("pip install --force-reinstall pangeo-hpc-ext (the wheel ships it)")
    if problems:
        return Check(name, False, "; ".join(problems), "; ".join(fixes))
    return Check(name, True, f"server extension enabled; labextension in {found[0]}")


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _jupyter_server_config() -> tuple[dict[str, Any], str]:
    """The user's merged jupyter_server config (lowest priority first), and any load error."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    merged = Config()
    errors = []
    for directory in reversed(jupyter_config_path()):
        for filename, loader_class in (
            ("jupyter_server_config.json", JSONFileConfigLoader),
            ("jupyter_server_config.py", PyFileConfigLoader),
        ):
            if not (Path(directory) / filename).is_file():
                continue
            try:
                merged.merge(loader_class(filename, path=directory).load_config())
            except Exception as exc:  # the user's config file is theirs; report, don't crash
                errors.append(f"{Path(directory) / filename}: {exc}")
    return merged, "; ".join(errors)


def check_jupyter_security(config: dict[str, Any], load_error: str) -> Check:
    name = "Jupyter security settings"
    if load_error:
        return Check(name, False, f"cannot read Jupyter config: {load_error}", "fix that file")
    weakened = []
    for section in ("ServerApp", "NotebookApp"):
        settings = config.get(section, {})
        if settings.get("allow_origin") == "*":
            weakened.append(f"{section}.allow_origin='*'")
        if settings.get("ip") in OPEN_ADDRESSES:
            weakened.append(f"{section}.ip={settings.get('ip')!r}")
        if settings.get("token") == "" or settings.get("disable_check_xsrf"):
            weakened.append(f"{section} token/xsrf protection off")
    identity = config.get("IdentityProvider", {})
    if identity.get("token") == "":
        weakened.append("IdentityProvider.token=''")
    if weakened:
        return Check(
            name,
            False,
            ", ".join(weakened),
            "remove these lines from your jupyter_server_config: `pangeo-hpc lab` keeps the "
            "token and binds the node's own address; the ssh tunnel makes them unnecessary",
        )
    return Check(name, True, "token auth on, no allow_origin='*', no ip='0.0.0.0'")
