"""Lifecycle of a `local` cluster through the REST API: real scheduler, real worker processes."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.support.dask_client import cluster_client


def connected(n: int):
    return lambda c: c["workers"]["connected"] == n and c["status"] == "running"


async def test_local_cluster_lifecycle(api: Api) -> None:
    code, cluster = await api.call(
        "POST",
        "clusters",
        body={
            "profile": "local",
            "workers": 2,
            "options": {"threads_per_worker": 2, "memory_limit": "1GB"},
            "name": "seed-local",
        },
    )
    assert code == 201, cluster
    assert cluster["name"] == "seed-local"
    assert cluster["status"] == "starting"
    cid = cluster["id"]

    cluster = await api.wait_for(cid, connected(2), "2 local workers connecting")
    assert cluster["cores"] == 4
    assert cluster["memory"] == 2 * 10**9
    assert cluster["scheduler_address"].startswith("tls://127.0.0.1:")
    assert cluster["dashboard_url"].endswith(f"/pangeo-hpc/clusters/{cid}/dashboard/status")
    assert cluster["options"]["threads_per_worker"] == 2

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 3})
    assert code == 200, cluster
    assert cluster["workers"]["requested"] == 3
    await api.wait_for(cid, connected(3), "scaling up to 3 workers")

    code, cluster = await api.call("PATCH", "clusters", cid, body={"workers": 1})
    assert code == 200
    await api.wait_for(cid, connected(1), "scaling down to 1 worker")

    code, listing = await api.call("GET", "clusters")
    assert [c["id"] for c in listing["clusters"]] == [cid]

    code, _ = await api.call("DELETE", "clusters", cid)
    assert code == 204
    code, body = await api.call("GET", "clusters", cid)
    assert code == 404 and cid in body["message"]


async def test_tls_by_default_refuses_a_client_without_the_credentials(api: Api) -> None:
    """A bare tcp:// scheduler runs anyone's code as the user: ours asks for the cluster's own
    certificate, kept in files only the user can read."""
    from distributed import Client
    from distributed.security import Security

    code, cluster = await api.call("POST", "clusters", body={"profile": "local", "workers": 1})
    assert code == 201
    cluster = await api.wait_for(cluster["id"], connected(1), "1 local worker connecting")
    address, tls = cluster["scheduler_address"], cluster["tls"]
    assert address.startswith("tls://")
    for path in tls.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # A stranger's certificate (another cluster's, say) is refused like no certificate at all.
    stranger = Security.temporary()
    for security in (None, stranger):
        with pytest.raises((OSError, TypeError)):
            await Client(address, security=security, asynchronous=True, timeout="5s")
    async with cluster_client(cluster) as client:
        assert await client.submit(sum, [1, 2, 3]) == 6
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204
    assert not any_exists(tls.values())


async def test_threads_instead_of_processes(api: Api) -> None:
    """`processes: false` (workers as threads of the scheduler's process) still listens on TLS."""
    code, cluster = await api.call(
        "POST",
        "clusters",
        body={"profile": "local", "workers": 1, "options": {"processes": False}},
    )
    assert code == 201, cluster
    cluster = await api.wait_for(cluster["id"], connected(1), "1 thread worker connecting")
    assert cluster["scheduler_address"].startswith("tls://127.0.0.1:")
    async with cluster_client(cluster) as client:
        assert await client.submit(sum, [20, 22]) == 42
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    assert code == 204


def any_exists(paths: Iterable[str]) -> bool:
    return any(Path(path).exists() for path in paths)


async def test_concurrent_deletes_close_once(api: Api) -> None:
    code, cluster = await api.call("POST", "clusters", body={"profile": "local", "workers": 1})
    assert code == 201
    await api.wait_for(cluster["id"], connected(1), "1 local worker connecting")
    answers = await asyncio.gather(
        *(api.call("DELETE", "clusters", cluster["id"]) for _ in range(3))
    )
    codes = sorted(code for code, _ in answers)
    assert codes[0] == 204 and set(codes) <= {204, 404}, answers
    code, _ = await api.call("GET", "clusters", cluster["id"])
    assert code == 404
