"""Dask config defaults of packages the server reads settings of but never runs.

Importing `distributed` or `dask_jobqueue` registers their defaults, and costs the server most of
a second at start although its clusters run in supervisor processes. Their YAML files are read
instead, without importing them."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import dask.config
import yaml


@functools.cache
def register(package: str, filename: str) -> None:
    """Add `package`'s own defaults file to dask's defaults (once; nothing when not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return
    defaults = yaml.safe_load(Path(spec.origin).with_name(filename).read_text())
    dask.config.update_defaults(defaults)


def register_jobqueue() -> None:
    register("dask_jobqueue", "jobqueue.yaml")


def register_distributed() -> None:
    register("distributed", "distributed.yaml")
