"""Tests for turning decoded events into Arrow rows (``consumer._rows``)."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pyarrow as pa
import pytest

from runstream._limits import MAX_NAME_CHARS
from runstream._wire.avro import body_type
from runstream._wire.values import ValueType
from runstream.consumer._rows import (
    POINT_COLUMNS,
    RowBuilder,
    check_metric_points,
)
from runstream.errors import SchemaError

T0 = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
T0_US = 1_704_164_645_678_901


def _points(**changes):
    """Return a coherent MetricPoints body of four mixed points."""
    body = {
        "name": "acc",
        "kind": "LIST",
        "column_names": [],
        "columns": [],
        "steps": [0, 1, 2, 3],
        "times_us": [T0_US] * 4,
        "value_types": bytes(
            [ValueType.INT, ValueType.STRING, ValueType.FLOAT, ValueType.INT]
        ),
        "doubles": [1.0, math.nan, 0.5, 9.0],
        "ints": [1, 9],
        "strings": ["text"],
    }
    body.update(changes)
    return body


def _event(branch, body, seq=1, writer_id="w1"):
    """Return an event shaped as decode_event returns it."""
    return {
        "event_id": uuid.uuid4(),
        "workspace": "ws",
        "run_id": "run-1",
        "writer": {"writer_id": writer_id, "host": "h", "pid": 7, "rank": 2},
        "seq": seq,
        "time_us": T0,
        "body": (body_type(branch), body),
    }


# -- check_metric_points -----------------------------------------------------


def test_check_metric_points_accepts_coherent_body():
    """A body whose per-point fields agree passes."""

    check_metric_points(_points())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"name": ""}, "metric name must be", id="empty-name"),
        pytest.param(
            {"name": "n" * (MAX_NAME_CHARS + 1)},
            "metric name must be",
            id="long-name",
        ),
        pytest.param(
            {"times_us": [0, 0, 0]},
            "times_us has 3 entries",
            id="times-short",
        ),
        pytest.param(
            {"value_types": bytes([2, 4, 3])},
            "value_types has 3",
            id="types-short",
        ),
        pytest.param(
            {"doubles": [1.0] * 5}, "doubles has 5", id="doubles-long"
        ),
        pytest.param(
            {"column_names": ["a"], "columns": [0, 0]},
            "columns do not match points",
            id="columns-short",
        ),
        pytest.param(
            {"column_names": ["a"], "columns": [0, 0, 1, 0]},
            "column index is out of range",
            id="column-index-too-big",
        ),
        pytest.param(
            {"column_names": ["a", "b"], "columns": [0, 1, -1, 0]},
            "column index is out of range",
            id="column-index-negative",
        ),
        pytest.param(
            {"columns": [0, 0, 0, 0]},
            "column index is out of range",
            id="columns-without-names",
        ),
        pytest.param(
            {"value_types": bytes([2, 4, 3, 9])},
            "unknown value type code",
            id="unknown-type-code",
        ),
        pytest.param({"ints": [1]}, "ints do not match", id="ints-short"),
        pytest.param({"ints": [1, 2, 3]}, "ints do not match", id="ints-long"),
        pytest.param(
            {"strings": []}, "strings do not match", id="strings-short"
        ),
        pytest.param(
            {"strings": ["a", "b"]},
            "strings do not match",
            id="strings-long",
        ),
    ],
)
def test_check_metric_points_raises_schema_error_when_incoherent(
    changes, message
):
    """A body whose per-point fields disagree is a contract error."""
    body = _points(**changes)

    with pytest.raises(SchemaError) as caught:
        check_metric_points(body)

    assert message in str(caught.value)


def test_check_metric_points_counts_bigint_text_as_strings():
    """An int beyond 64 bits carries its text in strings."""
    body = _points(
        value_types=bytes([5, 4, 3, 0]),
        ints=[],
        strings=[str(2**70), "s"],
    )

    check_metric_points(body)


# -- RowBuilder --------------------------------------------------------------


def test_row_builder_scatters_ints_and_strings_to_their_points():
    """value_int and value_str land on the points of their type only."""
    builder = RowBuilder()

    builder.add(_event("MetricPoints", _points()))
    points = builder.tables()["points"]

    assert points.column_names == list(POINT_COLUMNS)
    assert points.column("value_int").to_pylist() == [1, 0, 0, 9]
    assert points.column("value_str").to_pylist() == ["", "text", "", ""]
    assert points.column("value_type").to_pylist() == [2, 4, 3, 2]
    assert points.column("idx").to_pylist() == [0, 1, 2, 3]
    assert points.column("kind").to_pylist() == ["list"] * 4
    assert points.column("column_name").to_pylist() == [""] * 4
    assert points.column("step").to_pylist() == [0, 1, 2, 3]


def test_row_builder_types_point_columns_for_the_store():
    """The points table has the Arrow types the store's columns take."""
    builder = RowBuilder()

    builder.add(_event("MetricPoints", _points()))
    schema = builder.tables()["points"].schema

    assert schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("value_type").type == pa.uint8()
    assert schema.field("value").type == pa.float64()
    assert schema.field("value_int").type == pa.int64()
    assert schema.field("seq").type == pa.uint64()
    assert schema.field("idx").type == pa.uint32()


