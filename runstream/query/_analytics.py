"""Reads across runs: experiments, run search, leaderboards and sweeps.

Metric values across runs come from ``metric_summaries`` (count, min, max,
first and last per run and metric), never from raw points, so a search
over ten thousand runs reads one summary row per event instead of every
point. Run state is folded from ``run_updates`` and tags from
``run_tags``, as ``_runs.read_run_details`` does for one run.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from runstream._store.backends import Store

#: Each run's state, folded from its lifecycle events as _runs does.
RUNS_SQL = """
    SELECT run_id, run_experiment AS experiment,
        run_parent AS parent_run_id, run_display_name AS display_name,
        run_kind AS run_type, run_status AS status,
        created_time, start_time, end_time
    FROM (
        SELECT run_id,
            argMaxIf(experiment, time, experiment != '') AS run_experiment,
            argMaxIf(parent_run_id, time, parent_run_id != '')
                AS run_parent,
            argMaxIf(display_name, time, display_name != '')
                AS run_display_name,
            argMaxIf(run_type, time, run_type != '') AS run_kind,
            if(countIf(status != '') = 0, 'NotStarted',
               argMaxIf(status, (time, seq), status != '')) AS run_status,
            minIf(time, run_type != '') AS created_time,
            minIf(time, status = 'Running') AS start_time,
            maxIf(time, status IN ('Completed', 'Failed', 'Canceled'))
                AS end_time
        FROM {db}.run_updates FINAL
        WHERE workspace = {{workspace:String}}
        GROUP BY run_id
    )
"""

_TAGS_SQL = """
    SELECT run_id, key, argMax(value, (time, seq)) AS value
    FROM {db}.run_tags
    WHERE workspace = {{workspace:String}}
    GROUP BY run_id, key
    HAVING argMax(removed, (time, seq)) = 0
"""


class Aggregate(enum.StrEnum):
    """Which summary of a metric stands for the run."""

    LAST = "last"
    FIRST = "first"
    MIN = "min"
    MAX = "max"
    COUNT = "count"


class Comparison(enum.StrEnum):
    """How a metric filter compares the run's summary with a number."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "="
    NE = "!="


class Order(enum.StrEnum):
    """Sort direction."""

    ASC = "asc"
    DESC = "desc"


@attrs.frozen
class MetricFilter:
    """Keep runs whose ``aggregate`` of metric ``name`` compares true."""

    name: str
    aggregate: Aggregate
    op: Comparison
    value: float


@attrs.frozen
class RunSearch:
    """What to find, in what order, which page."""

    workspace: str
    experiment: str | None = None
    statuses: tuple[str, ...] = ()
    tags: Mapping[str, str | None] = attrs.field(factory=dict)
    properties: Mapping[str, str] = attrs.field(factory=dict)
    metrics: tuple[MetricFilter, ...] = ()
    sort_metric: str | None = None
    sort_aggregate: Aggregate = Aggregate.LAST
    sort_field: str = "created_time"
    order: Order = Order.DESC
    limit: int = 50
    offset: int = 0


#: Fields a search may sort by, besides a metric.
SORT_FIELDS = (
    "created_time",
    "start_time",
    "end_time",
    "run_id",
    "display_name",
    "status",
    "experiment",
)


def summary_sql(db: str, names_param: str = "names") -> str:
    """Return per (run, metric) count, non-finite counts, min, max, first
    and last, read from ``metric_summaries`` for the metrics named by the
    ``{names}`` array parameter.

    The inner query merges each event's row once (a replayed event shares
    its writer and seq), so counts are exact; min and max are over finite
    values and read NULL when a metric has none.
    """
    return f"""
        SELECT run_id, name,
            sum(n) AS count, sum(nn) AS nan_count, sum(ni) AS inf_count,
            nullIf(min(lo), inf) AS min, nullIf(max(hi), -inf) AS max,
            argMinMerge(f) AS first, argMaxMerge(l) AS last,
            max(ms) AS last_step
        FROM (
            SELECT run_id, name,
                groupBitmapMerge(points) AS n,
                groupBitmapMerge(nans) AS nn,
                groupBitmapMerge(infs) AS ni,
                min(min_value) AS lo, max(max_value) AS hi,
                argMinMergeState(first_value) AS f,
                argMaxMergeState(last_value) AS l,
                max(max_step) AS ms
            FROM {db}.metric_summaries
            WHERE workspace = {{workspace:String}} AND column_name = ''
              AND has({{{names_param}:Array(String)}}, name)
            GROUP BY run_id, name, writer_id, seq
        )
        GROUP BY run_id, name
    """


