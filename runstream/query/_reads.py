"""The SQL behind the query API, and the shaping of its answers.

Building SQL and shaping results are pure functions; the few functions
that take a :class:`Store` run one query each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from runstream._store.backends import Store
from runstream._wire.values import ValueType

TABLE_KINDS = frozenset({"row", "table"})
#: Kinds whose value is a file's URI; as in Azure ML, the first one reads.
FILE_KINDS = frozenset(
    {"image", "confusion_matrix", "accuracy_table", "residuals", "predictions"}
)


def metrics_sql(
    database: str, *, one_name: bool, one_attempt: bool = False
) -> str:
    """Return the query for a run's points in get_metrics order.

    By default each step shows the newest attempt's values: a job that
    resumed the run replaces what an earlier attempt logged at the same
    steps, and keeps the rest. ``one_attempt`` reads one attempt alone.
    """
    name_filter = "AND name = {name:String}" if one_name else ""
    columns = """name, kind, column_name, step, writer_id, seq,
               value_type, value, value_int, value_str"""
    order = "ORDER BY name, step, time, writer_id, seq, idx"
    if one_attempt:
        return f"""
            SELECT {columns}
            FROM {database}.points FINAL
            WHERE workspace = {{workspace:String}}
              AND run_id = {{run_id:String}} {name_filter}
              AND attempt = {{attempt:UInt32}}
            {order}
        """

    return f"""
        SELECT {columns}
        FROM (
            SELECT *, max(attempt) OVER (PARTITION BY name, step) AS newest
            FROM {database}.points FINAL
            WHERE workspace = {{workspace:String}}
              AND run_id = {{run_id:String}} {name_filter}
        )
        WHERE attempt = newest
        {order}
    """


def _value_readers() -> dict[int, Callable[[float, int, str], Any]]:
    return {
        ValueType.NONE: lambda d, i, s: None,
        ValueType.BOOL: lambda d, i, s: d != 0.0,
        ValueType.INT: lambda d, i, s: i,
        ValueType.FLOAT: lambda d, i, s: d,
        ValueType.STRING: lambda d, i, s: s,
        ValueType.BIGINT: lambda d, i, s: int(s),
    }


_READERS = _value_readers()


def shape_metrics(points: pa.Table) -> dict[str, Any]:
    """Return Azure ML's get_metrics shapes for points in metrics_sql order.

    Scalars and lists: one value reads bare, several as a list. Rows and
    tables: one row reads ``{column: value}``, several ``{column: [...]}``
    with ``None`` where a row lacks a column.
    """
    if points.num_rows == 0:
        return {}

    cols = {
        name: points.column(name).to_pylist() for name in points.column_names
    }
    names = cols["name"]
    result: dict[str, Any] = {}
    start = 0
    total = len(names)
    while start < total:
        end = start
        while end < total and names[end] == names[start]:
            end += 1
        if TABLE_KINDS.intersection(cols["kind"][start:end]):
            result[names[start]] = _shape_table(cols, start, end)
        elif FILE_KINDS.intersection(cols["kind"][start:end]):
            result[names[start]] = _values(cols, start, start + 1)[0]
        else:
            result[names[start]] = _shape_series(cols, start, end)
        start = end

    return result


def _values(cols: Mapping[str, list[Any]], start: int, end: int) -> list[Any]:
    types = cols["value_type"]
    doubles = cols["value"]
    if all(t == ValueType.FLOAT for t in types[start:end]):
        return doubles[start:end]

    ints = cols["value_int"]
    texts = cols["value_str"]
    return [
        _READERS[types[i]](doubles[i], ints[i], texts[i])
        for i in range(start, end)
    ]


def _shape_series(cols: Mapping[str, list[Any]], start: int, end: int) -> Any:
    values = _values(cols, start, end)
    return values[0] if len(values) == 1 else values


def _shape_table(cols: Mapping[str, list[Any]], start: int, end: int) -> Any:
    values = _values(cols, start, end)
    columns: dict[str, None] = {}
    rows: dict[tuple[int, str, int], dict[str, Any]] = {}
    for offset, i in enumerate(range(start, end)):
        column = cols["column_name"][i]
        columns.setdefault(column)
        key = (cols["step"][i], cols["writer_id"][i], cols["seq"][i])
        rows.setdefault(key, {})[column] = values[offset]

    if len(rows) == 1:
        (row,) = rows.values()
        return {c: row.get(c) for c in columns}

    return {c: [row.get(c) for row in rows.values()] for c in columns}


def read_metrics(
    store: Store,
    workspace: str,
    run_id: str,
    name: str | None = None,
    attempt: int | None = None,
) -> dict[str, Any]:
    """Return one run's metrics (or one of them) in get_metrics shapes.

    ``attempt`` reads what one attempt logged; by default each step shows
    the newest attempt's values.
    """
    params: dict[str, Any] = {"workspace": workspace, "run_id": run_id}
    if name is not None:
        params["name"] = name
    if attempt is not None:
        params["attempt"] = attempt
    sql = metrics_sql(
        store.database,
        one_name=name is not None,
        one_attempt=attempt is not None,
    )
    return shape_metrics(store.query(sql, params))


def _iso(value: Any) -> str | None:
    if value is None or value.timestamp() <= 0:
        return None
    return str(value.isoformat().replace("+00:00", "Z"))


def read_writers(
    store: Store, workspace: str, run_id: str
) -> list[dict[str, Any]]:
    """Return each writer of a run with the highest event seq stored."""
    rows: list[dict[str, Any]] = store.query(
        f"""
        SELECT writer_id, any(host) AS host, any(pid) AS pid,
               any(rank) AS rank, max(attempt) AS attempt,
               max(max_seq) AS events_stored,
               max(updated) AS last_stored
        FROM {store.database}.writer_progress
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
        GROUP BY writer_id
        ORDER BY last_stored
        """,
        {"workspace": workspace, "run_id": run_id},
    ).to_pylist()
    for row in rows:
        row["last_stored"] = _iso(row["last_stored"])

    return rows


def stored_runs(
    store: Store, workspace: str, run_ids: Sequence[str]
) -> set[str]:
    """Return which of ``run_ids`` have any event in the store.

    Every stored event moves its writer's row in ``writer_progress``, so
    a run the SDK has logged anything under is there, metrics or not.
    """
    rows = store.query(
        f"""
        SELECT DISTINCT run_id FROM {store.database}.writer_progress
        WHERE workspace = {{workspace:String}}
          AND has({{run_ids:Array(String)}}, run_id)
        """,
        {"workspace": workspace, "run_ids": list(run_ids)},
    ).to_pylist()

    return {row["run_id"] for row in rows}


def wait_for_writers(
    store: Store,
    workspace: str,
    run_id: str,
    wait_for: Mapping[str, int],
    timeout_s: float,
) -> bool:
    """Wait until the store holds each writer's events up to its seq.

    Returns False if the bound passed first; the caller answers anyway.
    """
    pending = {w: s for w, s in wait_for.items() if s > 0}
    if not pending:
        return True

    sql = f"""
        SELECT writer_id, max(max_seq) AS max_seq
        FROM {store.database}.writer_progress
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND has({{writers:Array(String)}}, writer_id)
        GROUP BY writer_id
    """
    deadline = time.monotonic() + timeout_s
    delay_s = 0.005
    while True:
        rows = store.query(
            sql,
            {
                "workspace": workspace,
                "run_id": run_id,
                "writers": list(pending),
            },
        ).to_pylist()
        stored = {r["writer_id"]: r["max_seq"] for r in rows}
        pending = {w: s for w, s in pending.items() if stored.get(w, 0) < s}
        if not pending:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay_s)
        delay_s = min(0.05, delay_s * 2)
