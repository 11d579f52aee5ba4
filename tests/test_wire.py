"""Tests for the Avro single-object encoding of events (``_wire.avro``)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import math
import uuid

import fastavro
import fastavro.schema
import pytest

from runstream._resources import schemas_dir
from runstream._wire.avro import (
    HEADER_BYTES,
    MARKER,
    body_type,
    current_schema,
    decode_event,
    encode_event,
    fingerprint,
)
from runstream.errors import SchemaError

EVENT_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
TIME_US = 1_700_000_000_123_456

BODIES = {
    "MetricPoints": {
        "name": "loss ≈",
        "kind": "TABLE",
        "column_names": ["a", "b"],
        "columns": [0, 1, 0],
        "steps": [0, 0, 1],
        "times_us": [TIME_US, TIME_US, TIME_US + 1],
        "value_types": bytes([2, 4, 3]),
        "doubles": [7.0, math.nan, -0.0],
        "ints": [7],
        "strings": ["日本"],
    },
    "RunStarted": {
        "experiment": "exp",
        "parent_run_id": "parent",
        "display_name": None,
        "run_type": "interactive",
        "description": None,
        "submitted_by": None,
        "definition": None,
    },
    "RunStatusChanged": {
        "status": "Failed",
        "error_code": "UserError",
        "error_message": "boom",
    },
    "TagsSet": {"tags": {"flag": None, "lr": "0.1"}},
    "ArtifactAdded": {
        "name": "outputs/model.pkl",
        "uri": "file:///tmp/model.pkl",
        "size_bytes": 12,
        "sha256": "0" * 64,
        "content_type": "application/octet-stream",
    },
}


def _event(branch="TagsSet", body=None):
    return {
        "event_id": str(EVENT_ID),
        "workspace": "ws",
        "run_id": "run-1",
        "writer": {
            "writer_id": "w1",
            "host": "h",
            "pid": 42,
            "rank": 3,
            "attempt": 2,
        },
        "seq": 5,
        "time_us": TIME_US,
        "body": (body_type(branch), BODIES[branch] if body is None else body),
    }


def _shipped_schema_json():
    path = schemas_dir() / "runstream.event.v1.avsc"
    return json.loads(path.read_text(encoding="utf-8"))


def _body_record(schema_json, name):
    body = next(f for f in schema_json["fields"] if f["name"] == "body")
    return next(b for b in body["type"] if b["name"] == name)


def _encode_with(schema_json, record):
    """Encode ``record`` single-object with a writer schema of the test's."""
    parsed = fastavro.parse_schema(schema_json)
    buffer = io.BytesIO()
    buffer.write(MARKER + fingerprint(parsed))
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue(), {fingerprint(parsed): parsed}


def _same(left, right):
    """Compare decoded values, NaN equal to NaN and -0.0 apart from 0.0."""
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return repr(left) == repr(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _same(left[k], right[k]) for k in left
        )
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(
            _same(a, b) for a, b in zip(left, right, strict=True)
        )

    return left == right


# -- round trips -------------------------------------------------------------


@pytest.mark.parametrize("branch", list(BODIES))
def test_decode_event_returns_what_encode_event_wrote(branch):
    """Every body branch survives an encode and decode unchanged."""
    event = _event(branch)

    decoded = decode_event(encode_event(event))

    assert decoded["body"][0] == body_type(branch)
    assert _same(decoded["body"][1], BODIES[branch])
    assert decoded["event_id"] == EVENT_ID
    assert decoded["writer"] == event["writer"]
    assert (decoded["workspace"], decoded["run_id"], decoded["seq"]) == (
        "ws",
        "run-1",
        5,
    )
    assert decoded["time_us"] == dt.datetime(
        2023, 11, 14, 22, 13, 20, 123456, tzinfo=dt.UTC
    )


def test_decode_event_keeps_special_doubles():
    """NaN, both infinities and -0.0 cross the wire bit for bit."""
    body = dict(
        BODIES["MetricPoints"],
        columns=[],
        column_names=[],
        kind="LIST",
        steps=[0, 1, 2, 3],
        times_us=[0, 0, 0, 0],
        value_types=bytes([3, 3, 3, 3]),
        doubles=[math.nan, math.inf, -math.inf, -0.0],
        ints=[],
        strings=[],
    )

    decoded = decode_event(encode_event(_event("MetricPoints", body)))

    doubles = decoded["body"][1]["doubles"]
    assert math.isnan(doubles[0])
    assert doubles[1:3] == [math.inf, -math.inf]
    assert math.copysign(1, doubles[3]) == -1


# -- header ------------------------------------------------------------------


