"""A process that ends with the broker away leaves a spool; sync sends it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from runstream import Experiment, NotFoundError, Run
from runstream._local.kafka import LocalKafka
from tests._server import ServerProcess
from tests.conftest import run_id_in as _run_id
from tests.conftest import workspace_for

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("ending", ["exit", "sigkill"])
def test_training_killed_with_broker_down_is_recovered_by_sync(
    tmp_path: Path, ending: str
) -> None:
    """Logged while Kafka is down, spooled, sent later by runstream sync.

    With the broker away every send round moves pending events to disk, so
    even SIGKILL (no exit handler runs) loses only the last round.
    """
    broker = LocalKafka(tmp_path / "kafka")
    bootstrap = broker.start(timeout_s=120)
    server = ServerProcess(
        bootstrap, tmp_path / "server", topic=f"sync.{uuid.uuid4().hex[:8]}"
    )
    server.start()
    ws = workspace_for(server, tmp_path / "artifacts")
    e = ws.endpoints
    script = textwrap.dedent(
        f"""
        from runstream import Experiment, Workspace
        ws = Workspace({e.workspace!r}, kafka_bootstrap={e.kafka_bootstrap!r},
                       server_url={e.server_url!r},
                       artifacts_url={e.artifacts_url!r}, topic={e.topic!r})
        run = Experiment(ws, "spooled").start_logging()
        print("run_id=" + run.id, flush=True)
        for i in range(5_000):
            run.log("v", i)
        run.log_row("row", x=1, y="y")
        """
    )
    if ending == "sigkill":
        script += textwrap.dedent(
            """
            import os, signal, time
            time.sleep(1.5)
            os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    env = {**os.environ, "RUNSTREAM_HOME": str(tmp_path / "home")}
    spool_root = tmp_path / "home" / "spool"
    try:
        server.stop()
        broker.stop()
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        exit_s = time.monotonic() - started
        run_id = _run_id(done.stdout)
        left_behind = sorted(spool_root.rglob("*.avro"))

        broker.start(timeout_s=120)
        server.start()
        sync = subprocess.run(
            [
                sys.executable,
                "-m",
                "runstream.cli",
                "sync",
                "--kafka-bootstrap",
                bootstrap,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                "runstream.cli",
                "sync",
                "--kafka-bootstrap",
                bootstrap,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # Another process's events: read through the query client until
        # the consumer has stored them.
        metrics: dict = {}
        last_error = None
        for _ in range(300):
            try:
                metrics = ws._query.get_metrics(ws.name, run_id)
            except NotFoundError as exc:
                last_error = exc
            if len(metrics.get("v", [])) == 5_000 and "row" in metrics:
                break
            time.sleep(0.2)
        status = Run(Experiment(ws, "spooled"), run_id).get_status()
    finally:
        ws.close()
        server.kill()
        broker.stop()

    if ending == "exit":
        assert done.returncode == 0, done.stderr
        assert "runstream sync" in done.stdout + done.stderr
    else:
        assert done.returncode == -9
    assert exit_s < 30
    assert left_behind
    assert sync.returncode == 0, sync.stderr
    assert "sent " in sync.stdout
    assert "no spooled events" in again.stdout
    assert not list(spool_root.rglob("*.avro"))
    assert metrics == {"v": list(range(5_000)), "row": {"x": 1, "y": "y"}}, (
        last_error
    )
    assert status in ("Running", "NotResponding")
