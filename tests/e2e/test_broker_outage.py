"""The broker goes away mid-run and comes back: the run loses nothing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from runstream import Experiment
from runstream._local.kafka import LocalKafka
from tests._server import ServerProcess
from tests.conftest import workspace_for

pytestmark = pytest.mark.e2e


def test_points_logged_while_the_broker_is_down_arrive_once(
    tmp_path: Path,
) -> None:
    """Logging never blocks on a stopped broker; after restart all arrive."""
    broker = LocalKafka(tmp_path / "kafka")
    bootstrap = broker.start(timeout_s=120)
    server = ServerProcess(
        bootstrap, tmp_path / "server", topic=f"outage.{uuid.uuid4().hex[:8]}"
    )
    server.start()
    ws = workspace_for(server, tmp_path / "artifacts")
    try:
        run = Experiment(ws, "outage").start_logging()
        for i in range(1_000):
            run.log("v", i)
        assert len(run.get_metrics()["v"]) == 1_000

        server.stop()
        broker.stop()
        started = time.monotonic()
        for i in range(1_000, 3_000):
            run.log("v", i)
        logging_s = time.monotonic() - started
        broker.start(timeout_s=120)
        server.start()
        values = run.get_metrics()["v"]
    finally:
        # This broker goes away with the test: so must its producer.
        ws._emitter().close(timeout_s=10)
        ws.close()
        server.kill()
        broker.stop()

    # 2,000 calls take milliseconds; one call that waited on the network
    # would take seconds.
    assert logging_s < 5.0
    assert values == list(range(3_000))
