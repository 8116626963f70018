"""pangeo-hpc-ext: Dask clusters on HPC batch schedulers from JupyterLab."""

from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "pangeo-hpc-ext"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .server.app import PangeoHPC

    return [{"module": "pangeo_hpc_ext", "app": PangeoHPC}]
