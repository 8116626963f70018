"""Where the emulator keeps its state, and the cluster it pretends to be (queues, hosts, limits)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

DEFAULT_HOME = Path.home() / ".local" / "share" / "pangeo-hpc" / "lsfsim"

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

UNIT_FACTORS_KB = {"KB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3, "PB": 1024**4, "EB": 1024**5}


def home() -> Path:
    value = os.environ.get("LSFSIM_HOME")
    return Path(value) if value else DEFAULT_HOME


def config_path(base: Path) -> Path:
    return base / "config.json"


def conf_dir(base: Path) -> Path:
    return base / "conf"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def ensure_config(base: Path) -> dict[str, Any]:
    """Load the config, creating it (and conf/lsf.conf) with defaults on first use."""
    path = config_path(base)
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        base.mkdir(parents=True, exist_ok=True)
        config = json.loads(json.dumps(DEFAULT_CONFIG))
        write_atomic(path, json.dumps(config, indent=2) + "\n")
    lsf_conf = conf_dir(base) / "lsf.conf"
    if not lsf_conf.exists():
        write_lsf_conf(base, config)
    return config


def write_lsf_conf(base: Path, config: dict[str, Any]) -> None:
    conf_dir(base).mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by the pangeo-hpc LSF emulator (lsfsim).",
        f"LSF_UNIT_FOR_LIMITS={config.get('unit_for_limits', 'MB')}",
        f"LSF_CLUSTER_NAME={config.get('cluster_name', 'lsfsim')}",
        f'LSF_MASTER_LIST="{config.get("master_host", "master01")}"',
    ]
    write_atomic(conf_dir(base) / "lsf.conf", "\n".join(lines) + "\n")


def unit_for_limits(base: Path, config: dict[str, Any]) -> str:
    """The unit of bare -M numbers: lsf.conf is authoritative (as for LSF), KB when unset."""
    try:
        with open(conf_dir(base) / "lsf.conf", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key.strip() == "LSF_UNIT_FOR_LIMITS":
                    unit = value.strip().strip("\"'").upper()
                    if unit in UNIT_FACTORS_KB:
                        return unit
    except FileNotFoundError:
        return str(config.get("unit_for_limits", "KB")).upper()
    return "KB"


def minute_seconds(config: dict[str, Any]) -> float:
    value = os.environ.get("LSFSIM_MINUTE_SECONDS")
    if value:
        return float(value)
    return float(config.get("minute_seconds", 60))


def submit_host() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


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
