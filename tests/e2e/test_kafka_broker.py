"""The local Kafka broker answers aiokafka and keeps its data on restart."""

from __future__ import annotations

import asyncio
import shutil
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from runstream._local.kafka import LocalKafka

pytestmark = pytest.mark.e2e


def _unique_topic() -> str:
    return f"test-kafka-broker-{uuid.uuid4().hex}"


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            # One key keeps every message on one partition, in order.
            await producer.send_and_wait(topic, value, key=b"one")
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-reader",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        values = []
        async with asyncio.timeout(60):
            while len(values) < count:
                record = await consumer.getone()
                values.append(record.value)
    finally:
        await consumer.stop()

    return values


def test_consumer_reads_what_producer_wrote(kafka_broker):
    """Messages produced through aiokafka come back in order from a group."""
    topic = _unique_topic()
    sent = [f"message {n}".encode() for n in range(5)]

    asyncio.run(_produce(kafka_broker, topic, sent))
    received = asyncio.run(_consume(kafka_broker, topic, len(sent)))

    assert sent == received


@pytest.mark.skipif(
    shutil.which("java") is None, reason="LocalKafka needs java on PATH"
)
def test_messages_survive_restart_of_same_state_dir(tmp_path):
    """A broker stopped and started on the same folder keeps its messages."""
    broker = LocalKafka(tmp_path / "kafka")
    topic = _unique_topic()
    sent = [f"durable {n}".encode() for n in range(3)]
    try:
        first_bootstrap = broker.start()
        asyncio.run(_produce(first_bootstrap, topic, sent))
        # A second handle stops the broker through the pid file, as
        # another process would.
        LocalKafka(tmp_path / "kafka").stop()
        stopped = not broker.is_running()

        second_bootstrap = broker.start()
        received = asyncio.run(_consume(second_bootstrap, topic, len(sent)))
    finally:
        broker.stop()

    assert stopped
    assert first_bootstrap == second_bootstrap
    assert sent == received
    assert not broker.is_running()
