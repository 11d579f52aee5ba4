"""Fixtures: a real Kafka broker and a real runstream server per session.

Every test gets a workspace of its own, so tests that share the session's
server never see each other's runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream import Workspace
from runstream.producer._emitter import close_all
from tests._kafka import kafka_broker  # noqa: F401 (a fixture, used by name)
from tests._server import ServerProcess


@pytest.fixture(scope="session")
def runstream_server(
    kafka_broker: str,  # noqa: F811 (the fixture imported above)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """Yield the session's ``runstream server`` (consumer + query API)."""
    server = ServerProcess(
        kafka_broker,
        tmp_path_factory.mktemp("server"),
        topic=f"runstream.test.{uuid.uuid4().hex[:8]}",
    )
    try:
        server.start()
    except RuntimeError as exc:
        pytest.exit(f"the test runstream server did not start: {exc}", 3)
    yield server
    # Send what the test process still holds before the broker goes away.
    close_all()
    server.stop()


def run_id_in(output: str) -> str:
    """Return the id a script printed as ``run_id=<id>``.

    Scripts print their run id with a marker, since the SDK's warnings
    (a broker that does not answer yet) may reach stdout too.
    """
    for line in output.splitlines():
        if line.startswith("run_id="):
            return line.removeprefix("run_id=").strip()

    raise AssertionError(f"no run_id= line in the output:\n{output}")


def workspace_for(server: ServerProcess, artifacts: Path) -> Workspace:
    """Return a fresh workspace that talks to ``server``."""
    return Workspace(
        f"ws-{uuid.uuid4().hex[:12]}",
        kafka_bootstrap=server.bootstrap,
        server_url=server.url,
        artifacts_url=str(artifacts),
        topic=server.topic,
    )


@pytest.fixture
def workspace(
    runstream_server: ServerProcess, tmp_path: Path
) -> Iterator[Workspace]:
    """Yield a workspace of this test's own on the session's server."""
    ws = workspace_for(runstream_server, tmp_path / "artifacts")
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own folder, since runs create ./outputs."""
    monkeypatch.chdir(tmp_path)
