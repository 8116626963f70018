"""Where the emulator keeps its state, and the cluster it pretends to be (queues, hosts, limits)."""

from __future__ import annotations

import json
import os

# typing costs every emulated command ~5 ms of start-up; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_HOME = os.path.join(os.path.expanduser("~"), ".local", "share", "pangeo-hpc", "lsfsim")

# Queue limits: RUNLIMIT in minutes, MEMLIMIT in MB (converted from LSF_UNIT_FOR_LIMITS when
# checking), PROCLIMIT = the most slots one job may ask for. None means unlimited ("-").
DEFAULT_CONFIG: dict[str, Any] = {
    "cluster_name": "lsfsim",
    "master_host": "master01",
    "lsf_version": "IBM Spectrum LSF Standard 10.1.0.13, Apr 15 2022",
    "unit_for_limits": "MB",
    "clean_period_s": 3600,
    # LSF spaces SIGINT, SIGTERM and SIGKILL by JOB_TERMINATE_INTERVAL (10-20 s); shorter here so
    # that killed jobs are gone quickly in tests and demos.
    "terminate_interval_s": 1.0,
    # Seconds per "minute" of -W and RUNLIMIT; a test knob (LSFSIM_MINUTE_SECONDS overrides it).
    "minute_seconds": 60,
    "hosts": {"node01": {"slots": 4}, "node02": {"slots": 4}},
    "queues": {
        "normal": {
            "priority": 30,
            "default": True,
            "description": "For normal low priority jobs.  This is the default queue.",
            "runlimit_min": 1440,
            "memlimit_mb": 65536,
            "proclimit": 16,
            "max_slots": None,
        },
        "interactive": {
            "priority": 40,
            "default": False,
            "description": "For interactive jobs (bsub -I, bsub -Is).",
            "runlimit_min": 720,
            "memlimit_mb": 32768,
            "proclimit": 8,
            "max_slots": None,
        },
        "bigmem": {
            "priority": 30,
            "default": False,
            "description": "For jobs that need a lot of memory.",
            "runlimit_min": 2880,
            "memlimit_mb": 262144,
            "proclimit": 16,
            "max_slots": None,
        },
    },
}

# The LSF the emulator speaks (LSFSIM_DIALECT in a command's environment, else config "dialect"):
# IBM LSF 10.1 (-o with -json), LSF 9.1 (-o, no -json), OpenLava/volclava (15 -o fields, -json).
DIALECTS = ("lsf10", "lsf9", "openlava")
BANNERS = {
    "lsf10": "IBM Spectrum LSF Standard 10.1.0.13, Apr 15 2022",
    "lsf9": "IBM Platform LSF Standard 9.1.3.0, Jul 04 2014",
    # volclava's _LS_VERSION_ ("volclava project 2.2, <date>\n"), printed with puts().
    "openlava": "volclava project 2.2, Jun 30 2026\n",
}


def dialect(config: dict[str, Any]) -> str:
    value = os.environ.get("LSFSIM_DIALECT") or config.get("dialect") or "lsf10"
    return value if value in DIALECTS else "lsf10"


UNIT_FACTORS_KB = {"KB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3, "PB": 1024**4, "EB": 1024**5}


def home() -> str:
    value = os.environ.get("LSFSIM_HOME")
    return value or DEFAULT_HOME


def config_path(base: str) -> str:
    return os.path.join(base, "config.json")


def conf_dir(base: str) -> str:
    return os.path.join(base, "conf")


def write_atomic(path: str, text: str) -> None:
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def ensure_config(base: str) -> dict[str, Any]:
    """Load the config, creating it (and conf/lsf.conf) with defaults on first use."""
    path = config_path(base)
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        os.makedirs(base, exist_ok=True)
        config = json.loads(json.dumps(DEFAULT_CONFIG))
        write_atomic(path, json.dumps(config, indent=2) + "\n")
    lsf_conf = os.path.join(conf_dir(base), "lsf.conf")
    try:
        stale = os.stat(lsf_conf).st_mtime_ns < os.stat(path).st_mtime_ns
    except FileNotFoundError:
        stale = True
    if stale:  # lsf.conf follows config.json (e.g. a changed unit_for_limits)
        write_lsf_conf(base, config)
    return config


def write_lsf_conf(base: str, config: dict[str, Any]) -> None:
    os.makedirs(conf_dir(base), exist_ok=True)
    lines = ["# Written by the pangeo-hpc LSF emulator (lsfsim)."]
    # "unit_for_limits": null leaves it out, as volclava's lsf.conf does: limits are then KB.
    if config.get("unit_for_limits", "MB") is not None:
        lines.append(f"LSF_UNIT_FOR_LIMITS={config.get('unit_for_limits', 'MB')}")
    lines += [
        f"LSF_CLUSTER_NAME={config.get('cluster_name', 'lsfsim')}",
        f'LSF_MASTER_LIST="{config.get("master_host", "master01")}"',
    ]
    write_atomic(os.path.join(conf_dir(base), "lsf.conf"), "\n".join(lines) + "\n")


def unit_for_limits(base: str, config: dict[str, Any]) -> str:
    """The unit of bare -M numbers: lsf.conf is authoritative (as for LSF); when it is unset,
    KB for IBM LSF but MB for volclava (recorded: `bsub -M 1024` shows MEMLIMIT `1048576 K`;
    its daemons start from `unitForLimits = Megabytes`)."""
    unset = "MB" if dialect(config) == "openlava" else "KB"
    try:
        with open(os.path.join(conf_dir(base), "lsf.conf"), encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key.strip() == "LSF_UNIT_FOR_LIMITS":
                    unit = value.strip().strip("\"'").upper()
                    if unit in UNIT_FACTORS_KB:
                        return unit
    except FileNotFoundError:
        return str(config.get("unit_for_limits") or unset).upper()
    return unset


def minute_seconds(config: dict[str, Any]) -> float:
    value = os.environ.get("LSFSIM_MINUTE_SECONDS")
    if value:
        return float(value)
    return float(config.get("minute_seconds", 60))


def submit_host() -> str:
    # os.uname, not socket: importing socket costs every command ~15 ms of start-up.
    return os.uname().nodename.split(".")[0] or "localhost"


def user_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "user")


def host_slots(config: dict[str, Any], total: int | None) -> dict[str, int]:
    """Slots per host; LSFSIM_SLOTS (total) is spread over the configured hosts in order."""
    hosts = list(config.get("hosts", {}).items())
    if total is None:
        return {name: int(spec.get("slots", 1)) for name, spec in hosts}
    count = max(len(hosts), 1)
    base, extra = divmod(max(total, 0), count)
    return {name: base + (1 if index < extra else 0) for index, (name, _) in enumerate(hosts)}
