"""Turn decoded events into column-wise rows of the store's tables.

Pure functions of the events: no Kafka, no ClickHouse. Each event is
checked against the limits the SDK enforces, since not every writer is the
Python SDK; a broken one raises :class:`SchemaError` and goes to the dead
letter topic instead of the store.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pyarrow as pa

from runstream._limits import MAX_NAME_CHARS
from runstream._wire.avro import body_type
from runstream._wire.values import ValueType
from runstream.errors import SchemaError

_UTC_US = pa.timestamp("us", tz="UTC")
_TEXT_TYPES = frozenset({ValueType.STRING, ValueType.BIGINT})
_KNOWN_TYPES = frozenset(int(t) for t in ValueType)

POINT_COLUMNS = (
    "workspace",
    "run_id",
    "name",
    "kind",
    "column_name",
    "step",
    "time",
    "writer_id",
    "seq",
    "idx",
    "value_type",
    "value",
    "value_int",
    "value_str",
    "attempt",
)


def _micros(when: dt.datetime | int) -> int:
    if isinstance(when, int):
        return when
    return int(when.timestamp() * 1_000_000)


def check_metric_points(body: dict[str, Any]) -> None:
    """Raise :class:`SchemaError` unless a MetricPoints body is coherent."""
    name = body["name"]
    if not name or len(name) > MAX_NAME_CHARS:
        raise SchemaError(
            f"metric name must be 1-{MAX_NAME_CHARS} characters "
            f"(got {len(name)})"
        )

    count = len(body["steps"])
    for field in ("times_us", "value_types", "doubles"):
        if len(body[field]) != count:
            raise SchemaError(
                f"metric {name!r}: {field} has {len(body[field])} entries "
                f"for {count} points"
            )
    columns = body["columns"]
    if columns and len(columns) != count:
        raise SchemaError(f"metric {name!r}: columns do not match points")
    if columns and not 0 <= min(columns) <= max(columns) < len(
        body["column_names"]
    ):
        raise SchemaError(f"metric {name!r}: a column index is out of range")

    types = body["value_types"]
    if not set(types) <= _KNOWN_TYPES:
        raise SchemaError(f"metric {name!r}: unknown value type code")
    if types.count(ValueType.INT) != len(body["ints"]):
        raise SchemaError(f"metric {name!r}: ints do not match int points")
    texts = sum(1 for t in types if t in _TEXT_TYPES)
    if texts != len(body["strings"]):
        raise SchemaError(
            f"metric {name!r}: strings do not match string points"
        )


def check_artifact_name(name: str) -> None:
    """Raise :class:`SchemaError` unless a file name stays inside its run."""
    cleaned = name.replace("\\", "/")
    is_drive = cleaned[1:2] == ":" and cleaned[2:3] in ("", "/")
    if (
        not cleaned.strip("/ ")
        or cleaned.startswith("/")
        or is_drive
        or ".." in cleaned.split("/")
    ):
        raise SchemaError(
            f"artifact or log name {name[:100]!r} must be relative to its "
            "run, without '..'"
        )


_RUN_UPDATES = frozenset(
    body_type(branch)
    for branch in ("RunStarted", "RunStatusChanged", "RunDetailsSet")
)


class RowBuilder:
    """Collects the rows that a batch of events adds to each table."""

    def __init__(self) -> None:
        self._points: dict[str, list[Any]] = {c: [] for c in POINT_COLUMNS}
        self._run_updates: dict[str, list[Any]] = defaultdict(list)
        self._tags: dict[str, list[Any]] = defaultdict(list)
        self._artifacts: dict[str, list[Any]] = defaultdict(list)
        self._properties: dict[str, list[Any]] = defaultdict(list)
        self._logs: dict[str, list[Any]] = defaultdict(list)
        self._heartbeats: dict[str, list[Any]] = defaultdict(list)
        self._models: dict[str, list[Any]] = defaultdict(list)
        self._progress: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events = 0
        self.points = 0

    def add(self, event: dict[str, Any]) -> None:
        """Add one decoded event; raises SchemaError if it is incoherent.

        A rejected event still counts as handled for its writer's progress,
        so a reader waiting for it is not kept waiting.
        """
        self._note_progress(event)
        branch, body = event["body"]
        if branch == body_type("MetricPoints"):
            check_metric_points(body)
            self._add_points(event, body)
        elif branch in _RUN_UPDATES:
            self._add_run_update(event, body)
        elif branch == body_type("TagsSet"):
            self._add_tags(event, body)
        elif branch == body_type("TagsRemoved"):
            self._remove_tags(event, body)
        elif branch == body_type("ModelRegistered"):
            check_artifact_name(body["path"])
            self._add_model(event, body)
        elif branch == body_type("ArtifactAdded"):
            check_artifact_name(body["name"])
            self._add_artifact(event, body)
        elif branch == body_type("PropertiesAdded"):
            self._add_properties(event, body)
        elif branch == body_type("LogAppended"):
            check_artifact_name(body["name"])
            self._add_log(event, body)
        elif branch == body_type("Heartbeat"):
            self._add_heartbeat(event, body)
        else:
            raise SchemaError(f"event body {branch!r} is not handled")

        self.events += 1

    def _add_points(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        count = len(body["steps"])
        types = body["value_types"]
        cols = self._points
        cols["workspace"].extend([event["workspace"]] * count)
        cols["run_id"].extend([event["run_id"]] * count)
        cols["name"].extend([body["name"]] * count)
        cols["kind"].extend([body["kind"].lower()] * count)
        names = body["column_names"]
        if body["columns"]:
            cols["column_name"].extend(names[i] for i in body["columns"])
        else:
            cols["column_name"].extend([""] * count)
        cols["step"].extend(body["steps"])
        cols["time"].extend(body["times_us"])
        cols["writer_id"].extend([event["writer"]["writer_id"]] * count)
        cols["seq"].extend([event["seq"]] * count)
        cols["attempt"].extend([event["writer"].get("attempt", 1)] * count)
        cols["idx"].extend(range(count))
        cols["value_type"].extend(types)
        cols["value"].extend(body["doubles"])

        ints = iter(body["ints"])
        texts = iter(body["strings"])
        if body["ints"]:
            cols["value_int"].extend(
                next(ints) if t == ValueType.INT else 0 for t in types
            )
        else:
            cols["value_int"].extend([0] * count)
        if body["strings"]:
            cols["value_str"].extend(
                next(texts) if t in _TEXT_TYPES else "" for t in types
            )
        else:
            cols["value_str"].extend([""] * count)
        self.points += count

    @staticmethod
    def _append(
        rows: dict[str, list[Any]], event: dict[str, Any], **values: Any
    ) -> None:
        """Append one row: the event's workspace, run and time, plus values."""
        rows["workspace"].append(event["workspace"])
        rows["run_id"].append(event["run_id"])
        rows["time"].append(_micros(event["time_us"]))
        for column, value in values.items():
            rows[column].append(value)

    def _add_run_update(
        self, event: dict[str, Any], body: dict[str, Any]
    ) -> None:
        text = {
            field: body.get(field) or ""
            for field in (
                "experiment",
                "parent_run_id",
                "display_name",
                "run_type",
                "status",
                "error_code",
                "error_message",
                "submitted_by",
                "definition",
            )
        }
        self._append(
            self._run_updates,
            event,
            event_id=str(event["event_id"]),
            writer_id=event["writer"]["writer_id"],
            seq=event["seq"],
            description=body.get("description"),
            **text,
        )

    def _add_tags(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        for key, value in body["tags"].items():
            self._add_tag_row(event, key, value, removed=0)

    def _remove_tags(
        self, event: dict[str, Any], body: dict[str, Any]
    ) -> None:
        # A removal is a row like a set: the newest row of a key decides,
        # so a tag set again after its removal comes back.
        for key in body["keys"]:
            self._add_tag_row(event, key, None, removed=1)

    def _add_tag_row(
        self, event: dict[str, Any], key: str, value: str | None, removed: int
    ) -> None:
        self._append(
            self._tags,
            event,
            key=key,
            value=value,
            seq=event["seq"],
            removed=removed,
        )

    def _add_model(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        fields = (
            "name",
            "experiment",
            "path",
            "files",
            "description",
            "tags",
            "properties",
        )
        self._append(
            self._models,
            event,
            registration_id=str(body["registration_id"]),
            **{field: body[field] for field in fields},
        )

    def _add_artifact(
        self, event: dict[str, Any], body: dict[str, Any]
    ) -> None:
        fields = ("name", "uri", "size_bytes", "sha256", "content_type")
        self._append(
            self._artifacts, event, **{field: body[field] for field in fields}
        )

    def _add_properties(
        self, event: dict[str, Any], body: dict[str, Any]
    ) -> None:
        for key, value in body["properties"].items():
            self._append(
                self._properties, event, key=key, value=value, seq=event["seq"]
            )

    def _add_log(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        self._append(
            self._logs,
            event,
            name=body["name"],
            offset=body["offset"],
            text=body["text"],
        )

    def _add_heartbeat(
        self, event: dict[str, Any], body: dict[str, Any]
    ) -> None:
        rows = self._heartbeats
        rows["workspace"].append(event["workspace"])
        rows["run_id"].append(event["run_id"])
        rows["writer_id"].append(event["writer"]["writer_id"])
        rows["interval_ms"].append(body["interval_ms"])

    def _model_table(self) -> pa.Table:
        """Return the model rows, stamped with the consumer's clock.

        Versions are numbered in ``stored`` order; the consumer's clock,
        unlike the writers', only moves on between the inserts of one
        materializer, so a version once read never changes.
        """
        cols: dict[str, Any] = dict(self._models)
        count = len(cols["name"])
        cols["time"] = pa.array(cols["time"], _UTC_US)
        cols["stored"] = pa.array([dt.datetime.now(dt.UTC)] * count, _UTC_US)
        text_map = pa.map_(pa.string(), pa.string())
        cols["tags"] = pa.array(
            [list(t.items()) for t in cols["tags"]], text_map
        )
        cols["properties"] = pa.array(
            [list(p.items()) for p in cols["properties"]], text_map
        )
        return pa.table(cols)

    def _note_progress(self, event: dict[str, Any]) -> None:
        writer = event["writer"]
        key = (event["workspace"], event["run_id"], writer["writer_id"])
        seen = self._progress.get(key)
        if seen is None or seen["max_seq"] < event["seq"]:
            self._progress[key] = {
                "host": writer["host"],
                "pid": writer["pid"],
                "rank": writer["rank"],
                "attempt": writer.get("attempt", 1),
                "max_seq": event["seq"],
            }

    def tables(self) -> dict[str, pa.Table]:
        """Return Arrow rows per table, leaving out tables with no rows.

        ``run_updates`` comes after the files, logs and tags, so a reader
        that sees a run Completed also sees what it wrote before;
        ``writer_progress`` comes last: once it says an event is stored,
        every row of that event must already be readable.
        """
        out: dict[str, pa.Table] = {}
        if self.points:
            cols = dict(self._points)
            cols["time"] = pa.array(cols["time"], _UTC_US)
            cols["value_type"] = pa.array(cols["value_type"], pa.uint8())
            cols["value"] = pa.array(cols["value"], pa.float64())
            cols["value_int"] = pa.array(cols["value_int"], pa.int64())
            cols["seq"] = pa.array(cols["seq"], pa.uint64())
            cols["attempt"] = pa.array(cols["attempt"], pa.uint32())
            cols["idx"] = pa.array(cols["idx"], pa.uint32())
            out["points"] = pa.table(cols)
        for table, rows in (
            ("run_tags", self._tags),
            ("run_properties", self._properties),
            ("artifacts", self._artifacts),
            ("run_logs", self._logs),
            ("run_updates", self._run_updates),
        ):
            if rows:
                cols = dict(rows)
                cols["time"] = pa.array(cols["time"], _UTC_US)
                if table == "run_tags":
                    cols["removed"] = pa.array(cols["removed"], pa.uint8())
                out[table] = pa.table(cols)
        if self._heartbeats:
            cols = dict(self._heartbeats)
            count = len(cols["run_id"])
            cols["interval_ms"] = pa.array(cols["interval_ms"], pa.uint64())
            cols["received"] = pa.array(
                [dt.datetime.now(dt.UTC)] * count, _UTC_US
            )
            out["run_heartbeats"] = pa.table(cols)
        if self._models:
            out["models"] = self._model_table()
        if self._progress:
            now = dt.datetime.now(dt.UTC)
            keys = list(self._progress)
            values = list(self._progress.values())
            out["writer_progress"] = pa.table(
                {
                    "workspace": [k[0] for k in keys],
                    "run_id": [k[1] for k in keys],
                    "writer_id": [k[2] for k in keys],
                    "host": [v["host"] for v in values],
                    "pid": [v["pid"] for v in values],
                    "rank": pa.array([v["rank"] for v in values], pa.int32()),
                    "max_seq": pa.array(
                        [v["max_seq"] for v in values], pa.uint64()
                    ),
                    "updated": pa.array([now] * len(keys), _UTC_US),
                    "attempt": pa.array(
                        [v["attempt"] for v in values], pa.uint32()
                    ),
                }
            )

        return out
