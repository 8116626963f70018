"""The user's dask settings as the doctor reads them."""

from __future__ import annotations

from typing import Any


def dask_config(key: str) -> Any:
    import dask.config

    # dask-jobqueue's defaults leave cores/memory None; importing it registers them.
    import dask_jobqueue  # noqa: F401

    return dask.config.get(key, default=None)
