"""Kafka topic names, shared by every writer and reader of events."""

from __future__ import annotations

DEFAULT_EVENTS_TOPIC = "runstream.events"


def dead_letter_topic(events_topic: str) -> str:
    """Return the topic that keeps events the consumer could not use."""
    return f"{events_topic}.dead-letter"
