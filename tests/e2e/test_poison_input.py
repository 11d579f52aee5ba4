"""Messages the consumer cannot use go to the dead-letter topic, with why."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from runstream import Experiment, Workspace
from runstream._wire.avro import MARKER
from runstream._wire.topics import dead_letter_topic
from tests._server import ServerProcess

pytestmark = pytest.mark.e2e


async def _publish(bootstrap: str, topic: str, messages: dict[bytes, bytes]):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in messages.items():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _dead_letters(
    bootstrap: str, topic: str, keys: set[bytes]
) -> dict[bytes, dict[str, bytes]]:
    consumer = AIOKafkaConsumer(
        dead_letter_topic(topic),
        bootstrap_servers=bootstrap,
        group_id=f"dlq-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: dict[bytes, dict[str, bytes]] = {}
    try:
        async with asyncio.timeout(60):
            while not keys <= set(found):
                record = await consumer.getone()
                if record.key in keys:
                    found[record.key] = dict(record.headers)
    finally:
        await consumer.stop()

    return found


def test_garbage_and_unknown_schemas_are_dead_lettered_and_skipped(
    runstream_server: ServerProcess, workspace: Workspace
) -> None:
    """Poison messages land in the dead-letter topic; the rest is stored."""
    tag = uuid.uuid4().hex.encode()
    poison = {
        b"garbage-" + tag: b"\x00not avro at all",
        b"unknown-" + tag: MARKER + b"\x01" * 8 + b"\x02\x04",
        b"truncated-" + tag: MARKER + b"\x00" * 3,
    }
    run = Experiment(workspace, "poison").start_logging()
    run.log("before", 1)
    run.flush()

    asyncio.run(
        _publish(runstream_server.bootstrap, runstream_server.topic, poison)
    )
    run.log("after", 2)
    metrics = run.get_metrics()
    dead = asyncio.run(
        _dead_letters(
            runstream_server.bootstrap, runstream_server.topic, set(poison)
        )
    )

    assert metrics == {"before": 1, "after": 2}
    assert b"not an Avro single-object" in dead[b"garbage-" + tag]["reason"]
    assert b"unknown writer schema" in dead[b"unknown-" + tag]["reason"]
    assert b"not an Avro single-object" in dead[b"truncated-" + tag]["reason"]
    assert runstream_server.health()["consumer"]["dead_lettered"] >= 3
