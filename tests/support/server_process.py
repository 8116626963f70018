"""A Jupyter server with this extension in a child process, on 127.0.0.1, driven over HTTP.

Used by the demo, the process-level tests (stop, crash) and the benchmarks, so that all of them
run the server exactly the way a user's `jupyter lab` does."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pangeo_hpc_ext.paths import free_port


def wait_until(
    check: Callable[[], Any], what: str, timeout: float = 90.0, poll: float = 0.2
) -> Any:
    """Poll `check` until it returns something truthy; a bounded wait that says what failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"within {timeout:.0f} s: {what} did not happen")


PORT_ATTEMPTS = 3


class ServerProcess:
    def __init__(
        self,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        pangeo_config: dict[str, Any] | None = None,
        app_module: str = "jupyter_server",
        own_process_group: bool = False,
        extension: bool = True,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.env = {**os.environ, **(env or {})}
        self.pangeo_config = pangeo_config or {}
        self.app_module = app_module
        # A group of its own can be SIGKILLed whole, like a crash takes a server and its children,
        # without reaching the test runner (which shares the group otherwise).
        self.own_process_group = own_process_group
        # False: the same server without pangeo_hpc_ext (a baseline for what the extension costs).
        self.extension = extension
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start the server and wait until it answers as itself. The port was free when chosen,
        but any process (a Dask dashboard on port 0, say) may take it first: then the server
        cannot bind and is started again on another port, at most PORT_ATTEMPTS times."""
        for _ in range(PORT_ATTEMPTS):
            self._launch()
            try:
                answering = self._wait_answering(timeout)
            except BaseException:
                # Not left behind with whatever it started (supervisors, jobs).
                self.stop()
                raise
            if answering:
                return self
            self.port = free_port()
            self.log_path = self.workdir / f"server-{self.port}.log"
        raise RuntimeError(f"server found no free port in {PORT_ATTEMPTS} attempts")

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port": self.port,
                "port_retries": 0,
                "open_browser": False,
                "root_dir": str(self.workdir),
                "allow_root": True,
                "jpserver_extensions": {"pangeo_hpc_ext": self.extension},
            },
            "IdentityProvider": {"token": self.token},
            "PangeoHPC": self.pangeo_config,
        }
        config_file = self.workdir / f"server-{self.port}-config.json"
        config_file.write_text(json.dumps(config))
        env = {**self.env, "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.app_module, f"--config={config_file}"],
                # Driven over HTTP only; a terminal on stdin would change how SIGINT stops it.
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=self.own_process_group,
            )

    def _wait_answering(self, timeout: float) -> bool:
        """True once this server answers `api/status` with its token; False when it exited
        because its port was taken."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "is already in use" in self.log_tail():
                    return False
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                # Whatever else holds the port answers something else (or 403 to our token).
                code, status = self.request("GET", "api/status")
                if code == 200 and isinstance(status, dict) and "started" in status:
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            return error.code, (json.loads(text) if text.startswith("{") else text)

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request(method, "pangeo-hpc/api/" + path, body)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill_process_group(self) -> None:
        """SIGKILL the server and every process of its group: a crash, nothing cleaned up."""
        assert self.proc is not None and self.own_process_group, "needs own_process_group=True"
        os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (a clean shutdown that closes every cluster), SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Servers:
    """Servers one test starts one after another on the same settings (a crashed one, then its
    successor); at the end those still running are stopped (SIGTERM closes their clusters)."""

    def __init__(self, workdir: Path, **settings: Any) -> None:
        self.workdir = workdir
        self.settings = settings
        self.started: list[ServerProcess] = []

    def start(self) -> ServerProcess:
        server = ServerProcess(self.workdir, **self.settings).start()
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
