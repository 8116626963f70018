"""Checks of the Jupyter side: interfaces, dask jobqueue config, the proxies, our extension and
Jupyter's own security settings."""

from __future__ import annotations

from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .dask_settings import dask_config
from .report import Check

EXTENSION_MODULE = "pangeo_hpc_ext"
LABEXTENSION_NAME = "pangeo-hpc-ext"
# Older jupyter-server-proxy releases have CVE-2024-28179 and CVE-2022-21697.
PROXY_MIN_VERSION = (4, 2)
OPEN_ADDRESSES = ("0.0.0.0", "::", "*")


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
    worker = dask_config(f"jobqueue.{section}.interface")
    if worker:
        named[f"jobqueue.{section}.interface"] = str(worker)
    scheduler = (dask_config(f"jobqueue.{section}.scheduler-options") or {}).get("interface")
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
    cores = dask_config(f"jobqueue.{section}.cores")
    memory = dask_config(f"jobqueue.{section}.memory")
    example = (
        f"write ~/.config/dask/jobqueue.yaml with `jobqueue: {{{section}: {{cores: 8, "
        "memory: 20GB, queue: general, walltime: '01:00', interface: ib0}}`"
    )
    # DASK_JOBQUEUE__LSF__* environment variables count as much as YAML files.
    source = ", ".join(map(str, files)) or "the environment"
    # Nothing needs the file: profiles and the form carry cores and memory. It only gives a
    # user's own notebooks (and the form's defaults) their values.
    if cores is None or memory is None:
        if not files:
            where = ", ".join(dask.config.paths)
            return Check(name, True, f"no jobqueue section in {where}", example, advice=True)
        unset = " and ".join(k for k, v in (("cores", cores), ("memory", memory)) if v is None)
        detail = f"jobqueue.{section} {unset} not set ({source})"
        return Check(name, True, detail, example, advice=True)
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
