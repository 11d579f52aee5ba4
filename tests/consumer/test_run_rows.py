"""Rows of the run-history events: properties, logs, heartbeats, details."""

from __future__ import annotations

import uuid

import pytest

from runstream._wire.avro import body_type
from runstream.consumer._rows import RowBuilder
from runstream.errors import SchemaError


def _event(branch, body, seq=1):
    return {
        "event_id": uuid.uuid4(),
        "workspace": "ws",
        "run_id": "run-1",
        "writer": {"writer_id": "w1", "host": "h", "pid": 7, "rank": 0},
        "seq": seq,
        "time_us": 1_700_000_000_000_000 + seq,
        "body": (body_type(branch), body),
    }


def test_run_history_events_go_to_their_tables_before_run_updates():
    """Properties, logs and heartbeats have tables; run_updates comes after
    them, so a run read as ended already shows what it wrote."""
    builder = RowBuilder()

    builder.add(_event("PropertiesAdded", {"properties": {"a": "1"}}, 1))
    builder.add(
        _event(
            "LogAppended",
            {"name": "user_logs/std_log.txt", "offset": 0, "text": "hi\n"},
            2,
        )
    )
    builder.add(_event("Heartbeat", {"interval_ms": 500}, 3))
    builder.add(
        _event("RunDetailsSet", {"display_name": "n", "description": "d"}, 4)
    )
    tables = builder.tables()

    assert list(tables) == [
        "run_properties",
        "run_logs",
        "run_updates",
        "run_heartbeats",
        "writer_progress",
    ]
    assert tables["run_properties"].to_pylist()[0]["value"] == "1"
    assert tables["run_logs"].to_pylist()[0]["text"] == "hi\n"
    assert tables["run_heartbeats"].to_pylist()[0]["interval_ms"] == 500
    update = tables["run_updates"].to_pylist()[0]
    assert (update["display_name"], update["description"]) == ("n", "d")


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "C:/x", ""]
)
def test_file_names_that_leave_the_run_are_refused(name):
    """An artifact or log named outside its run is a contract error."""
    builder = RowBuilder()
    artifact = {
        "name": name,
        "uri": "file:///x",
        "size_bytes": 1,
        "sha256": "0" * 64,
        "content_type": "text/plain",
    }

    with pytest.raises(SchemaError, match="relative"):
        builder.add(_event("ArtifactAdded", artifact))
    with pytest.raises(SchemaError, match="relative"):
        builder.add(
            _event("LogAppended", {"name": name, "offset": 0, "text": "x"})
        )
