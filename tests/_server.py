"""A real ``runstream server`` process for tests, on a free port.

Tests that stop, kill and restart the consumer own one of these; the rest
share the session's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``runstream server`` on the embedded store in ``home``."""

    def __init__(
        self,
        bootstrap: str,
        home: Path,
        topic: str,
        store_url: str | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.home = home
        self.topic = topic
        self.store_url = store_url or f"chdb://{home / 'store'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "runstream.cli",
            "server",
            "--kafka-bootstrap",
            self.bootstrap,
            "--topic",
            self.topic,
            "--store",
            self.store_url,
            "--port",
            str(self.port),
            "--log-level",
            "debug",
        ]
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"runstream server exited with "
                    f"{self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                health = httpx.get(f"{self.url}/api/v1/health", timeout=2)
                if (
                    health.is_success
                    and health.json()["consumer"]["partitions"]
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

        self.kill()
        raise RuntimeError(
            f"runstream server never got ready:\n{self.log_tail()}"
        )

    def health(self) -> dict:
        return httpx.get(f"{self.url}/api/v1/health", timeout=5).json()

    def stop(self) -> None:
        """Stop the way an operator does: SIGTERM, then wait."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def kill(self) -> None:
        """Stop the way a crash does: SIGKILL, no chance to commit."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(10)
        self._process = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
