"""The store goes away for a while: the consumer waits, then stores all.

The events travel through the real broker and land in a real embedded
store; the store is made to refuse inserts for a few seconds, the way a
ClickHouse server refuses them while it restarts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from structlog.testing import capture_logs

from runstream._store import open_store
from runstream._store.backends import Params, Store
from runstream._store.schema import ensure_schema
from runstream.consumer import ConsumerSettings, Materializer
from runstream.errors import StoreError
from runstream.producer._emitter import EmitterSettings, get_emitter
from runstream.producer._values import to_cell
from runstream.query._reads import read_metrics

pytestmark = pytest.mark.e2e


class UnavailableFor(Store):
    """A real store that refuses inserts during a window of time."""

    def __init__(self, store: Store, seconds: float) -> None:
        self.store = store
        self.database = store.database
        self.seconds = seconds
        self.down_since: float | None = None
        self.refused = 0

    def command(self, sql: str, params: Params | None = None) -> None:
        self.store.command(sql, params)

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        return self.store.query(sql, params)

    def insert(self, table: str, rows: pa.Table) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
        if time.monotonic() - self.down_since < self.seconds:
            self.refused += 1
            raise StoreError("Code: 210. Connection refused (injected)")
        self.store.insert(table, rows)

    def close(self) -> None:
        self.store.close()


def test_consumer_retries_while_the_store_is_down_and_loses_nothing(
    kafka_broker: str, tmp_path: Path
) -> None:
    """Inserts fail for 3 s; every point is stored once afterwards."""
    topic = f"store-outage.{uuid.uuid4().hex[:8]}"
    real = open_store(f"chdb://{tmp_path / 'store'}")
    ensure_schema(real)
    flaky = UnavailableFor(real, seconds=3.0)
    emitter = get_emitter(EmitterSettings(bootstrap=kafka_broker, topic=topic))
    stream = emitter.stream("ws", "run-1")
    for i in range(2_000):
        stream.add_point("v", None, i, to_cell("test", "value", i))
    assert emitter.flush(60)

    async def consume_until_stored() -> list[int]:
        stop = asyncio.Event()
        settings = ConsumerSettings(
            bootstrap=kafka_broker, topic=topic, group_id=topic
        )
        task = asyncio.create_task(Materializer(flaky, settings).run(stop))
        values: list[int] = []
        try:
            for _ in range(300):
                await asyncio.sleep(0.1)
                values = read_metrics(real, "ws", "run-1").get("v", [])
                if len(values) >= 2_000:
                    break
        finally:
            stop.set()
            await task
        return values

    try:
        with capture_logs() as logs:
            values = asyncio.run(consume_until_stored())
    finally:
        emitter.close(10)
        real.close()

    assert flaky.refused >= 2
    assert any(e["event"] == "consumer.write_failed" for e in logs)
    assert values == list(range(2_000))
