"""Consume events from Kafka and write them to ClickHouse, column-wise.

Offsets are committed only after every row of a batch is stored, so a
crash replays the batch; replayed rows carry the same identity and the
store keeps one copy of each (see ``runstream._store.schema``). A message
that cannot be used goes to the dead-letter topic with its reason, and the
consumer moves on. When the store fails, the consumer retries the same
batch with backoff and fetches nothing new until it succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
)
from aiokafka.structs import TopicPartition

from runstream._store.backends import Store
from runstream._wire.avro import decode_event
from runstream._wire.topics import DEFAULT_EVENTS_TOPIC, dead_letter_topic
from runstream.consumer._rows import RowBuilder
from runstream.errors import SchemaError, StoreError

log = structlog.get_logger(component="consumer")


@attrs.frozen
class ConsumerSettings:
    """How the materializer reads Kafka and writes the store."""

    bootstrap: str
    topic: str = DEFAULT_EVENTS_TOPIC
    group_id: str = "runstream-materializer"
    #: Partitions the events topic is created with, when it does not exist.
    partitions: int = 6
    max_batch_records: int = 20_000
    fetch_timeout_ms: int = 100
    max_retry_delay_s: float = 10.0


async def ensure_topics(bootstrap: str, topic: str, partitions: int) -> None:
    """Create the events topic and its dead-letter topic if missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=count, replication_factor=1)
            for name, count in (
                (topic, partitions),
                (dead_letter_topic(topic), 1),
            )
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                # Another consumer created it between the list and now.
                log.debug("consumer.topic_exists", topic=topic)
    finally:
        await admin.close()


def decode_records(
    records: list[ConsumerRecord[bytes, bytes]],
) -> tuple[RowBuilder, list[tuple[ConsumerRecord[bytes, bytes], str]]]:
    """Decode a batch into rows; return the rows and the rejected records."""
    rows = RowBuilder()
    rejected = []
    for record in records:
        try:
            rows.add(decode_event(record.value or b""))
        except SchemaError as exc:
            rejected.append((record, str(exc)))

    return rows, rejected


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """Keeps the partitions this member owns, for health reports."""

    def __init__(self, owner: Materializer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner.partitions = set()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.partitions = {tp.partition for tp in assigned}
        log.info(
            "consumer.partitions_assigned",
            partitions=sorted(self.owner.partitions),
        )


class Materializer:
    """One member of the consumer group that fills the store."""

    def __init__(self, store: Store, settings: ConsumerSettings) -> None:
        self.store = store
        self.settings = settings
        self.events_written = 0
        self.points_written = 0
        self.dead_lettered = 0
        self.lag: dict[int, int] = {}
        #: Partitions this member owns now; empty until the group is joined.
        self.partitions: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; commit only what is stored."""
        s = self.settings
        await ensure_topics(s.bootstrap, s.topic, s.partitions)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        dead_letters = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap, acks="all", enable_idempotence=True
        )
        consumer.subscribe([s.topic], listener=_Assignment(self))
        await consumer.start()
        await dead_letters.start()
        log.info("consumer.started", topic=s.topic, group_id=s.group_id)
        try:
            while not stop.is_set():
                batches = await consumer.getmany(
                    timeout_ms=s.fetch_timeout_ms,
                    max_records=s.max_batch_records,
                )
                if batches:
                    await self._handle(consumer, dead_letters, batches, stop)
        finally:
            await consumer.stop()
            await dead_letters.stop()
            log.info("consumer.stopped", events=self.events_written)

    async def _handle(
        self,
        consumer: AIOKafkaConsumer,
        dead_letters: AIOKafkaProducer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        stop: asyncio.Event,
    ) -> None:
        loop = asyncio.get_running_loop()
        records = [r for batch in batches.values() for r in batch]
        started = time.monotonic()
        # Decoding is CPU work; it runs off the loop so fetches and the
        # HTTP API stay responsive.
        rows, rejected = await loop.run_in_executor(
            None, decode_records, records
        )
        tables = rows.tables()

        async def write() -> None:
            for table, arrow_rows in tables.items():
                await loop.run_in_executor(
                    None, self.store.insert, table, arrow_rows
                )

        if not await self._with_backoff(write, stop, "store_write"):
            return
        for record, reason in rejected:

            async def dead_letter(
                record: ConsumerRecord[bytes, bytes] = record,
                reason: str = reason,
            ) -> None:
                await self._dead_letter(dead_letters, record, reason)

            if not await self._with_backoff(dead_letter, stop, "dead_letter"):
                return

        await self._commit(consumer, batches)
        self.events_written += rows.events
        self.points_written += rows.points
        for tp, batch in batches.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.lag[tp.partition] = highwater - batch[-1].offset - 1
        log.debug(
            "consumer.batch_written",
            events=rows.events,
            points=rows.points,
            rejected=len(rejected),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            lag=sum(self.lag.values()),
        )

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        offsets = {tp: batch[-1].offset + 1 for tp, batch in batches.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved these partitions to another member during the
            # batch. The new owner replays from the last commit; the rows
            # are already stored and replays are stored once.
            log.warning(
                "consumer.commit_skipped",
                partitions=sorted(tp.partition for tp in offsets),
                error=str(exc),
            )

    async def _with_backoff(
        self,
        operation: Callable[[], Awaitable[None]],
        stop: asyncio.Event,
        what: str,
    ) -> bool:
        """Run ``operation`` until it succeeds; False if stopped first."""
        attempt = 0
        while True:
            try:
                await operation()
                return True
            except (StoreError, KafkaError) as exc:
                attempt += 1
                retry_in_s = min(
                    self.settings.max_retry_delay_s, 0.1 * 2**attempt
                )
                log.warning(
                    "consumer.write_failed",
                    target=what,
                    attempt=attempt,
                    retry_in_s=retry_in_s,
                    error=str(exc)[:500],
                )
                try:
                    await asyncio.wait_for(stop.wait(), retry_in_s)
                    return False
                except TimeoutError:
                    continue

    async def _dead_letter(
        self,
        producer: AIOKafkaProducer,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
    ) -> None:
        headers = [
            ("reason", reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        await producer.send_and_wait(
            dead_letter_topic(record.topic),
            record.value,
            key=record.key,
            headers=headers,
        )
        self.dead_lettered += 1
        log.warning(
            "consumer.event_dead_lettered",
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
