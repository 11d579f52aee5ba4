"""The same pipeline on a ClickHouse server, where Docker can start one.

The embedded store (chdb) is the one every other test uses. This module
runs the server backend (clickhouse-connect) through testcontainers, and
skips with the reason printed where no Docker engine answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream import Experiment
from tests._server import ServerProcess
from tests.conftest import workspace_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clickhouse_url() -> Iterator[str]:
    """Yield the HTTP URL of a ClickHouse server in a container."""
    docker_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    socket_path = docker_host.removeprefix("unix://")
    if docker_host.startswith("unix://") and not Path(socket_path).exists():
        pytest.skip(
            f"no Docker engine here ({socket_path} does not exist); the "
            "ClickHouse server backend is tested where Docker runs"
        )
    docker = pytest.importorskip(
        "docker", reason="the docker package is not installed"
    )
    client = docker.from_env()
    try:
        client.ping()
    finally:
        client.close()
    from testcontainers.clickhouse import ClickHouseContainer

    with ClickHouseContainer("clickhouse/clickhouse-server:24.8") as ch:
        host = ch.get_container_host_ip()
        port = ch.get_exposed_port(8123)
        yield f"http://{ch.username}:{ch.password}@{host}:{port}"


def test_metrics_round_trip_through_a_clickhouse_server(
    kafka_broker: str, clickhouse_url: str, tmp_path: Path
) -> None:
    """run.log → Kafka → ClickHouse server → get_metrics, same shapes."""
    server = ServerProcess(
        kafka_broker,
        tmp_path / "server",
        topic=f"runstream.server-backend.{uuid.uuid4().hex[:8]}",
        store_url=clickhouse_url,
    )
    server.start()
    ws = workspace_for(server, tmp_path / "artifacts")
    try:
        run = Experiment(ws, "server-backend").start_logging()
        run.log("a", 1)
        run.log_list("l", [0.5, 0.25])
        run.log_row("r", x=1, y="y")

        assert run.get_metrics() == {
            "a": 1,
            "l": [0.5, 0.25],
            "r": {"x": 1, "y": "y"},
        }
    finally:
        ws.close()
        server.kill()
