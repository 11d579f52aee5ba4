"""The materializer: a consumer group that writes events to ClickHouse."""

from runstream.consumer._materializer import ConsumerSettings, Materializer

__all__ = ["ConsumerSettings", "Materializer"]
