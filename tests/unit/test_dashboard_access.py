"""The guard of a dashboard's HTTP application, on a real tornado server: a request without the
one right key never reaches a handler; with it, the handler does not see the key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import dask
import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders
from tornado.testing import bind_unused_port

from pangeo_hpc_ext.backends.jobqueue import WORKER_HTTP_ROUTES_LINE
from pangeo_hpc_ext.backends.slurm import SlurmBackend
from pangeo_hpc_ext.dashboard_access import KEY_HEADER, guard, key_of

KEY = "the-right-key"


class Echo(web.RequestHandler):
    """Answers with the request headers it saw; counts its calls."""

    calls = 0

    def get(self) -> None:
        Echo.calls += 1
        self.write(json.dumps(sorted(k.lower() for k in self.request.headers)))


async def fetch_all(requests: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    application = web.Application([(r"/.*", Echo)])
    guard(application, KEY)
    sock, port = bind_unused_port()  # 127.0.0.1
    server = HTTPServer(application)
    server.add_sockets([sock])
    try:
        client = AsyncHTTPClient()
        answers = []
        for headers in requests:
            response = await client.fetch(
                f"http://127.0.0.1:{port}/json/identity.json", headers=headers, raise_error=False
            )
            answers.append((response.code, response.body))
        return answers
    finally:
        server.stop()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {KEY_HEADER: "wrong"},
        {KEY_HEADER: KEY[:-1]},
        {KEY_HEADER: ""},
        {KEY_HEADER.lower(): KEY + "x"},
        # A websocket upgrade is routed like any request.
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"},
    ],
)
def test_without_the_key_no_handler_runs(headers: dict[str, str]) -> None:
    Echo.calls = 0
    [(code, body)] = asyncio.run(fetch_all([headers]))
    assert code == 403
    assert b"through JupyterLab" in body
    assert Echo.calls == 0


def test_two_copies_of_the_key_are_refused() -> None:
    headers = HTTPHeaders()
    headers.add(KEY_HEADER, KEY)
    headers.add(KEY_HEADER, KEY)
    Echo.calls = 0
    [(code, _)] = asyncio.run(fetch_all([headers]))  # type: ignore[list-item]
    assert code == 403 and Echo.calls == 0


def test_with_the_key_the_handler_never_sees_it() -> None:
    Echo.calls = 0
    answers = asyncio.run(fetch_all([{KEY_HEADER: KEY}, {KEY_HEADER.lower(): KEY}]))
    for code, body in answers:
        assert code == 200
        assert KEY_HEADER.lower() not in json.loads(body)
    assert Echo.calls == 2


def test_the_key_is_read_back_from_the_server() -> None:
    class Node:
        http_application = web.Application()

    assert key_of(Node()) is None
    guard(Node.http_application, KEY)
    assert key_of(Node()) == KEY


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"jobqueue.slurm.job-script-prologue": ["module load python"]},
        {"jobqueue.slurm.env-extra": ["module load python"]},
    ],
)
def test_worker_jobs_get_no_http_routes_after_the_users_prologue(config: dict[str, Any]) -> None:
    with dask.config.set(
        {"jobqueue.slurm.job-script-prologue": None, "jobqueue.slurm.env-extra": None, **config}
    ):
        prologue = SlurmBackend().job_script_prologue()
    assert prologue == [*next(iter(config.values()), []), WORKER_HTTP_ROUTES_LINE]
