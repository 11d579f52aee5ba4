"""The session's Kafka broker: a real one on 127.0.0.1, or one named by env.

``tests/conftest.py`` imports :func:`kafka_broker` from here. Set
``RUNSTREAM_TEST_KAFKA=HOST:PORT`` to run the suite against a broker that
is already up; otherwise one starts from ``deploy/kafka`` on free ports in
a temporary folder and stops when the session ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runstream._local.kafka import LocalKafka, LocalKafkaError

# A cold JVM on a busy two-core machine can take half a minute or more.
_START_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def kafka_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """Yield the bootstrap address of a broker shared by the whole session."""
    external = os.environ.get("RUNSTREAM_TEST_KAFKA")
    if external:
        yield external
        return

    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    try:
        bootstrap = broker.start(timeout_s=_START_TIMEOUT_S)
    except LocalKafkaError as exc:
        # The message already ends with the tail of the broker's logs;
        # pytest prints an exit reason in full, captured output it may not.
        pytest.exit(f"the test Kafka broker did not start: {exc}", 3)

    try:
        yield bootstrap
    finally:
        broker.stop()
