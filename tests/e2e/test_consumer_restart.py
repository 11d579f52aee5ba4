"""Consumer stopped, killed and restarted: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream import Experiment, Workspace
from tests._server import ServerProcess
from tests.conftest import workspace_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_server(kafka_broker: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """Yield a server (and topic) that only this test stops and kills."""
    server = ServerProcess(
        kafka_broker,
        tmp_path / "server",
        topic=f"runstream.restart.{uuid.uuid4().hex[:8]}",
    )
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_workspace(
    own_server: ServerProcess, tmp_path: Path
) -> Iterator[Workspace]:
    ws = workspace_for(own_server, tmp_path / "artifacts")
    yield ws
    ws.close()


def test_graceful_consumer_restart_loses_and_doubles_nothing(
    own_server: ServerProcess, own_workspace: Workspace
) -> None:
    """Points logged before, during and after a SIGTERM restart read once."""
    run = Experiment(own_workspace, "restart").start_logging()
    for i in range(5_000):
        run.log("v", i)
    assert len(run.get_metrics()["v"]) == 5_000

    own_server.stop()
    for i in range(5_000, 10_000):
        run.log("v", i)
    run.flush()
    own_server.start()

    assert run.get_metrics()["v"] == list(range(10_000))


def test_killed_consumer_mid_stream_loses_and_doubles_nothing(
    own_server: ServerProcess, own_workspace: Workspace
) -> None:
    """SIGKILL the consumer three times while a writer logs; all read once."""
    run = Experiment(own_workspace, "kill").start_logging()
    total = 60_000
    done = threading.Event()

    def write() -> None:
        for i in range(total):
            run.log("v", i)
            run.log_row("row", i=i, half=i / 2)
            if i % 2_000 == 0:
                time.sleep(0.05)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    for _ in range(3):
        time.sleep(0.7)
        own_server.kill()
        time.sleep(0.3)
        own_server.start()
    writer.join(120)
    assert done.is_set()

    metrics = run.get_metrics()
    assert metrics["v"] == list(range(total))
    assert metrics["row"]["i"] == list(range(total))
    assert metrics["row"]["half"] == [i / 2 for i in range(total)]
