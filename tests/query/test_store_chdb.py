"""Tests for the embedded chdb store: schema, inserts and reads.

chdb allows one embedded session per process and locks its data folder,
so the whole module shares one store and closes it at the end. Each test
writes under a run id of its own.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest

from runstream._store import open_store
from runstream._store.schema import TABLES, VIEWS, ensure_schema
from runstream._wire.avro import body_type
from runstream.consumer._rows import RowBuilder
from runstream.errors import StoreError
from runstream.query._reads import read_metrics

WORKSPACE = "ws"


@pytest.fixture(name="chdb_store", scope="module")
def _chdb_store(tmp_path_factory):
    """Give the module's embedded store, with its tables, and close it."""
    store = open_store(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    ensure_schema(store)
    yield store
    store.close()


@pytest.fixture(name="run_id")
def _run_id():
    """Give a run id no other test writes under."""
    return f"run-{uuid.uuid4().hex[:12]}"


def _points_table(run_id, name, values, *, seq=1):
    """Return the points rows of one event that logs ``values`` as a list."""
    types, doubles, ints, strings = [], [], [], []
    for value in values:
        if isinstance(value, int):
            types.append(2)
            doubles.append(float(value))
            ints.append(value)
        elif isinstance(value, str):
            types.append(4)
            doubles.append(math.nan)
            strings.append(value)
        else:
            types.append(3)
            doubles.append(value)
    event = {
        "event_id": uuid.uuid4(),
        "workspace": WORKSPACE,
        "run_id": run_id,
        "writer": {"writer_id": "w1", "host": "h", "pid": 1, "rank": 0},
        "seq": seq,
        "time_us": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "body": (
            body_type("MetricPoints"),
            {
                "name": name,
                "kind": "LIST",
                "column_names": [],
                "columns": [],
                "steps": list(range(len(values))),
                "times_us": [1_704_067_200_000_000] * len(values),
                "value_types": bytes(types),
                "doubles": doubles,
                "ints": ints,
                "strings": strings,
            },
        ),
    }
    builder = RowBuilder()
    builder.add(event)
    return builder.tables()["points"]


def test_ensure_schema_is_idempotent(chdb_store):
    """Creating the schema again changes nothing and raises nothing."""

    ensure_schema(chdb_store)
    ensure_schema(chdb_store)
    tables = chdb_store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} "
        "ORDER BY name",
        {"db": chdb_store.database},
    )

    assert tables.column("name").to_pylist() == sorted([*TABLES, *VIEWS])


def test_read_metrics_returns_inserted_points(chdb_store, run_id):
    """Points inserted as Arrow read back in get_metrics shapes."""
    chdb_store.insert("points", _points_table(run_id, "loss", [0.5, 0.25]))
    chdb_store.insert("points", _points_table(run_id, "epoch", [3], seq=2))

    metrics = read_metrics(chdb_store, WORKSPACE, run_id)

    assert metrics == {"epoch": 3, "loss": [0.5, 0.25]}


def test_read_metrics_keeps_exact_ints_and_strings(chdb_store, run_id):
    """Int and string values come back exact from the store."""
    values = [2**62 + 1, "note ü", 1.5]
    chdb_store.insert("points", _points_table(run_id, "mixed", values))

    metrics = read_metrics(chdb_store, WORKSPACE, run_id, name="mixed")

    assert metrics == {"mixed": values}


def test_read_metrics_returns_empty_for_unknown_run(chdb_store):
    """A run with no points reads as no metrics."""

    metrics = read_metrics(chdb_store, WORKSPACE, "no-such-run")

    assert metrics == {}


def test_read_metrics_sees_no_duplicates_of_a_repeated_insert(
    chdb_store, run_id
):
    """A redelivered event inserted twice reads once with FINAL."""
    rows = _points_table(run_id, "loss", [0.5, 0.25, 0.125])
    chdb_store.insert("points", rows)
    chdb_store.insert("points", rows)

    metrics = read_metrics(chdb_store, WORKSPACE, run_id)

    assert metrics == {"loss": [0.5, 0.25, 0.125]}


def test_insert_ignores_empty_table(chdb_store, run_id):
    """An empty Arrow table inserts nothing and raises nothing."""
    rows = _points_table(run_id, "loss", [1.0]).slice(0, 0)

    chdb_store.insert("points", rows)

    assert read_metrics(chdb_store, WORKSPACE, run_id) == {}


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("SELEC 1", id="syntax"),
        pytest.param("SELECT * FROM runstream.no_such_table", id="no-table"),
        pytest.param("SELECT no_such_function(1)", id="no-function"),
    ],
)
def test_query_raises_store_error_when_sql_is_bad(chdb_store, sql):
    """chdb's failure comes out as StoreError, and the store stays usable."""

    with pytest.raises(StoreError):
        chdb_store.query(sql)

    assert chdb_store.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]


def test_command_raises_store_error_when_sql_is_bad(chdb_store):
    """A failing statement raises StoreError, not chdb's own error."""

    with pytest.raises(StoreError) as caught:
        chdb_store.command("CREATE TABLE runstream.broken (x NoSuchType)")

    assert caught.value.retriable is False


def test_insert_raises_store_error_when_table_is_unknown(chdb_store, run_id):
    """Inserting into a table that does not exist raises StoreError."""
    rows = _points_table(run_id, "loss", [1.0])

    with pytest.raises(StoreError):
        chdb_store.insert("no_such_table", rows)


def test_query_after_a_timed_out_query_answers_only_itself(chdb_store):
    """A query that times out after streaming rows leaves nothing behind:
    the next query's answer is exactly its own."""
    slow = (
        "SELECT a.number AS x, b.number AS y "
        "FROM numbers(100000) AS a, numbers(100000) AS b "
        "SETTINGS max_execution_time = 0.5"
    )
    with pytest.raises(StoreError, match="TIMEOUT_EXCEEDED"):
        chdb_store.query(slow)

    answer = chdb_store.query("SELECT 'next' AS s")

    assert answer.to_pydict() == {"s": ["next"]}
