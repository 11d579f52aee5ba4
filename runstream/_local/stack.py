"""``runstream up`` / ``down``: a local broker and server in the background.

Everything lives under one state directory: the broker's data, the
embedded store, the artifact store, the logs, and ``endpoints.json``, which
``Workspace()`` reads so scripts need no configuration.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import attrs
import httpx

from runstream._config import ENDPOINTS_FILE, Endpoints
from runstream._local.kafka import LocalKafka
from runstream.errors import BackendError

DEFAULT_SERVER_PORT = 8765


@attrs.frozen
class LocalStack:
    """The processes ``runstream up`` manages under ``home``."""

    home: Path

    @property
    def kafka(self) -> LocalKafka:
        return LocalKafka(self.home / "kafka")

    @property
    def server_pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def server_port_file(self) -> Path:
        return self.home / "server.port"

    @property
    def server_log(self) -> Path:
        return self.home / "server.log"

    @property
    def endpoints_file(self) -> Path:
        return self.home / ENDPOINTS_FILE

    def up(
        self, server_port: int | None = None, timeout_s: float = 120
    ) -> Endpoints:
        """Start the broker and the server unless running; return endpoints."""
        self.home.mkdir(parents=True, exist_ok=True)
        bootstrap = self.kafka.start(timeout_s=timeout_s)
        existing = self._read_endpoints()
        if existing is not None and self._server_answers(existing.server_url):
            return existing

        # Keep the port of the last run, so scripts that outlive a
        # down/up still reach the server at the URL they started with.
        port = server_port or _free_or_default(
            _read_int(self.server_port_file) or DEFAULT_SERVER_PORT
        )
        self.server_port_file.write_text(str(port))
        endpoints = Endpoints(
            workspace="default",
            kafka_bootstrap=bootstrap,
            server_url=f"http://127.0.0.1:{port}",
            artifacts_url=str(self.home / "artifacts"),
        )
        self._start_server(endpoints, port, timeout_s)
        self.endpoints_file.write_text(
            json.dumps(attrs.asdict(endpoints), indent=2) + "\n",
            encoding="utf-8",
        )
        return endpoints

    def down(self, timeout_s: float = 30) -> None:
        """Stop the server, then the broker."""
        pid = _read_int(self.server_pid_file)
        if pid is not None:
            _terminate(pid, timeout_s)
            self.server_pid_file.unlink(missing_ok=True)
        self.kafka.stop(timeout_s=timeout_s)
        self.endpoints_file.unlink(missing_ok=True)

    def _read_endpoints(self) -> Endpoints | None:
        if not self.endpoints_file.is_file():
            return None
        try:
            return Endpoints(**json.loads(self.endpoints_file.read_text()))
        except (ValueError, TypeError):
            return None

    def _server_answers(self, url: str) -> bool:
        """Whether the server answers and its consumer owns partitions."""
        try:
            response = httpx.get(f"{url}/api/v1/health", timeout=2)
        except httpx.HTTPError:
            return False
        if not response.is_success:
            return False

        consumer = response.json().get("consumer", {})
        return bool(consumer.get("partitions"))

    def _start_server(
        self, endpoints: Endpoints, port: int, timeout_s: float
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "runstream.cli",
            "server",
            "--kafka-bootstrap",
            endpoints.kafka_bootstrap,
            "--store",
            f"chdb://{self.home / 'store'}",
            "--port",
            str(port),
        ]
        with self.server_log.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.server_pid_file.write_text(str(process.pid))

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BackendError(
                    f"runstream server exited with {process.returncode}; "
                    f"its log ({self.server_log}) ends with:\n"
                    + _tail(self.server_log)
                )
            if self._server_answers(endpoints.server_url):
                return
            time.sleep(0.2)

        _terminate(process.pid, 10)
        raise BackendError(
            f"runstream server did not answer within {timeout_s:g} s; its "
            f"log ({self.server_log}) ends with:\n" + _tail(self.server_log)
        )


def _free_or_default(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            sock.bind(("127.0.0.1", 0))
            free: int = sock.getsockname()[1]
            return free


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(
            path.read_text(errors="replace").splitlines()[-lines:]
        )
    except OSError:
        return "(no log)"
