"""Fixtures: a real Jupyter server with the extension, and helpers that wait for states."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# Generous bounds: CI runs on 2 cores; waits return as soon as the state is reached.
WAIT_TIMEOUT_S = 90.0


@pytest.fixture
def pangeo_config(tmp_path: Path) -> dict[str, Any]:
    """Extra `PangeoHPC` traitlets; tests override this fixture to change them."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path: Path, pangeo_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"pangeo_hpc_ext": True}},
        "PangeoHPC": {
            "state_dir": str(tmp_path / "pangeo-state"),
            "job_poll_interval": 0.25,
            **pangeo_config,
        },
    }


class Api:
    """The REST API as a client sees it; errors come back as (status, body), never raise."""

    def __init__(self, fetch: Callable[..., Awaitable[Any]]) -> None:
        self._fetch = fetch

    async def call(self, method: str, *path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method}
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PATCH"):
            kwargs["body"] = b""
        try:
            response = await self._fetch("pangeo-hpc", "api", *path, **kwargs)
        except HTTPClientError as error:
            response = error.response
            assert response is not None, f"{method} {path}: no response ({error})"
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text else None)

    async def cluster(self, cluster_id: str) -> dict[str, Any]:
        code, body = await self.call("GET", "clusters", cluster_id)
        assert code == 200, body
        return body

    async def wait_for(
        self, cluster_id: str, predicate: Callable[[dict[str, Any]], bool], what: str,
        timeout: float = WAIT_TIMEOUT_S,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        cluster: dict[str, Any] = {}
        while time.monotonic() < deadline:
            cluster = await self.cluster(cluster_id)
            if predicate(cluster):
                return cluster
            await asyncio.sleep(0.2)
        pytest.fail(f"within {timeout:.0f} s: {what} did not happen; last state: {json.dumps(cluster)[:2000]}")


@pytest.fixture
def api(jp_fetch: Callable[..., Awaitable[Any]]) -> Api:
    return Api(jp_fetch)
