"""A real JupyterHub (6.1.1, from the venv that .ci/jupyterhub.sh makes) with batchspawner's
SlurmSpawner on the real Slurm of .ci/slurm.sh and configurable-http-proxy from npm: each user's
JupyterLab is a Slurm job running as that Unix user. Reached only on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from tornado.httpclient import AsyncHTTPClient

from pangeo_hpc_ext.paths import free_port
from tests.support.lab_cli import require_daemon, slurm_problem

VENV = Path(os.environ.get("PANGEO_HPC_HUB_VENV", "/opt/pangeo-hpc-hub-venv"))
CHP = Path(os.environ.get("PANGEO_HPC_HUB_CHP", "/opt/pangeo-hpc-hub-chp"))
CHP_COMMAND = CHP / "node_modules" / ".bin" / "configurable-http-proxy"
USERS = ("hubalice", "hubbob")
REQUIRE = "PANGEO_HPC_REQUIRE_HUB"
# A Slurm job to schedule, a JupyterLab to import and start as the user, then the hub's check.
SPAWN_TIMEOUT_S = 180.0
WAIT_TIMEOUT_S = 120.0

T = TypeVar("T")


def hub_problem() -> str | None:
    """Why the hub cannot run here, or None."""
    if os.geteuid() != 0:
        return "JupyterHub with batchspawner runs as root here (sudo -u <user> sbatch)"
    problem = slurm_problem()
    if problem:
        return problem
    setup = "run `.ci/jupyterhub.sh up` as root"
    for path in (VENV / "bin" / "jupyterhub", VENV / "bin" / "batchspawner-singleuser"):
        if not path.exists():
            return f"{path} is missing: {setup}"
    if not CHP_COMMAND.exists():
        return f"configurable-http-proxy is not installed in {CHP}: {setup}"
    for user in USERS:
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            return f"Unix user {user} is missing: {setup}"
    if shutil.which("sudo") is None:
        return f"sudo is missing: {setup}"
    return None


def require_hub() -> None:
    require_daemon(hub_problem(), REQUIRE)


def hub_config(*, directory: Path, port: int, hub_port: int, api_port: int, token: str) -> str:
    """The hub's config: what docs/jupyterhub.md shows a site, plus what a test needs (loopback
    only, a service token, activity reported every few seconds)."""
    venv = str(VENV)
    return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = ["{CHP_COMMAND}"]
c.JupyterHub.db_url = "sqlite:///{directory}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{directory}/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "{token}"
c.Authenticator.allowed_users = {set(USERS)!r}
c.JupyterHub.allow_named_servers = True
c.JupyterHub.services = [{{"name": "ci", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": ["ci"]}}]

c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
c.SlurmSpawner.batchspawner_singleuser_cmd = "{venv}/bin/batchspawner-singleuser"
c.SlurmSpawner.cmd = ["{venv}/bin/jupyterhub-singleuser"]
c.SlurmSpawner.req_prologue = "export PATH={venv}/bin:$PATH"
c.SlurmSpawner.req_partition = "debug"
c.SlurmSpawner.req_memory = "2G"
c.SlurmSpawner.req_runtime = "01:00:00"
c.SlurmSpawner.req_nprocs = "1"
c.SlurmSpawner.startup_poll_interval = 0.5
c.SlurmSpawner.start_timeout = {int(SPAWN_TIMEOUT_S)}
c.Spawner.default_url = "/lab"
# Loopback only on this machine; a site's servers listen where its hub can reach them.
c.Spawner.args = ["--ServerApp.ip=127.0.0.1"]
# The user servers report their activity every 5 s (300 by default). The hub's own reading of
# the proxy's activity is pushed out of the way, so that what the hub knows of a user's
# activity comes from the user's server alone: what pangeo-hpc-ext must keep current.
c.Spawner.environment = {{"JUPYTERHUB_ACTIVITY_INTERVAL": "5"}}
c.JupyterHub.last_activity_interval = 3600
"""


