"""Run a real single-node Kafka broker on 127.0.0.1 from ``deploy/kafka``.

:class:`LocalKafka` owns one state folder::

    state_dir/
        ports.json      client and controller ports, reused on restart
        kafka.pid       pid of the broker's JVM while it runs
        launcher.log    stdout and stderr of deploy/kafka/start.sh
        data/           KRaft storage, rendered server.properties and
                        logs/server.log, the broker's own log

The broker runs in a session of its own, so it outlives the Python process
that started it until :meth:`LocalKafka.stop` is called, from that process
or from any other that builds a ``LocalKafka`` on the same folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from runstream._resources import deploy_dir
from runstream.errors import BackendError, InvalidArgumentError

log = structlog.get_logger(component="local_kafka")

_HOST = "127.0.0.1"

# A first fetch on a fresh machine downloads about 40 MB from Maven Central;
# it gets its own bound so that start()'s timeout measures the broker alone.
_FETCH_TIMEOUT_S = 900.0
_FORMAT_TIMEOUT_S = 120.0
_PROBE_TIMEOUT_S = 3.0
_POLL_INTERVAL_S = 0.25
_KILL_WAIT_S = 10.0


class LocalKafkaError(BackendError):
    """The local broker could not be fetched, formatted, started or stopped."""


class LocalKafka:
    """A single-node KRaft broker whose files all live in one state folder.

    Args:
        state_dir: Folder for ports, pid, logs and the broker's storage;
            created if missing. Starting again on the same folder keeps
            every topic and message written before.
        port: Client port. ``None`` picks a free port the first time and
            reuses it afterwards; the controller port is always picked
            that way.

    Call :meth:`stop` before dropping a ``LocalKafka`` that started a
    broker: Python warns about a child process that is still running when
    its handle is collected.
    """

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        self.state_dir = Path(state_dir).absolute()
        self._requested_port = port
        self._ports: tuple[int, int] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """Return the address clients connect to, ``"127.0.0.1:PORT"``."""
        client_port, _ = self._resolve_ports()
        return f"{_HOST}:{client_port}"

    @property
    def data_dir(self) -> Path:
        """Return the folder of the broker's storage, config and logs."""
        return self.state_dir / "data"

    @property
    def log_file(self) -> Path:
        """Return the broker's own log, written by log4j."""
        return self.data_dir / "logs" / "server.log"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def _launcher_log(self) -> Path:
        return self.state_dir / "launcher.log"

    def start(self, timeout_s: float = 90) -> str:
        """Start the broker unless it runs, and return its bootstrap address.

        Fetches the jars (bounded apart from ``timeout_s``), formats the
        storage on first use, launches ``deploy/kafka/start.sh`` detached
        and returns once the broker answers a metadata request.

        Raises:
            LocalKafkaError: A step failed, the broker exited, or it did not
                answer within ``timeout_s``; the message ends with the tail
                of its logs. A broker that did not come up is stopped.
        """
        started = time.monotonic()
        if self.is_running():
            self._wait_until_ready(started + timeout_s, timeout_s)
            return self.bootstrap

        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = self._script_env(self._fetch())
        deadline = time.monotonic() + timeout_s
        self._run_script("format.sh", env, _FORMAT_TIMEOUT_S)
        pid = self._launch(env)

        try:
            self._wait_until_ready(deadline, timeout_s)
        except LocalKafkaError:
            self.stop()
            raise

        log.info(
            "local_kafka.broker_started",
            bootstrap=self.bootstrap,
            pid=pid,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        return self.bootstrap

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker: SIGTERM, then SIGKILL once ``timeout_s`` passes.

        Works on a broker started by another process too, through the pid
        file; does nothing when no broker of this folder runs.
        """
        pid = self._running_pid()
        if pid is None:
            self._forget_process()
            return

        started = time.monotonic()
        _send_signal(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout_s):
            log.warning(
                "local_kafka.broker_killed", pid=pid, timeout_s=timeout_s
            )
            _send_signal(pid, signal.SIGKILL)
            if not self._wait_gone(pid, _KILL_WAIT_S):
                raise LocalKafkaError(
                    f"Kafka broker pid {pid} survived SIGKILL for "
                    f"{_KILL_WAIT_S:g} s; stop it by hand."
                )

        self._forget_process()
        log.info(
            "local_kafka.broker_stopped",
            pid=pid,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    def is_running(self) -> bool:
        """Return whether this folder's broker process is alive.

        A broker that is still starting counts as running.
        """
        return self._running_pid() is not None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the broker log and of the launcher log."""
        parts = []
        for path, count in (
            (self.log_file, lines),
            (self._launcher_log, lines // 2),
        ):
            parts.append(f"--- last lines of {path} ---")
            parts.append(_tail(path, count) or "(empty or missing)")

        return "\n".join(parts)

    def _resolve_ports(self) -> tuple[int, int]:
        if self._ports is not None:
            return self._ports

        ports_file = self.state_dir / "ports.json"
        stored: dict[str, int] = {}
        if ports_file.exists():
            stored = json.loads(ports_file.read_text())

        free = _free_ports(2)
        client = self._requested_port or stored.get("client") or free[0]
        controller = stored.get("controller") or free[1]
        if controller == client:
            raise InvalidArgumentError(
                "LocalKafka()",
                "port",
                f"must differ from the controller port in {ports_file}",
                client,
            )

        wanted = {"client": client, "controller": controller}
        if wanted != stored:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            scratch = ports_file.with_suffix(".tmp")
            scratch.write_text(json.dumps(wanted) + "\n")
            scratch.replace(ports_file)

        self._ports = (client, controller)
        return self._ports

    def _script_env(self, lib_dir: Path) -> dict[str, str]:
        client_port, controller_port = self._resolve_ports()
        return {
            **os.environ,
            "RUNSTREAM_KAFKA_DATA_DIR": str(self.data_dir),
            "RUNSTREAM_KAFKA_PORT": str(client_port),
            "RUNSTREAM_KAFKA_CONTROLLER_PORT": str(controller_port),
            "RUNSTREAM_KAFKA_LIB_DIR": str(lib_dir),
        }

    def _fetch(self) -> Path:
        output = self._run_script("fetch.sh", os.environ, _FETCH_TIMEOUT_S)
        lines = output.strip().splitlines()
        if not lines:
            raise LocalKafkaError("deploy/kafka/fetch.sh printed no lib dir.")

        return Path(lines[-1])

    def _run_script(
        self, name: str, env: Mapping[str, str], timeout_s: float
    ) -> str:
        # Run through bash: an installed wheel may not keep the exec bit.
        script = deploy_dir("kafka") / name
        try:
            done = subprocess.run(
                ["bash", str(script)],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalKafkaError(
                f"{script} did not finish within {timeout_s:g} s."
            ) from exc

        if done.returncode != 0:
            raise LocalKafkaError(
                f"{script} failed with exit code {done.returncode}:\n"
                + "\n".join(done.stderr.strip().splitlines()[-30:])
            )

        return done.stdout

    def _launch(self, env: Mapping[str, str]) -> int:
        script = deploy_dir("kafka") / "start.sh"
        with self._launcher_log.open("ab") as launcher_log:
            # start.sh execs java, so this pid is the broker's own; the new
            # session keeps terminal signals aimed at the parent away from it.
            self._process = subprocess.Popen(
                ["bash", str(script)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=launcher_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        pid = self._process.pid
        self._pid_file.write_text(f"{pid}\n")
        return pid

    def _wait_until_ready(self, deadline: float, timeout_s: float) -> None:
        cluster_id = self._cluster_id()
        while True:
            exit_code = self._process.poll() if self._process else None
            if exit_code is not None or self._running_pid() is None:
                raise LocalKafkaError(
                    f"Kafka broker for {self.state_dir} exited while "
                    f"starting (exit code {exit_code}).\n{self.log_tail()}"
                )

            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise LocalKafkaError(
                    f"Kafka broker at {self.bootstrap} did not answer a "
                    f"metadata request within {timeout_s:g} s."
                    f"\n{self.log_tail()}"
                )

            probe_s = min(remaining_s, _PROBE_TIMEOUT_S)
            if _answers_metadata(self.bootstrap, cluster_id, probe_s):
                return

            time.sleep(_POLL_INTERVAL_S)

    def _cluster_id(self) -> str | None:
        meta = self.data_dir / "kraft-logs" / "meta.properties"
        with contextlib.suppress(OSError):
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()

        return None

    def _running_pid(self) -> int | None:
        if self._process is not None:
            if self._process.poll() is None:
                return self._process.pid
            self._forget_process()
            return None

        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

        return pid if self._is_our_broker(pid) else None

    def _is_our_broker(self, pid: int) -> bool:
        # The pid file may outlive its broker and the pid be reused, so the
        # command line must end in this folder's server.properties (java)
        # or in start.sh (bash, before its exec).
        if not Path("/proc/self").exists():
            # No procfs (macOS): the pid file is all there is to go on.
            return _pid_exists(pid)

        proc = Path("/proc") / str(pid)
        try:
            state = (proc / "stat").read_text().rpartition(")")[2].split()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False

        if state and state[0] == "Z":
            # The JVM's main thread exits before its shutdown hooks finish:
            # a zombie leader with live threads is a broker still stopping,
            # and still holding its ports and data folder.
            try:
                return sum(1 for _ in (proc / "task").iterdir()) > 1
            except OSError:
                return False

        last_arg = cmdline.rstrip("\0").rpartition("\0")[2]
        return last_arg in {
            str(self.data_dir / "server.properties"),
            str(deploy_dir("kafka") / "start.sh"),
        }

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._running_pid() != pid:
                return True
            time.sleep(_POLL_INTERVAL_S)

        return self._running_pid() != pid

    def _forget_process(self) -> None:
        if self._process is not None:
            # Reap the child so it leaves no zombie and no ResourceWarning.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=0)
            self._process = None

        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()


def _free_ports(count: int) -> list[int]:
    # Hold every socket open until all are bound, so the ports differ.
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind((_HOST, 0))
            sockets.append(sock)

        return [sock.getsockname()[1] for sock in sockets]


def _send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, but owned by another user

    return True


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""

    return "\n".join(text.rstrip().splitlines()[-lines:])


def _answers_metadata(
    bootstrap: str, cluster_id: str | None, timeout_s: float
) -> bool:
    """Return whether the broker lists itself in a metadata response.

    The probe runs on a private event loop in a worker thread, so it works
    whether or not the caller's thread already runs one.
    """
    # Knock first: aiokafka logs every refused connection as an error, and
    # most probes land before the JVM has opened its listener.
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError:
        return False

    probe = _describe_cluster(bootstrap, cluster_id, timeout_s)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, probe).result()


async def _describe_cluster(
    bootstrap: str, cluster_id: str | None, timeout_s: float
) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=round(timeout_s * 1000),
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            cluster = await admin.describe_cluster()
    except (KafkaError, OSError, TimeoutError):
        # Expected while the JVM boots: refused connections, then metadata
        # requests that time out until the controller has elected itself.
        return False
    finally:
        await admin.close()

    # A broker of another cluster may hold a port this folder used before.
    if cluster_id is not None and cluster["cluster_id"] != cluster_id:
        return False

    return bool(cluster["brokers"])