def has_table(store: Store, table: str) -> bool:
    """Return whether the store's database holds ``table``."""
    rows = store.query(
        "SELECT count() AS n FROM system.tables "
        "WHERE database = {db:String} AND name = {table:String}",
        {"db": store.database, "table": table},
    ).to_pylist()
    return bool(rows and rows[0]["n"])


def properties_sql(store: Store) -> str | None:
    """Return each run's properties (the first value per key), or None
    when the store has no ``run_properties`` table, in which case a search
    by property matches nothing."""
    if not has_table(store, "run_properties"):
        return None

    columns = set(
        store.query(
            "SELECT name FROM system.columns "
            "WHERE database = {db:String} AND table = 'run_properties'",
            {"db": store.database},
        )
        .column("name")
        .to_pylist()
    )
    if not {"run_id", "key", "value", "workspace"} <= columns:
        return None

    # Properties are write-once: the first value set is the one that holds.
    first = "argMin(value, (time, seq))" if "seq" in columns else "any(value)"
    return f"""
        SELECT run_id, key, {first} AS value
        FROM {store.database}.run_properties
        WHERE workspace = {{workspace:String}}
        GROUP BY run_id, key
    """


def _where(
    db: str, search: RunSearch, params: dict[str, Any], props: str | None
) -> list[str]:
    """Return the WHERE conditions of a search, adding their parameters."""
    conditions = ["1"]
    if search.experiment is not None:
        conditions.append("r.experiment = {experiment:String}")
        params["experiment"] = search.experiment
    if search.statuses:
        conditions.append("has({statuses:Array(String)}, r.status)")
        params["statuses"] = list(search.statuses)
    for i, (key, value) in enumerate(sorted(search.tags.items())):
        params[f"tag_key_{i}"] = key
        match = "isNull(value)"
        if value is not None:
            match = f"value = {{tag_value_{i}:String}}"
            params[f"tag_value_{i}"] = value
        conditions.append(
            f"r.run_id IN (SELECT run_id FROM tags "
            f"WHERE key = {{tag_key_{i}:String}} AND {match})"
        )
    for i, (key, value) in enumerate(sorted(search.properties.items())):
        if props is None:
            conditions.append("0")
            break
        params[f"prop_key_{i}"] = key
        params[f"prop_value_{i}"] = value
        conditions.append(
            f"r.run_id IN (SELECT run_id FROM properties "
            f"WHERE key = {{prop_key_{i}:String}} "
            f"AND value = {{prop_value_{i}:String}})"
        )
    for i, flt in enumerate(search.metrics):
        params[f"filter_names_{i}"] = [flt.name]
        params[f"filter_value_{i}"] = float(flt.value)
        summary = summary_sql(db, f"filter_names_{i}")
        conditions.append(
            f"r.run_id IN (SELECT run_id FROM ({summary}) "
            f"WHERE `{flt.aggregate.value}` {flt.op.value} "
            f"{{filter_value_{i}:Float64}})"
        )

    return conditions


def search_runs(store: Store, search: RunSearch) -> dict[str, Any]:
    """Return one page of the runs a search finds, with the total."""
    db = store.database
    params: dict[str, Any] = {"workspace": search.workspace}
    props = properties_sql(store)
    conditions = _where(db, search, params, props)
    ctes = [f"runs AS ({RUNS_SQL.format(db=db)})"]
    ctes.append(f"tags AS ({_TAGS_SQL.format(db=db)})")
    if props is not None:
        ctes.append(f"properties AS ({props})")
    join = ""
    direction = "DESC" if search.order is Order.DESC else "ASC"
    order = f"r.{search.sort_field} {direction}, r.run_id"
    if search.sort_metric is not None:
        params["sort_names"] = [search.sort_metric]
        ctes.append(f"sorted AS ({summary_sql(db, 'sort_names')})")
        join = "LEFT JOIN sorted AS m ON m.run_id = r.run_id"
        agg = search.sort_aggregate.value
        order = f"m.`{agg}` {direction} NULLS LAST, r.run_id"
    params["limit"] = search.limit
    params["offset"] = search.offset
    sql = f"""
        WITH {", ".join(ctes)}
        SELECT r.*, count() OVER () AS total
        FROM runs AS r {join}
        WHERE {" AND ".join(conditions)}
        ORDER BY {order}
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
        SETTINGS join_use_nulls = 1
    """
    rows = store.query(sql, params).to_pylist()
    total = rows[0]["total"] if rows else _count_only(store, search)
    names = sorted(
        {f.name for f in search.metrics}
        | ({search.sort_metric} if search.sort_metric else set())
    )
    runs = _decorate(store, search.workspace, rows, names)

    return {
        "total": total,
        "offset": search.offset,
        "limit": search.limit,
        "runs": runs,
    }


