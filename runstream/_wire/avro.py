"""Avro single-object encoding of runstream events.

Each Kafka message value is one event: the two marker bytes ``C3 01``, the
8-byte CRC-64-AVRO fingerprint of the writer schema (little-endian), then the
binary datum (Avro specification, "Single-object encoding"). The fingerprint
lets a reader pick the writer schema among every version runstream ships and
resolve it against its own, so old and new writers can share one topic.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import fastavro
import fastavro.schema
from fastavro.read import SchemaResolutionError

from runstream._resources import schemas_dir
from runstream.errors import SchemaError

MARKER = b"\xc3\x01"
HEADER_BYTES = 10
EVENT_SCHEMA_PREFIX = "runstream.event.v"
NAMESPACE = "io.runstream.v1"


def fingerprint(parsed_schema: Any) -> bytes:
    """Return the 8-byte little-endian CRC-64-AVRO fingerprint of a schema."""
    canonical = fastavro.schema.to_parsing_canonical_form(parsed_schema)
    # fastavro's hex digits already spell the little-endian bytes the
    # single-object header wants (as Java's SchemaNormalization writes them).
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


@cache
def event_schemas() -> dict[int, Any]:
    """Return every shipped event schema version, parsed, by version."""
    versions: dict[int, Any] = {}
    for path in schemas_dir().glob(f"{EVENT_SCHEMA_PREFIX}*.avsc"):
        version = int(path.stem.removeprefix(EVENT_SCHEMA_PREFIX))
        with path.open(encoding="utf-8") as file:
            versions[version] = fastavro.parse_schema(json.load(file))

    if not versions:
        raise SchemaError(f"no {EVENT_SCHEMA_PREFIX}*.avsc in {schemas_dir()}")

    return versions


@cache
def writer_schemas() -> dict[bytes, Any]:
    """Return the shipped event schemas keyed by their fingerprint."""
    return {fingerprint(s): s for s in event_schemas().values()}


def current_schema() -> Any:
    """Return the newest event schema: what this runstream writes."""
    versions = event_schemas()
    return versions[max(versions)]


@cache
def _current_header() -> bytes:
    return MARKER + fingerprint(current_schema())


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Encode one event record with the current schema, single-object."""
    buffer = io.BytesIO()
    buffer.write(_current_header())
    fastavro.schemaless_writer(buffer, current_schema(), event)
    return buffer.getvalue()


def decode_event(
    message: bytes, extra_schemas: Mapping[bytes, Any] | None = None
) -> dict[str, Any]:
    """Decode one single-object encoded event into the current schema.

    ``extra_schemas`` adds writer schemas that this runstream does not ship
    (a newer writer's, fetched from elsewhere), keyed by fingerprint.

    Raises:
        SchemaError: the bytes are not a single-object event, the writer
            schema is unknown, or the datum does not decode.
    """
    if len(message) < HEADER_BYTES or message[:2] != MARKER:
        raise SchemaError(
            "not an Avro single-object encoded event "
            f"(starts with {message[:2].hex() or 'nothing'}, want c301)"
        )

    print_ = message[2:HEADER_BYTES]
    writer = writer_schemas().get(print_)
    if writer is None and extra_schemas is not None:
        writer = extra_schemas.get(print_)
    if writer is None:
        raise SchemaError(f"unknown writer schema fingerprint {print_.hex()}")

    try:
        record: dict[str, Any] = fastavro.schemaless_reader(  # type: ignore[assignment]
            io.BytesIO(message[HEADER_BYTES:]),
            writer,
            current_schema(),
            return_record_name=True,
        )
    except (
        SchemaResolutionError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        OverflowError,
        UnicodeDecodeError,
    ) as exc:
        raise SchemaError(f"event does not decode: {exc}") from exc

    return record


def body_type(name: str) -> str:
    """Return the full Avro name of an event body branch, e.g. MetricPoints."""
    return f"{NAMESPACE}.{name}"