def parse_time(text: str | None) -> float:
    assert text, "no timestamp"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def wait_until(
    check: Callable[[], Awaitable[T | None]], what: str, timeout: float = WAIT_TIMEOUT_S
) -> T:
    """CHECK's first truthy answer, polled until TIMEOUT; fails saying WHAT did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.5)


def squeue_user(user: str) -> list[tuple[str, str, str]]:
    """(job id, name, state) of the user's Slurm jobs that have not ended."""
    out = subprocess.run(
        ["squeue", "-h", "-r", "-u", user, "-t", "PD,CF,R,CG", "-o", "%i|%j|%T"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [tuple(line.split("|")) for line in out.splitlines() if line.strip()]  # type: ignore[misc]


class Hub:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "jupyterhub.log"

    def start(self) -> None:
        config = self.directory / "jupyterhub_config.py"
        config.write_text(
            hub_config(
                directory=self.directory,
                port=self.port,
                hub_port=free_port(),
                api_port=free_port(),
                token=self.token,
            )
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(VENV / "bin" / "jupyterhub"), "-f", str(config)],
                cwd=self.directory,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no hub log)"

    async def fetch(
        self, path: str, method: str = "GET", body: Any = None, **headers: str
    ) -> tuple[int, Any]:
        response = await AsyncHTTPClient().fetch(
            self.url + path,
            method=method,
            headers=headers,
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            follow_redirects=False,
            raise_error=False,
            request_timeout=60,
        )
        text = response.body.decode() if response.body else ""
        try:
            return response.code, json.loads(text) if text else None
        except ValueError:
            return response.code, text

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The hub's REST API with the service's (admin) token."""
        return await self.fetch(
            f"/hub/api/{path}", method, body, Authorization=f"token {self.token}"
        )

    async def wait_up(self) -> None:
        async def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"jupyterhub exited:\n{self.log_tail()}")
            try:
                code, _ = await self.api("GET", "users")
            except OSError:
                return False
            return code == 200

        await wait_until(answers, f"the hub answering on {self.url}")

    async def server(self, user: str, name: str = "") -> dict[str, Any] | None:
        code, body = await self.api("GET", f"users/{user}")
        assert code == 200, body
        return body["servers"].get(name)

    async def spawn(self, user: str, name: str = "") -> None:
        code, body = await self.api("POST", f"users/{user}/servers/{name}", {})
        assert code in (201, 202), (code, body)

        async def ready() -> bool:
            server = await self.server(user, name)
            return bool(server and server["ready"])

        try:
            await wait_until(ready, f"{user}'s server {name!r} ready", SPAWN_TIMEOUT_S)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log_tail()}") from None

    async def stop_server(self, user: str, name: str = "") -> None:
        code, body = await self.api("DELETE", f"users/{user}/servers/{name}")
        assert code in (202, 204), (code, body)

        async def stopped() -> bool:
            return await self.server(user, name) is None

        await wait_until(stopped, f"the hub stopping {user}'s server {name!r}")

    def stop_all_servers(self, users: tuple[str, ...]) -> None:
        """Every server of USERS stopped, synchronously (for a fixture's teardown)."""
        auth = {"Authorization": f"token {self.token}"}
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        for user in users:
            while True:
                reply = requests.get(f"{self.url}/hub/api/users/{user}", headers=auth, timeout=60)
                servers = reply.json().get("servers", {}) if reply.status_code == 200 else {}
                if not servers:
                    break
                assert time.monotonic() < deadline, f"{user}'s servers {list(servers)} not stopped"
                for name, server in servers.items():
                    if not server.get("stopped") and not server.get("pending") == "stop":
                        requests.delete(
                            f"{self.url}/hub/api/users/{user}/servers/{name}",
                            headers=auth,
                            timeout=60,
                        )
                time.sleep(1)

    async def user_token(self, user: str) -> str:
        code, body = await self.api("POST", f"users/{user}/tokens", {"note": "pangeo-hpc ci"})
        assert code == 201, body
        return str(body["token"])

    def start_culler(self, timeout_s: int) -> subprocess.Popen[bytes]:
        """jupyterhub-idle-culler, as a site runs it (usually as a hub service), with the
        service's token; checking every few seconds."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["JUPYTERHUB_API_TOKEN"] = self.token
        log = (self.directory / "culler.log").open("ab")
        return subprocess.Popen(
            [
                str(VENV / "bin" / "jupyterhub-idle-culler"),
                f"--url={self.url}/hub/api",
                f"--timeout={timeout_s}",
                "--cull-every=5",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def stop_culler(culler: subprocess.Popen[bytes]) -> None:
        if culler.poll() is None:
            os.killpg(culler.pid, signal.SIGTERM)
            culler.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM: the hub stops the users' servers (scancel), then the proxy it started.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def serve() -> int:
    """`python -m tests.support.jupyterhub`: a hub for the Galata spec (ui-tests/tests/
    jupyterhub.spec.ts). Prints one JSON line (url, password), serves until SIGTERM or until its
    parent is gone, then stops every user server and the hub. Exit 3 with the reason if it
    cannot run here."""
    import sys
    import tempfile
    import threading

    problem = hub_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 3
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    parent = os.getppid()
    with tempfile.TemporaryDirectory(prefix="pangeo-hpc-hub-") as directory:
        hub = Hub(Path(directory))
        hub.start()
        try:
            asyncio.run(hub.wait_up())
            print(json.dumps({"url": hub.url, "password": hub.token}), flush=True)
            while not stopping.wait(1.0) and os.getppid() == parent:
                pass
        finally:
            hub.stop_all_servers(USERS)
            hub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
