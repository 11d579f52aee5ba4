"""The ``runstream`` command: start, stop and run the pieces."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import structlog

from runstream._config import SERVER_SCHEMES, state_dir
from runstream._wire.topics import DEFAULT_EVENTS_TOPIC


def _configure_logging(level: str) -> None:
    renderer: structlog.typing.Processor
    if sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


_home = click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="State directory (default: $RUNSTREAM_HOME or "
    "~/.local/state/runstream).",
)
_bootstrap = click.option(
    "--kafka-bootstrap",
    envvar="RUNSTREAM_KAFKA_BOOTSTRAP",
    required=True,
    show_envvar=True,
    help="Kafka bootstrap servers, host:port[,host:port].",
)
_topic = click.option(
    "--topic",
    default=DEFAULT_EVENTS_TOPIC,
    show_default=True,
    help="Kafka topic of runstream events.",
)
_log_level = click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)


@click.group()
def main() -> None:
    """runstream: experiment tracking on Kafka and ClickHouse."""


@main.command()
@_home
@click.option(
    "--server-port",
    type=int,
    default=None,
    help="Port of the query API (default 8765, or a free one).",
)
def up(home: Path | None, server_port: int | None) -> None:
    """Start a local Kafka broker and the runstream server in the background.

    The broker is Apache Kafka in KRaft mode, fetched from Maven Central on
    first use; the server runs the consumer and the query API on the
    embedded ClickHouse store. Both bind 127.0.0.1 and keep their data
    under the state directory. Scripts then need no configuration. Running
    it again while the stack is up only prints where it listens.
    """
    from runstream._local.stack import LocalStack

    stack = LocalStack(home or state_dir())
    endpoints = stack.up(server_port=server_port)
    click.echo(f"kafka:     {endpoints.kafka_bootstrap}")
    click.echo(f"server:    {endpoints.server_url}")
    click.echo(f"artifacts: {endpoints.artifacts_url}")
    click.echo(f"state:     {stack.home}")
    if home is not None and home != state_dir():
        click.echo(
            f"scripts find this stack with: export RUNSTREAM_HOME={home}"
        )


@main.command()
@_home
def down(home: Path | None) -> None:
    """Stop the server and the broker that `runstream up` started.

    Their data stays in the state directory for the next `runstream up`.
    Scripts still logging keep their events queued in memory and send them
    when the broker is back.
    """
    from runstream._local.stack import LocalStack

    LocalStack(home or state_dir()).down()
    click.echo("runstream stopped")


@main.command()
@_bootstrap
@_topic
@click.option(
    "--store",
    "store_url",
    required=True,
    help="chdb:///path for the embedded store, or a ClickHouse "
    "server URL (http://user:pass@host:8123).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address the query API listens on.",
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=int,
    help="Port the query API listens on.",
)
@_log_level
def server(
    kafka_bootstrap: str,
    topic: str,
    store_url: str,
    host: str,
    port: int,
    log_level: str,
) -> None:
    """Run the consumer and the HTTP query API in the foreground.

    Events from Kafka are written to the store; /api/v1 answers reads
    (get_metrics and run records) from the same store.
    """
    from runstream.consumer import ConsumerSettings
    from runstream.server import ServerSettings, serve

    _configure_logging(log_level)
    settings = ServerSettings(
        consumer=ConsumerSettings(bootstrap=kafka_bootstrap, topic=topic),
        store_url=store_url,
        host=host,
        port=port,
    )
    asyncio.run(serve(settings))


@main.command()
@_bootstrap
@_topic
@click.option(
    "--store",
    "store_url",
    required=True,
    help="ClickHouse server URL, e.g. http://user:pass@host:8123.",
)
@_log_level
def consume(
    kafka_bootstrap: str, topic: str, store_url: str, log_level: str
) -> None:
    """Run only the consumer: Kafka events into a ClickHouse server.

    Several `runstream consume` processes share the work as one consumer
    group. The embedded store belongs to one process; use `runstream
    server` for it.
    """
    from runstream.consumer import ConsumerSettings
    from runstream.server import consume as run_consumer

    if urlsplit(store_url).scheme not in SERVER_SCHEMES:
        raise click.BadParameter(
            "the embedded store belongs to one process; run `runstream "
            "server` for it, or pass a ClickHouse server URL",
            param_hint="--store",
        )
    _configure_logging(log_level)
    settings = ConsumerSettings(bootstrap=kafka_bootstrap, topic=topic)
    asyncio.run(run_consumer(settings, store_url))


@main.command()
@click.argument(
    "path",
    required=False,
    type=click.Path(path_type=Path),
)
@click.option(
    "--kafka-bootstrap",
    envvar="RUNSTREAM_KAFKA_BOOTSTRAP",
    show_envvar=True,
    default=None,
    help="Kafka bootstrap servers (default: the configured workspace's).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Also send spools whose process still seems to run.",
)
def sync(path: Path | None, kafka_bootstrap: str | None, force: bool) -> None:
    """Send events that training processes spooled while Kafka was away.

    A process whose broker was unreachable when it ended leaves its events
    in a spool folder (by default under the state directory's `spool`).
    PATH is one spool folder or a folder of them. Events already stored are
    stored once, so syncing twice is safe.
    """
    from runstream._config import resolve_endpoints
    from runstream.producer._sync import sync_spools

    root = path or state_dir() / "spool"
    bootstrap = kafka_bootstrap or resolve_endpoints().kafka_bootstrap
    reports = asyncio.run(sync_spools(root, bootstrap, force=force))
    if not reports:
        click.echo(f"no spooled events under {root}")
    for report in reports:
        if report.skipped_reason:
            click.echo(f"skipped {report.spool}: {report.skipped_reason}")
        else:
            click.echo(f"sent {report.sent} events from {report.spool}")


if __name__ == "__main__":
    main()