def test_row_builder_keeps_time_in_microseconds():
    """A point's time keeps its microseconds."""
    builder = RowBuilder()

    builder.add(_event("MetricPoints", _points()))
    times = builder.tables()["points"].column("time").to_pylist()

    assert times == [T0] * 4


def test_row_builder_resolves_column_names_of_table_points():
    """A table metric's column indices become column names."""
    body = _points(
        kind="TABLE",
        column_names=["epoch", "note"],
        columns=[0, 1, 0, 1],
        steps=[0, 0, 1, 1],
        value_types=bytes([2, 4, 2, 5]),
        doubles=[0.0, math.nan, 1.0, float(2**70)],
        ints=[0, 1],
        strings=["first", str(2**70)],
    )
    builder = RowBuilder()

    builder.add(_event("MetricPoints", body))
    points = builder.tables()["points"]

    assert points.column("column_name").to_pylist() == [
        "epoch",
        "note",
        "epoch",
        "note",
    ]
    assert points.column("value_int").to_pylist() == [0, 0, 1, 0]
    assert points.column("value_str").to_pylist() == [
        "",
        "first",
        "",
        str(2**70),
    ]
    assert points.column("kind").to_pylist() == ["table"] * 4


def test_row_builder_appends_events_in_order():
    """Points of several events follow each other with their own seq."""
    builder = RowBuilder()

    builder.add(_event("MetricPoints", _points(), seq=1))
    builder.add(_event("MetricPoints", _points(name="lr"), seq=2))
    points = builder.tables()["points"]

    assert builder.events == 2
    assert builder.points == 8
    assert points.column("seq").to_pylist() == [1] * 4 + [2] * 4
    assert points.column("name").to_pylist() == ["acc"] * 4 + ["lr"] * 4
    assert points.column("idx").to_pylist() == [0, 1, 2, 3] * 2


def test_row_builder_keeps_no_rows_of_incoherent_event():
    """An incoherent event is refused before any of its points are kept."""
    builder = RowBuilder()

    with pytest.raises(SchemaError):
        builder.add(_event("MetricPoints", _points(ints=[]), seq=4))
    tables = builder.tables()

    assert builder.events == 0
    assert builder.points == 0
    assert "points" not in tables


def test_row_builder_counts_incoherent_event_in_writer_progress():
    """A refused event still advances its writer, so readers stop waiting."""
    builder = RowBuilder()

    with pytest.raises(SchemaError):
        builder.add(_event("MetricPoints", _points(ints=[]), seq=4))
    progress = builder.tables()["writer_progress"].to_pylist()

    assert [(row["writer_id"], row["max_seq"]) for row in progress] == [
        ("w1", 4)
    ]


def test_row_builder_raises_schema_error_when_branch_is_unknown():
    """A body branch the consumer does not handle is a contract error."""
    builder = RowBuilder()

    with pytest.raises(SchemaError) as caught:
        builder.add(_event("RunDeleted", {}))

    assert "RunDeleted" in str(caught.value)


def test_row_builder_writes_run_updates_and_tags_and_artifacts():
    """Lifecycle, tag and artifact events go to their own tables."""
    builder = RowBuilder()

    builder.add(
        _event(
            "RunStarted",
            {
                "experiment": "exp",
                "parent_run_id": None,
                "display_name": "nice",
                "run_type": "interactive",
            },
            seq=1,
        )
    )
    builder.add(_event("TagsSet", {"tags": {"a": "1", "b": None}}, seq=2))
    builder.add(
        _event(
            "ArtifactAdded",
            {
                "name": "m.pkl",
                "uri": "file:///m.pkl",
                "size_bytes": 3,
                "sha256": "f" * 64,
                "content_type": "application/octet-stream",
            },
            seq=3,
        )
    )
    tables = builder.tables()

    assert set(tables) == {
        "run_updates",
        "run_tags",
        "artifacts",
        "writer_progress",
    }
    updates = tables["run_updates"].to_pylist()
    assert updates[0]["experiment"] == "exp"
    assert updates[0]["parent_run_id"] == ""
    assert updates[0]["display_name"] == "nice"
    assert tables["run_tags"].column("value").to_pylist() == ["1", None]
    assert tables["artifacts"].column("size_bytes").to_pylist() == [3]


def test_row_builder_keeps_highest_seq_per_writer():
    """writer_progress holds each writer's highest sequence number."""
    builder = RowBuilder()

    for seq in (3, 1, 2):
        builder.add(_event("TagsSet", {"tags": {}}, seq=seq))
    builder.add(_event("TagsSet", {"tags": {}}, seq=1, writer_id="w2"))
    progress = builder.tables()["writer_progress"].to_pylist()

    assert {row["writer_id"]: row["max_seq"] for row in progress} == {
        "w1": 3,
        "w2": 1,
    }
    assert progress[0]["rank"] == 2
