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

# Fixtures shared by test modules: kernels driven like notebooks, raw requests, a canary port,
# real OpenPBS's commands on PATH.
pytest_plugins = [
    "pytest_jupyter.jupyter_server",
    "tests.support.kernel",
    "tests.support.dashboard",
    "tests.support.pbs",
]

# Generous bounds: CI runs on 2 cores; waits return as soon as the state is reached.
WAIT_TIMEOUT_S = 90.0

# Suites that share one real scheduler run one after another, in one xdist group (`pytest -n N
# --dist loadgroup`): they fill its few slots and read its queue. Everything else (unit tests, the
# LSF emulator, local clusters: each test with its own state) spreads over the workers.
REAL_SCHEDULER_OF_MODULE = {
    "test_slurm_cluster.py": "slurm",
    "test_slurm_client_live.py": "slurm",
    "test_lab_slurm.py": "slurm",
    "test_jupyterhub.py": "slurm",
    "test_sge_cluster.py": "sge",
    "test_sge_jobs.py": "sge",
    "test_lab_sge.py": "sge",
    "test_lsf_real.py": "volclava",
    "test_lab_volclava.py": "volclava",
    "test_pbs_cluster.py": "pbs",
    "test_lab_pbs.py": "pbs",
}
# Modules with one row per scheduler: each row joins its scheduler's group.
MODULES_WITH_A_ROW_PER_SCHEDULER = ("test_crash_real_schedulers.py", "test_lab_schedulers.py")
REAL_SCHEDULER_OF_ROW = {"slurm": "slurm", "sge": "sge", "lsf": "volclava", "pbs": "pbs"}


def real_scheduler_group(item: pytest.Item) -> str | None:
    if item.path.name not in MODULES_WITH_A_ROW_PER_SCHEDULER:
        return REAL_SCHEDULER_OF_MODULE.get(item.path.name)
    rows = getattr(getattr(item, "callspec", None), "params", {}).values()
    groups = {REAL_SCHEDULER_OF_ROW.get(getattr(row, "name", None)) for row in rows} - {None}
    return groups.pop() if len(groups) == 1 else None


# Before xdist's own hook, which reads the groups into the node ids.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = real_scheduler_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def pangeo_config(tmp_path: Path) -> dict[str, Any]:
    """Extra `PangeoHPC` traitlets; tests override this fixture to change them."""
    return {}


@pytest.fixture(autouse=True)
def jp_server_cleanup(lsf_env: Any, jp_server_cleanup: None) -> None:
    """pytest-jupyter's own cleanup stops the server; depending on lsf_env first keeps the emulator
    on PATH until the server has stopped and killed its jobs."""


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

    async def call(
        self,
        method: str,
        *path: str,
        body: Any = None,
        raw: bytes | None = None,
        request_timeout: float | None = None,
    ) -> tuple[int, Any]:
        # Above tornado's 20 s: a DELETE answers once the scheduler confirms its jobs ended,
        # which takes longer than that on a loaded machine.
        kwargs: dict[str, Any] = {"method": method, "request_timeout": request_timeout or 90.0}
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

    async def clusters(self) -> list[dict[str, Any]]:
        code, body = await self.call("GET", "clusters")
        assert code == 200, body
        return body["clusters"]

    async def wait_for(
        self,
        cluster_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = WAIT_TIMEOUT_S,
    ) -> dict[str, Any]:
        return await self._poll(
            lambda: self.cluster(cluster_id), lambda c: c if predicate(c) else None, what, timeout
        )

    async def wait_for_listing(
        self,
        find: Callable[[list[dict[str, Any]]], Any],
        what: str,
        timeout: float = WAIT_TIMEOUT_S,
    ) -> Any:
        """Until `find(clusters)` answers something truthy; that answer."""
        return await self._poll(self.clusters, find, what, timeout)

    @staticmethod
    async def _poll(
        read: Callable[[], Awaitable[Any]],
        find: Callable[[Any], Any],
        what: str,
        timeout: float,
    ) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = await read()
            found = find(last)
            if found:
                return found
            await asyncio.sleep(0.2)
        shown = json.dumps(last)[:2000]
        pytest.fail(f"within {timeout:.0f} s: {what} did not happen; last state: {shown}")


@pytest.fixture
def started_server(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Any:
    """The server after its extensions' start hooks ran: pytest-jupyter never starts the IO loop,
    where a real server awaits them (`ServerApp._post_start`)."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return jp_serverapp


@pytest.fixture
def api(started_server: Any, jp_fetch: Callable[..., Awaitable[Any]]) -> Api:
    return Api(jp_fetch)


@pytest.fixture
def lsf_knobs() -> dict[str, Any]:
    """Emulator knobs (slots, submit_delay, submit_fail, ...); tests override this fixture."""
    return {}


@pytest.fixture
def lsf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lsf_knobs: dict[str, Any]):
    """The LSF emulator on PATH of this process, so that the in-process server's bsub, bjobs and
    bkill are the emulator's, as a real cluster's would be. Kills every job at the end."""
    from tests.support.lsfsim import LsfSim

    sim = LsfSim(tmp_path, **lsf_knobs)
    for key in ("PATH", "LSFSIM_HOME", "LSF_ENVDIR"):
        monkeypatch.setenv(key, sim.env[key])
    for key, value in sim.env.items():
        if key.startswith("LSFSIM_"):
            monkeypatch.setenv(key, value)
    yield sim
    sim.cleanup()
