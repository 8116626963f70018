"""The registry of schedulers started in notebooks: files in one private directory per server.

The server makes the directory (0700) and names it to its kernels in PANGEO_HPC_REGISTRY. A
scheduler started in one of those kernels writes `<id>.json` there (its address, dashboard port,
pid, workers and jobs) and removes it at close; JupyterLab asks it to close by writing
`<id>.close`. The server writes `clusters.json` there: every cluster this user can connect to,
with TLS credentials, for `pangeo_hpc_ext.kernel.connect`. Nothing here needs a Jupyter token:
only this user's processes can read or write the directory, which each side checks before use.

Both sides import this module: it stays light (no dask, no jupyter).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

REGISTRY_VAR = "PANGEO_HPC_REGISTRY"
CATALOG_FILE = "clusters.json"
ENTRY_SUFFIX = ".json"
CLOSE_SUFFIX = ".close"
FORMAT_VERSION = 1
ENTRY_ID = re.compile(r"nb-[0-9a-f]{16}\Z", re.ASCII)


class RegistryUnavailable(RuntimeError):
    """The registry directory is missing or not private to this user."""


def new_entry_id() -> str:
    return "nb-" + secrets.token_hex(8)


def private_directory_problem(path: Path) -> str | None:
    """Why `path` must not be trusted as this user's registry, or None when it can be."""
    try:
        info = os.lstat(path)
    except OSError as error:
        return f"{path}: {error.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.geteuid():
        return f"{path} belongs to uid {info.st_uid}, not to this user"
    if info.st_mode & 0o077:
        return f"{path} has mode {stat.S_IMODE(info.st_mode):o}; only its owner may use it"
    return None


def registry_directory(environ: dict[str, str] | None = None) -> Path:
    """The registry named by this process's environment, checked private; RegistryUnavailable
    otherwise, saying why."""
    value = (os.environ if environ is None else environ).get(REGISTRY_VAR)
    if not value:
        raise RegistryUnavailable(
            f"{REGISTRY_VAR} is not set: this process was not started by a Jupyter server "
            "with pangeo-hpc-ext (or its notebook_clusters setting is off)"
        )
    path = Path(value)
    problem = private_directory_problem(path)
    if problem is not None:
        raise RegistryUnavailable(problem)
    return path


def entry_path(directory: Path, entry_id: str) -> Path:
    return directory / f"{entry_id}{ENTRY_SUFFIX}"


def close_request_path(directory: Path, entry_id: str) -> Path:
    return directory / f"{entry_id}{CLOSE_SUFFIX}"


def client_credentials(cluster: Any) -> dict[str, str | None] | None:
    """What a Client needs to reach a TLS scheduler: file paths or PEM text, as dask's Security
    holds them (Security.temporary() keeps PEM text in memory)."""
    security = getattr(cluster, "security", None)
    if security is None or not getattr(security, "tls_ca_file", None):
        return None
    return {
        "ca_file": security.tls_ca_file,
        "cert": security.tls_client_cert,
        "key": security.tls_client_key,
    }


def read_json(path: Path) -> Any:
    """A file's JSON, or None when it is gone or not JSON (files are replaced, never edited)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
