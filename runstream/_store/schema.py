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
a run and its tags are aggregates over them (newest wins). A removed tag
is a ``run_tags`` row with ``removed = 1``. ``artifacts`` keeps one row
per name, since artifacts are write-once. ``models`` is the model
registry, one row per registration.
``writer_progress`` records, per writer, the highest
event sequence number stored, which is how a reader waits for its own
writes.

``metric_summaries`` (count, non-finite counts, min, max, first and last
per run, metric and event) and ``point_arrivals`` (when each event's points
were stored, for live reads) are kept by materialized views on ``points``,
so cross-run queries and live streams never scan raw points.
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
        value_str String,
        attempt UInt32 DEFAULT 1
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
        error_message String,
        description Nullable(String),
        submitted_by String DEFAULT '',
        definition String DEFAULT ''
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
        seq UInt64,
        removed UInt8 DEFAULT 0
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
    # Write-once per key: reads keep the first value (smallest time, seq).
    "run_properties": (
        """
        workspace LowCardinality(String),
        run_id String,
        key String,
        value String,
        time DateTime64(6, 'UTC'),
        seq UInt64
        """,
        """ENGINE = ReplacingMergeTree
    ORDER BY (workspace, run_id, key, time, seq)
        """,
    ),
    # A script run's driver log, one row per chunk; a replayed chunk has
    # the same offset and collapses.
    "run_logs": (
        """
        workspace LowCardinality(String),
        run_id String,
        name String,
        offset UInt64,
        text String,
        time DateTime64(6, 'UTC')
        """,
        """ENGINE = ReplacingMergeTree
    ORDER BY (workspace, run_id, name, offset)
        """,
    ),
    # The newest heartbeat per writer; ``received`` is the consumer's clock,
    # so a writer's clock skew cannot make its run look dead.
    "run_heartbeats": (
        """
        workspace LowCardinality(String),
        run_id String,
        writer_id String,
        interval_ms UInt64,
        received DateTime64(6, 'UTC')
        """,
        """ENGINE = ReplacingMergeTree(received)
    ORDER BY (workspace, run_id, writer_id)
        """,
    ),
    # The model registry: one row per registration, and one more per
    # replay of its event. A name's versions are numbered at read time by
    # each registration's first ``stored`` time (the consumer's clock), so
    # the engine must keep the first row, which ReplacingMergeTree would
    # not: replays are folded by the read instead.
    "models": (
        """
        workspace LowCardinality(String),
        name String,
        registration_id UUID,
        run_id String,
        experiment String,
        path String,
        files Array(String),
        description Nullable(String),
        tags Map(String, String),
        properties Map(String, String),
        time DateTime64(6, 'UTC'),
        stored DateTime64(6, 'UTC')
        """,
        """ENGINE = MergeTree
    ORDER BY (workspace, name, registration_id)
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
        updated DateTime64(6, 'UTC'),
        attempt UInt32 DEFAULT 1
        """,
        """ENGINE = ReplacingMergeTree(max_seq)
    ORDER BY (workspace, run_id, writer_id)
        """,
    ),
    # Summaries kept by the materialized views in VIEWS: one row per event
    # and metric column, so a replayed event (same writer and seq) merges
    # into the row it already has and counts nothing twice.
    "metric_summaries": (
        """
        workspace LowCardinality(String),
        run_id String,
        name String,
        column_name LowCardinality(String),
        writer_id String,
        seq UInt64,
        points AggregateFunction(groupBitmap, UInt32),
        nans AggregateFunction(groupBitmap, UInt32),
        infs AggregateFunction(groupBitmap, UInt32),
        min_value SimpleAggregateFunction(min, Float64),
        max_value SimpleAggregateFunction(max, Float64),
        first_value AggregateFunction(
            argMin, Float64, Tuple(Int64, DateTime64(6, 'UTC'), UInt32)),
        last_value AggregateFunction(
            argMax, Float64, Tuple(Int64, DateTime64(6, 'UTC'), UInt32)),
        min_step SimpleAggregateFunction(min, Int64),
        max_step SimpleAggregateFunction(max, Int64),
        min_time SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
        max_time SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
        """,
        """ENGINE = AggregatingMergeTree
    ORDER BY (workspace, run_id, name, column_name, writer_id, seq)
        """,
    ),
    "point_arrivals": (
        """
        workspace LowCardinality(String),
        run_id String,
        name String,
        writer_id String,
        seq UInt64,
        stored DateTime64(6, 'UTC')
        """,
        """ENGINE = MergeTree
    ORDER BY (workspace, run_id, stored)
    TTL toDateTime(stored) + INTERVAL 7 DAY
        """,
    ),
}

#: Materialized views, created after the tables they read and write. They
#: see only rows inserted after they exist; points stored earlier are not
#: summarized.
VIEWS: dict[str, str] = {
    "metric_summaries_mv": """
        TO {database}.metric_summaries AS
        SELECT workspace, run_id, name, column_name, writer_id, seq,
            groupBitmapState(idx) AS points,
            groupBitmapStateIf(idx, isNaN(value)) AS nans,
            groupBitmapStateIf(idx, isInfinite(value)) AS infs,
            min(if(isFinite(value), value, inf)) AS min_value,
            max(if(isFinite(value), value, -inf)) AS max_value,
            argMinState(value, (step, time, idx)) AS first_value,
            argMaxState(value, (step, time, idx)) AS last_value,
            min(step) AS min_step,
            max(step) AS max_step,
            min(time) AS min_time,
            max(time) AS max_time
        FROM {database}.points
        WHERE value_type IN (1, 2, 3, 5)
        GROUP BY workspace, run_id, name, column_name, writer_id, seq
    """,
    "point_arrivals_mv": """
        TO {database}.point_arrivals AS
        SELECT workspace, run_id, name, writer_id, seq,
            now64(6, 'UTC') AS stored
        FROM {database}.points
        GROUP BY workspace, run_id, name, writer_id, seq
    """,
}


def create_statements(database: str) -> list[str]:
    """Return the DDL that creates the database and every table."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    for table, (columns, engine) in TABLES.items():
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table} "
            f"({columns}) {engine}"
        )
    for view, body in VIEWS.items():
        statements.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view} "
            + body.format(database=database)
        )

    return statements


def column_definitions(columns: str) -> list[str]:
    """Split a table's column list into one definition per column."""
    definitions: list[str] = []
    depth = 0
    current: list[str] = []
    for char in columns:
        if char == "," and depth == 0:
            definitions.append("".join(current).strip())
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current.append(char)
    definitions.append("".join(current).strip())

    return [d for d in definitions if d]


def upgrade_statements(database: str) -> list[str]:
    """Return DDL that adds columns a newer runstream defines to old tables.

    A store created by an older runstream keeps its tables; columns added
    since then are added in place (existing rows get the column's default).
    Sort keys and engines cannot change this way: a change to those needs
    a new table.
    """
    return [
        f"ALTER TABLE {database}.{table} ADD COLUMN IF NOT EXISTS {column}"
        for table, (columns, _engine) in TABLES.items()
        for column in column_definitions(columns)
    ]


def ensure_schema(store: Store) -> None:
    """Create what does not exist yet, and add columns old tables lack."""
    for statement in create_statements(store.database):
        store.command(statement)
    for statement in upgrade_statements(store.database):
        store.command(statement)