def test_encode_event_starts_with_single_object_marker():
    """A message starts with C3 01 and holds a 10-byte header."""

    message = encode_event(_event())

    assert message[:2] == b"\xc3\x01"
    assert HEADER_BYTES == 10


def test_encode_event_header_carries_fastavro_fingerprint():
    """Bytes 2-10 are fastavro's CRC-64-AVRO fingerprint of the schema."""
    canonical = fastavro.schema.to_parsing_canonical_form(current_schema())
    expected = bytes.fromhex(
        fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    )

    message = encode_event(_event())

    assert message[2:HEADER_BYTES] == expected


def _crc64_avro(data: bytes) -> int:
    """Return the 64-bit Rabin fingerprint the Avro specification defines."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]

    return fp


def test_crc64_avro_helper_matches_specification_vector():
    """The test's own CRC-64-AVRO gives the known value for "int"."""

    value = _crc64_avro(b'"int"')

    assert value == 0x7275D51A3F395C8F


def test_encode_event_header_is_little_endian_crc64_of_canonical_form():
    """Bytes 2-10 read as a little-endian int are the spec's fingerprint."""
    canonical = fastavro.schema.to_parsing_canonical_form(current_schema())

    message = encode_event(_event())

    assert int.from_bytes(message[2:HEADER_BYTES], "little") == (
        _crc64_avro(canonical.encode())
    )


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc3", id="one-byte"),
        pytest.param(b"\xc3\x01\x00\x01", id="short-header"),
        pytest.param(b"garbage bytes, not avro", id="garbage"),
        pytest.param(b"\x00\x00" + bytes(20), id="wrong-marker"),
        pytest.param(b'{"json": "instead"}', id="json"),
    ],
)
def test_decode_event_raises_schema_error_when_not_single_object(message):
    """Bytes without the C3 01 header and a fingerprint are refused."""

    with pytest.raises(SchemaError) as caught:
        decode_event(message)

    assert "single-object" in str(caught.value)


@pytest.mark.parametrize(
    "keep",
    [
        pytest.param(HEADER_BYTES, id="header-only"),
        pytest.param(HEADER_BYTES + 5, id="cut-early"),
        pytest.param(-1, id="last-byte-missing"),
    ],
)
def test_decode_event_raises_schema_error_when_truncated(keep):
    """A message cut short does not decode."""
    message = encode_event(_event("MetricPoints"))

    with pytest.raises(SchemaError) as caught:
        decode_event(message[:keep])

    assert "does not decode" in str(caught.value)


def test_decode_event_raises_schema_error_when_datum_is_garbage():
    """A valid header followed by garbage does not decode."""
    header = encode_event(_event())[:HEADER_BYTES]

    with pytest.raises(SchemaError):
        decode_event(header + b"\xff" * 40)


def test_decode_event_raises_schema_error_when_fingerprint_is_unknown():
    """A writer schema the reader does not know is refused, by fingerprint."""
    message = encode_event(_event())
    unknown = MARKER + bytes(range(1, 9)) + message[HEADER_BYTES:]

    with pytest.raises(SchemaError) as caught:
        decode_event(unknown, extra_schemas={b"\x00" * 8: current_schema()})

    assert "unknown writer schema fingerprint" in str(caught.value)


def test_decode_event_raises_schema_error_when_time_is_out_of_range():
    """A timestamp that Python cannot represent is a contract error."""
    event = dict(_event(), time_us=2**62)

    with pytest.raises(SchemaError):
        decode_event(encode_event(event))


# -- schema resolution -------------------------------------------------------


def test_decode_event_reads_older_writer_with_field_default():
    """An event from a writer without Writer.rank reads with rank 0."""
    older = _shipped_schema_json()
    writer_type = next(f for f in older["fields"] if f["name"] == "writer")
    writer_type["type"]["fields"] = [
        f for f in writer_type["type"]["fields"] if f["name"] != "rank"
    ]
    record = copy.deepcopy(_event("MetricPoints"))
    del record["writer"]["rank"]
    message, extra = _encode_with(older, record)

    decoded = decode_event(message, extra_schemas=extra)

    assert decoded["writer"] == {
        "writer_id": "w1",
        "host": "h",
        "pid": 42,
        "rank": 0,
        "attempt": 1,
    }
    assert _same(decoded["body"][1], BODIES["MetricPoints"])


def test_decode_event_reads_older_writer_without_body_field():
    """An older RunStarted without run_type reads with its default."""
    older = _shipped_schema_json()
    started = _body_record(older, "RunStarted")
    started["fields"] = [
        f for f in started["fields"] if f["name"] != "run_type"
    ]
    body = {k: v for k, v in BODIES["RunStarted"].items() if k != "run_type"}
    message, extra = _encode_with(older, _event("RunStarted", body))

    decoded = decode_event(message, extra_schemas=extra)

    assert decoded["body"] == (
        body_type("RunStarted"),
        {**body, "run_type": "interactive"},
    )


