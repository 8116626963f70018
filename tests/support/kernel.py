"""A kernel started through the server's REST API, driven over its websocket as a notebook is."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection

REPLY_TIMEOUT_S = 90.0


class Kernel:
    def __init__(self, jp_fetch: Any, jp_ws_fetch: Any) -> None:
        self._fetch = jp_fetch
        self._ws_fetch = jp_ws_fetch
        self.kernel_id = ""
        self.session = uuid.uuid4().hex
        self.ws: WebSocketClientConnection | None = None

    async def start(self) -> None:
        response = await self._fetch(
            "api", "kernels", method="POST", body=json.dumps({"name": "python3"})
        )
        self.kernel_id = json.loads(response.body)["id"]
        self.ws = await self._ws_fetch("api", "kernels", self.kernel_id, "channels")

    async def run(self, code: str, timeout: float = REPLY_TIMEOUT_S) -> str:
        """Execute code; its stdout, or a test failure with the kernel's error."""
        assert self.ws is not None
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "session": self.session,
                        "username": "test",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "allow_stdin": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        stdout: list[str] = []
        replied = idle = False
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), max(remaining, 0.01))
            except asyncio.TimeoutError:
                pytest.fail(f"the cell did not finish within {timeout:.0f} s: {code!r}")
            assert raw is not None, "the kernel websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                pytest.fail(f"the cell failed: {content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True  # iopub: every output of the cell came before this
            if replied and idle:
                return "".join(stdout)

    async def run_json(self, code: str, timeout: float = REPLY_TIMEOUT_S) -> Any:
        """Execute code whose last printed line is JSON; that value."""
        return json.loads((await self.run(code, timeout)).strip().splitlines()[-1])

    async def shutdown(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.kernel_id:
            await self._fetch("api", "kernels", self.kernel_id, method="DELETE")
            self.kernel_id = ""


@pytest.fixture
def kernel(
    started_server: Any,
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> Iterator[Kernel]:
    """One kernel per test (started by the test), shut down afterwards even when it fails."""
    kernel = Kernel(jp_fetch, jp_ws_fetch)
    yield kernel
    jp_asyncio_loop.run_until_complete(kernel.shutdown())
