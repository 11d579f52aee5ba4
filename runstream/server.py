"""``runstream server``: the consumer and the query API in one process.

The embedded store belongs to one process, so the process that writes it
(the consumer) also answers reads from it (the API). With a ClickHouse
server, the two can also run apart (``runstream consume``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import attrs
import structlog
import uvicorn

from runstream._store import open_store
from runstream._store.schema import ensure_schema
from runstream.consumer import ConsumerSettings, Materializer
from runstream.query.api import create_app

log = structlog.get_logger(component="server")


@attrs.frozen
class ServerSettings:
    """Where the server listens, reads events from, and stores them."""

    consumer: ConsumerSettings
    store_url: str
    host: str = "127.0.0.1"
    port: int = 8765
    database: str = "runstream"


async def serve(settings: ServerSettings) -> None:
    """Run the consumer and the HTTP API until SIGINT or SIGTERM."""
    store = open_store(settings.store_url, settings.database)
    ensure_schema(store)
    materializer = Materializer(store, settings.consumer)

    def health() -> dict[str, Any]:
        return {
            "consumer": {
                "events_written": materializer.events_written,
                "points_written": materializer.points_written,
                "dead_lettered": materializer.dead_lettered,
                "lag": sum(materializer.lag.values()),
                "partitions": sorted(materializer.partitions),
            }
        }

    app = create_app(store, health=health)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    stop = asyncio.Event()
    consumer = asyncio.create_task(materializer.run(stop))

    def consumer_done(task: asyncio.Task[None]) -> None:
        # A consumer that dies takes the server down with it: a server that
        # answers reads but stores nothing would hide the failure.
        if not task.cancelled() and task.exception() is not None:
            log.error("server.consumer_failed", error=str(task.exception()))
            server.should_exit = True

    consumer.add_done_callback(consumer_done)
    log.info(
        "server.started",
        host=settings.host,
        port=settings.port,
        store=settings.store_url,
        bootstrap=settings.consumer.bootstrap,
    )
    try:
        await server.serve()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await consumer
        store.close()
        log.info("server.stopped")
    if consumer.done() and not consumer.cancelled() and consumer.exception():
        raise SystemExit(1)


async def consume(settings: ConsumerSettings, store_url: str) -> None:
    """Run only the consumer, writing to a ClickHouse server."""
    store = open_store(store_url)
    ensure_schema(store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Materializer(store, settings).run(stop)
    finally:
        store.close()
