"""Code that runs in kernels and in the dask schedulers they start: the scheduler preload that
registers notebook clusters, and `clusters()` / `connect(name)` for notebooks. Light on import."""

from __future__ import annotations

from .api import ClusterInfo, clusters, connect, find
from .registry import RegistryUnavailable

__all__ = ["ClusterInfo", "RegistryUnavailable", "clusters", "connect", "find"]