def _count_only(store: Store, search: RunSearch) -> int:
    """Return the total of a search whose page came back empty."""
    if search.offset == 0:
        return 0

    page = search_runs(
        store, attrs.evolve(search, offset=0, limit=1, sort_metric=None)
    )
    total: int = page["total"]
    return total


def _decorate(
    store: Store,
    workspace: str,
    rows: Sequence[Mapping[str, Any]],
    metric_names: Sequence[str],
) -> list[dict[str, Any]]:
    """Return run records with their tags and the metrics searched on."""
    run_ids = [row["run_id"] for row in rows]
    if not run_ids:
        return []

    params = {"workspace": workspace, "run_ids": run_ids}
    tags: dict[str, dict[str, Any]] = {r: {} for r in run_ids}
    for row in store.query(
        f"SELECT * FROM ({_TAGS_SQL.format(db=store.database)}) "
        "WHERE has({run_ids:Array(String)}, run_id) ORDER BY key",
        params,
    ).to_pylist():
        tags[row["run_id"]][row["key"]] = row["value"]
    metrics = read_summaries(store, workspace, run_ids, metric_names)

    return [
        {
            "run_id": row["run_id"],
            "experiment": row["experiment"],
            "parent_run_id": row["parent_run_id"] or None,
            "display_name": row["display_name"] or None,
            "run_type": row["run_type"] or None,
            "status": row["status"],
            "created_time": iso(row["created_time"]),
            "start_time": iso(row["start_time"]),
            "end_time": iso(row["end_time"]),
            "tags": tags[row["run_id"]],
            "metrics": metrics.get(row["run_id"], {}),
        }
        for row in rows
    ]