def test_decode_event_raises_schema_error_when_older_writer_is_unknown():
    """Without extra_schemas, an unshipped older writer is refused."""
    older = _shipped_schema_json()
    older["fields"] = [f for f in older["fields"] if f["name"] != "seq"]
    record = {k: v for k, v in _event().items() if k != "seq"}
    message, _ = _encode_with(older, record)

    with pytest.raises(SchemaError):
        decode_event(message)


def test_decode_event_reads_newer_writer_with_extra_fields():
    """Fields a newer writer added are dropped by the current reader."""
    newer = _shipped_schema_json()
    newer["fields"].insert(
        3, {"name": "trace_id", "type": "string", "default": ""}
    )
    points = _body_record(newer, "MetricPoints")
    points["fields"].append(
        {"name": "unit", "type": ["null", "string"], "default": None}
    )
    record = _event("MetricPoints", {**BODIES["MetricPoints"], "unit": "s"})
    record["trace_id"] = "abc"
    message, extra = _encode_with(newer, record)

    decoded = decode_event(message, extra_schemas=extra)

    assert "trace_id" not in decoded
    assert _same(decoded["body"][1], BODIES["MetricPoints"])


def test_decode_event_reads_newer_writer_with_field_without_default():
    """A new field without a default is skipped by the reader as well."""
    newer = _shipped_schema_json()
    newer["fields"].append({"name": "region", "type": "long"})
    record = dict(_event(), region=7)
    message, extra = _encode_with(newer, record)

    decoded = decode_event(message, extra_schemas=extra)

    assert "region" not in decoded
    assert decoded["body"] == (body_type("TagsSet"), BODIES["TagsSet"])


def test_decode_event_raises_schema_error_when_newer_body_is_unknown():
    """An event whose body branch the reader lacks is a contract error."""
    newer = _shipped_schema_json()
    body = next(f for f in newer["fields"] if f["name"] == "body")
    body["type"].append(
        {
            "type": "record",
            "name": "RunDeleted",
            "fields": [{"name": "reason", "type": "string"}],
        }
    )
    record = dict(_event(), body=(body_type("RunDeleted"), {"reason": "x"}))
    message, extra = _encode_with(newer, record)

    with pytest.raises(SchemaError):
        decode_event(message, extra_schemas=extra)


def test_decode_event_raises_schema_error_when_writer_lacks_required_field():
    """A writer without a field the reader needs and has no default for."""
    older = _shipped_schema_json()
    older["fields"] = [f for f in older["fields"] if f["name"] != "seq"]
    record = {k: v for k, v in _event().items() if k != "seq"}
    message, extra = _encode_with(older, record)

    with pytest.raises(SchemaError):
        decode_event(message, extra_schemas=extra)


# -- schema versions ---------------------------------------------------------


def test_v1_events_decode_into_the_current_schema():
    """An event a v1 writer sent still decodes after v2 added kinds and
    branches."""
    record = _event("MetricPoints")
    message, _ = _encode_with(_shipped_schema_json(), record)

    decoded = decode_event(message)

    assert decoded["body"][1]["kind"] == "TABLE"


_MODEL = {
    "registration_id": str(EVENT_ID),
    "name": "m",
    "path": "outputs/m.pkl",
    "files": ["outputs/m.pkl"],
    "experiment": "e",
    "description": None,
    "tags": {"a": "1"},
    "properties": {},
}


@pytest.mark.parametrize(
    ("branch", "body", "field", "expected"),
    [
        pytest.param(
            "MetricPoints",
            dict(BODIES["MetricPoints"], kind="CONFUSION_MATRIX"),
            "kind",
            "CONFUSION_MATRIX",
            id="json-kind",
        ),
        pytest.param(
            "TagsRemoved", {"keys": ["a", "b"]}, "keys", ["a", "b"], id="tags"
        ),
        pytest.param(
            "ModelRegistered", _MODEL, "tags", {"a": "1"}, id="model"
        ),
    ],
)
def test_v2_kinds_and_branches_round_trip(branch, body, field, expected):
    """The JSON metric kinds, TagsRemoved and ModelRegistered survive an
    encode and decode."""
    event = _event("TagsSet")
    event["body"] = (body_type(branch), body)

    decoded = decode_event(encode_event(event))

    assert decoded["body"][0] == body_type(branch)
    assert decoded["body"][1][field] == expected
