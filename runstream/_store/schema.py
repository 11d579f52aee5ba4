"""The ClickHouse tables runstream keeps, and how to create them.

``points`` holds every metric value, one row per point (a table metric has
one row per cell). Its sort key starts with workspace, run and metric, then
step, so one run's one metric in step order is a range read. The rest of
the key (writer, sequence number, index in the event) names a point
exactly: a redelivered event carries the same values, so the
ReplacingMergeTree engine keeps one copy, and reads with ``FINAL`` never see
two.

``run_updates`` and ``run_tags`` keep every lifecycle event and every tag
value of a run, keyed so that only replays collapse; the current state of
a run and its tags are aggregates over them (newest wins). ``artifacts``
keeps one row per name, since artifacts are write-once.
``writer_progress`` records, per writer, the highest
event sequence number stored, which is how a reader waits for its own
writes.
"""

from __future__ import annotations

from runstream._store.backends import Store

#: Per table: its columns, then its engine clause.
TABLES: dict[str, tuple[str, str]] = {
    "points": (
        """
        workspace LowCardinality(String),
        run_id String,
        name String,
        kind LowCardinality(String),
        column_name LowCardinality(String),
        step Int64,
        time DateTime64(6, 'UTC'),
        writer_id String,
        seq UInt64,
        idx UInt32,
        value_type UInt8,
        value Float64,
        value_int Int64,
        value_str String
        """,
        """ENGINE = ReplacingMergeTree
    ORDER BY (workspace, run_id, name, step, writer_id, seq, idx)
        """,
    ),
    "run_updates": (
        """
        workspace LowCardinality(String),
        run_id String,
        event_id UUID,
        time DateTime64(6, 'UTC'),
        writer_id String,
        seq UInt64,
        experiment String,
        parent_run_id String,
        display_name String,
        run_type LowCardinality(String),
        status LowCardinality(String),
        error_code String,
        error_message String
        """,
        """ENGINE = ReplacingMergeTree
    ORDER BY (workspace, run_id, event_id)
        """,
    ),
    "run_tags": (
        """
        workspace LowCardinality(String),
        run_id String,
        key String,
        value Nullable(String),
        time DateTime64(6, 'UTC'),
        seq UInt64
        """,
        """ENGINE = ReplacingMergeTree
    ORDER BY (workspace, run_id, key, time, seq)
        """,
    ),
    "artifacts": (
        """
        workspace LowCardinality(String),
        run_id String,
        name String,
        uri String,
        size_bytes UInt64,
        sha256 String,
        content_type LowCardinality(String),
        time DateTime64(6, 'UTC')
        """,
        """ENGINE = ReplacingMergeTree
    ORDER BY (workspace, run_id, name)
        """,
    ),
    "writer_progress": (
        """
        workspace LowCardinality(String),
        run_id String,
        writer_id String,
        host String,
        pid Int64,
        rank Int32,
        max_seq UInt64,
        updated DateTime64(6, 'UTC')
        """,
        """ENGINE = ReplacingMergeTree(max_seq)
    ORDER BY (workspace, run_id, writer_id)
        """,
    ),
}


def create_statements(database: str) -> list[str]:
    """Return the DDL that creates the database and every table."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    for table, (columns, engine) in TABLES.items():
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table} "
            f"({columns}) {engine}"
        )

    return statements


def ensure_schema(store: Store) -> None:
    """Create the database and tables that do not exist yet."""
    for statement in create_statements(store.database):
        store.command(statement)