def read_summaries(
    store: Store,
    workspace: str,
    run_ids: Sequence[str] | None,
    names: Sequence[str],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Return ``{run_id: {metric: summary}}`` for the named metrics."""
    if not names:
        return {}

    params: dict[str, Any] = {"workspace": workspace, "names": list(names)}
    runs_filter = ""
    if run_ids is not None:
        params["run_ids"] = list(run_ids)
        runs_filter = "WHERE has({run_ids:Array(String)}, run_id)"
    sql = f"SELECT * FROM ({summary_sql(store.database)}) {runs_filter}"
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for row in store.query(sql, params).to_pylist():
        run_id, name = row.pop("run_id"), row.pop("name")
        found.setdefault(run_id, {})[name] = row

    return found


def iso(value: Any) -> str | None:
    """Return a stored time as ISO 8601 in UTC, or None if never set."""
    if value is None or value.timestamp() <= 0:
        return None
    return str(value.isoformat().replace("+00:00", "Z"))


def list_experiments(
    store: Store, workspace: str, limit: int, offset: int
) -> dict[str, Any]:
    """Return the workspace's experiments with run counts per status."""
    sql = f"""
        SELECT experiment AS name, count() AS run_count,
            countIf(status = 'Running') AS running,
            countIf(status = 'Completed') AS completed,
            countIf(status = 'Failed') AS failed,
            countIf(status = 'Canceled') AS canceled,
            min(created_time) AS first_created,
            max(created_time) AS last_created,
            count() OVER () AS total
        FROM ({RUNS_SQL.format(db=store.database)})
        WHERE experiment != ''
        GROUP BY experiment
        ORDER BY experiment
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
    """
    rows = store.query(
        sql, {"workspace": workspace, "limit": limit, "offset": offset}
    ).to_pylist()
    experiments = [
        {
            "name": row["name"],
            "run_count": row["run_count"],
            "status_counts": {
                s: row[s.lower()]
                for s in ("Running", "Completed", "Failed", "Canceled")
            },
            "first_created": iso(row["first_created"]),
            "last_created": iso(row["last_created"]),
        }
        for row in rows
    ]

    return {
        "total": rows[0]["total"] if rows else 0,
        "offset": offset,
        "limit": limit,
        "experiments": experiments,
    }


class ParamSource(enum.StrEnum):
    """Where a sweep reads a run's parameter."""

    TAG = "tag"
    PROPERTY = "property"
    METRIC = "metric"


def has_experiment(store: Store, workspace: str, experiment: str) -> bool:
    """Return whether any run of the workspace is in ``experiment``."""
    rows = store.query(
        f"""
        SELECT 1 AS found FROM {store.database}.run_updates
        WHERE workspace = {{workspace:String}}
          AND experiment = {{experiment:String}}
        LIMIT 1
        """,
        {"workspace": workspace, "experiment": experiment},
    )

    return bool(rows.num_rows > 0)


def read_sweep(
    store: Store,
    workspace: str,
    experiment: str,
    param: str,
    source: ParamSource,
    metric: str,
    aggregate: Aggregate,
) -> dict[str, Any]:
    """Return one point per run of an experiment: (parameter, metric)."""
    page = search_runs(
        store,
        RunSearch(
            workspace=workspace,
            experiment=experiment,
            sort_metric=metric,
            sort_aggregate=aggregate,
            order=Order.ASC,
            limit=100_000,
        ),
    )
    runs = page["runs"]
    params = _param_values(store, workspace, runs, param, source)
    points = []
    for run in runs:
        summary = run["metrics"].get(metric)
        if run["run_id"] not in params or summary is None:
            continue
        points.append(
            {
                "run_id": run["run_id"],
                "param": params[run["run_id"]],
                "value": summary[aggregate.value],
                "status": run["status"],
            }
        )
    points.sort(key=_sweep_order)

    return {
        "experiment": experiment,
        "param": param,
        "param_source": source.value,
        "metric": metric,
        "aggregate": aggregate.value,
        "runs_considered": len(runs),
        "points": points,
    }


def _sweep_order(point: Mapping[str, Any]) -> tuple[int, Any]:
    value = point["param"]
    if isinstance(value, float):
        return (0, value)
    return (1, str(value))


def _param_values(
    store: Store,
    workspace: str,
    runs: Sequence[Mapping[str, Any]],
    param: str,
    source: ParamSource,
) -> dict[str, Any]:
    run_ids = [run["run_id"] for run in runs]
    if source is ParamSource.TAG:
        raw = {
            run["run_id"]: run["tags"][param]
            for run in runs
            if param in run["tags"]
        }
    elif source is ParamSource.METRIC:
        found = read_summaries(store, workspace, run_ids, [param])
        raw = {r: m[param]["last"] for r, m in found.items()}
    else:
        props = properties_sql(store)
        if props is None:
            return {}
        rows = store.query(
            f"SELECT run_id, value FROM ({props}) WHERE key = {{key:String}}",
            {"workspace": workspace, "key": param},
        ).to_pylist()
        raw = {row["run_id"]: row["value"] for row in rows}

    return {run_id: _number_or_text(v) for run_id, v in raw.items()}


def _number_or_text(value: Any) -> Any:
    """Return a parameter as a float when it reads as one."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def read_writer_aggregate(
    store: Store,
    workspace: str,
    run_id: str,
    name: str,
    max_points: int,
) -> dict[str, Any]:
    """Return a metric per step across the run's writers: mean, min, max.

    Past ``max_points`` steps, equal-width step buckets are merged: the
    mean weighs each finite value once, min and max stay exact.
    """
    db = store.database
    params = {"workspace": workspace, "run_id": run_id, "name": name}
    span = store.query(
        f"""
        SELECT min(step) AS lo, max(step) AS hi, uniqExact(step) AS steps
        FROM {db}.points
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND name = {{name:String}} AND column_name = ''
          AND value_type IN (1, 2, 3, 5)
        """,
        params,
    ).to_pylist()[0]
    width = 1
    if span["steps"] > max_points:
        width = -(-(span["hi"] - span["lo"] + 1) // max_points)
    sql = f"""
        SELECT intDiv(step - {int(span["lo"] or 0)}, {int(width)}) AS b,
            min(step) AS step_start, max(step) AS step_end,
            count() AS count, uniqExact(writer_id) AS writers,
            avgIf(value, isFinite(value)) AS mean,
            minIf(value, isFinite(value)) AS min,
            maxIf(value, isFinite(value)) AS max,
            countIf(NOT isFinite(value)) AS non_finite
        FROM {db}.points FINAL
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND name = {{name:String}} AND column_name = ''
          AND value_type IN (1, 2, 3, 5)
        GROUP BY b ORDER BY b
    """
    cols = store.query(sql, params).to_pydict()
    finite = [
        n - bad
        for n, bad in zip(
            cols.get("count", []), cols.get("non_finite", []), strict=True
        )
    ]
    keys = ("step_start", "step_end", "count", "writers", "non_finite")
    answer: dict[str, Any] = {k: cols.get(k, []) for k in keys}
    for stat in ("mean", "min", "max"):
        answer[stat] = [
            v if n else None
            for v, n in zip(cols.get(stat, []), finite, strict=True)
        ]

    return {
        "name": name,
        "downsampled": width > 1,
        "steps_per_bucket": width,
        **answer,
    }
