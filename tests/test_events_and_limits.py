"""Push events, a server that keeps answering while bsub is slow, and the cluster limit."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psutil
import pytest

from pangeo_hpc_ext.server.events import CLUSTER_EVENT_SCHEMA_ID
from tests.conftest import Api
from tests.test_lsf_cluster import start_lsf


async def next_cluster_event(ws: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        assert message is not None, "event websocket closed"
        event = json.loads(message)
        if event.get("schema_id") == CLUSTER_EVENT_SCHEMA_ID:
            return event
    raise AssertionError(f"no cluster event within {timeout:.0f} s")


class TestWithoutPolling:
    """Worker changes come from the scheduler itself, not from the job poller."""

    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"job_poll_interval": 3600.0}

    async def test_changes_are_pushed_on_the_event_bus(self, api: Api, jp_ws_fetch: Any) -> None:
        await check_changes_are_pushed(api, jp_ws_fetch)


async def check_changes_are_pushed(api: Api, jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch("api", "events", "subscribe")
    code, cluster = await api.call("POST", "clusters", body={"profile": "local", "workers": 1})
    assert code == 201
    event = await next_cluster_event(ws)
    assert event["action"] == "created" and event["cluster_id"] == cluster["id"]
    while event["status"] != "running":
        event = await next_cluster_event(ws)
        assert event["cluster_id"] == cluster["id"]
    code, _ = await api.call("DELETE", "clusters", cluster["id"])
    while event["action"] != "deleted":
        event = await next_cluster_event(ws)
    ws.close()


def bsub_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "bsub" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


class TestSlowBsub:
    @pytest.fixture
    def lsf_knobs(self) -> dict[str, Any]:
        return {"submit_delay": 5}

    async def test_server_answers_while_bsub_runs(self, api: Api, lsf_env) -> None:
        cid = (await start_lsf(api, 1))["id"]
        deadline = time.monotonic() + 60
        while not bsub_children():
            assert time.monotonic() < deadline, "bsub never started"
            await asyncio.sleep(0.05)
        # While the slow bsub is in flight the API answers: the job is not recorded yet...
        code, listing = await api.call("GET", "clusters")
        assert code == 200
        assert listing["clusters"][0]["jobs"] == []
        code, _ = await api.call("GET", "profiles")
        assert code == 200
        # ...and the bsub was still running when those answers came back.
        assert bsub_children(), "bsub finished before the API answered: nothing was shown"
        await api.wait_for(cid, lambda c: len(c["jobs"]) == 1, "the slow bsub finishing")


class TestClusterLimit:
    @pytest.fixture
    def pangeo_config(self) -> dict[str, Any]:
        return {"max_clusters": 1}

    async def test_over_max_clusters_is_409(self, api: Api) -> None:
        code, first = await api.call("POST", "clusters", body={"profile": "local"})
        assert code == 201
        code, answer = await api.call("POST", "clusters", body={"profile": "local"})
        assert code == 409 and "limit is 1" in answer["message"]
        code, _ = await api.call("DELETE", "clusters", first["id"])
        assert code == 204
        code, _ = await api.call("POST", "clusters", body={"profile": "local"})
        assert code == 201
