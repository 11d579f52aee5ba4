"""Series reads: one metric of one or several runs, downsampled in SQL.

A series longer than its ``max_points`` bound is cut into equal buckets of
the x axis, shared by every run on the chart, and each bucket keeps its
first, lowest, highest and last point ("M4"). The lowest and highest are
taken over finite values; NaN and infinities are counted per bucket
instead, and the first and last point of a bucket are kept whatever they
hold, so the first and last point of the series always survive. Random
sampling would hide spikes; M4 draws the same picture as the full series
at one bucket per pixel column.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import attrs
import pyarrow as pa

from runstream._store.backends import Store

#: value_type codes that carry a number: BOOL, INT, FLOAT, BIGINT.
NUMERIC_TYPES = "(1, 2, 3, 5)"
#: Points per bucket kept by M4: first, lowest, highest, last.
POINTS_PER_BUCKET = 4
METHOD = "m4"
METHOD_NOTE = (
    "equal-width buckets of the x axis, shared by every series; each "
    "bucket keeps its first, lowest, highest and last point (lowest and "
    "highest over finite values); NaN and infinities are counted per bucket"
)


class XAxis(enum.StrEnum):
    """What a series is drawn against."""

    STEP = "step"
    TIME = "time"
    RELATIVE = "relative"


@attrs.frozen
class SeriesRequest:
    """One metric (or one column of a table metric) of several runs."""

    workspace: str
    run_ids: tuple[str, ...]
    name: str
    column: str = ""
    x: XAxis = XAxis.STEP
    max_points: int = 1000


def _raw_x(x: XAxis) -> tuple[str, float]:
    """Return the SQL of a point's raw x (a whole number) and its scale.

    Times stay whole microseconds until the per-run offset is taken off,
    so relative times keep their precision.
    """
    if x is XAxis.STEP:
        return "step", 1.0
    return "toUnixTimestamp64Micro(time)", 1e6


def _source_sql(database: str, request: SeriesRequest, offsets: str) -> str:
    raw, scale = _raw_x(request.x)
    return f"""
        SELECT run_id, ({raw} - {offsets}) / {scale!r} AS x, value AS y,
            time AS t, writer_id, seq, idx
        FROM {database}.points FINAL
        WHERE workspace = {{workspace:String}}
          AND run_id IN {{run_ids:Array(String)}}
          AND name = {{name:String}} AND column_name = {{column:String}}
          AND value_type IN {NUMERIC_TYPES}
    """


def _params(request: SeriesRequest) -> dict[str, Any]:
    return {
        "workspace": request.workspace,
        "run_ids": list(request.run_ids),
        "name": request.name,
        "column": request.column,
    }


def _offsets_sql(request: SeriesRequest, starts: dict[str, int]) -> str:
    """Return per-run raw x offsets: the run's first x for relative time.

    The offsets are whole numbers this module read from the store, so they
    are written into the SQL as literals; run ids stay parameters.
    """
    if request.x is not XAxis.RELATIVE or not starts:
        return "0"

    branches = ", ".join(
        f"run_id = {{run_ids:Array(String)}}[{i + 1}], {int(starts[r])}"
        for i, r in enumerate(request.run_ids)
        if r in starts
    )
    return f"multiIf({branches}, 0)"


def _stats(store: Store, request: SeriesRequest) -> dict[str, dict[str, Any]]:
    raw, _ = _raw_x(request.x)
    sql = f"""
        SELECT run_id, count() AS n, min({raw}) AS raw_min,
               max({raw}) AS raw_max
        FROM {store.database}.points FINAL
        WHERE workspace = {{workspace:String}}
          AND run_id IN {{run_ids:Array(String)}}
          AND name = {{name:String}} AND column_name = {{column:String}}
          AND value_type IN {NUMERIC_TYPES}
        GROUP BY run_id
    """
    rows = store.query(sql, _params(request)).to_pylist()
    return {row["run_id"]: row for row in rows}


def read_series(store: Store, request: SeriesRequest) -> dict[str, Any]:
    """Return the series of every requested run, on one shared x grid."""
    stats = _stats(store, request)
    relative = request.x is XAxis.RELATIVE
    starts = {r: s["raw_min"] for r, s in stats.items()}
    _, scale = _raw_x(request.x)
    bounds = [
        (
            (s["raw_min"] - (starts[r] if relative else 0)) / scale,
            (s["raw_max"] - (starts[r] if relative else 0)) / scale,
        )
        for r, s in stats.items()
    ]
    offsets = _offsets_sql(request, starts)
    longest = max((s["n"] for s in stats.values()), default=0)
    answer: dict[str, Any] = {
        "name": request.name,
        "column": request.column or None,
        "x": request.x.value,
        "max_points": request.max_points,
    }
    if longest <= request.max_points:
        answer.update(downsampled=False, method="none", grid=None)
        answer["series"] = _raw_series(store, request, offsets)
        return answer

    lo = min(lo for lo, _ in bounds)
    hi = max(hi for _, hi in bounds)
    buckets = max(1, request.max_points // POINTS_PER_BUCKET)
    width = (hi - lo) / buckets if hi > lo else 1.0
    answer.update(
        downsampled=True,
        method=METHOD,
        method_note=METHOD_NOTE,
        grid={"x_min": lo, "x_max": hi, "buckets": buckets, "width": width},
    )
    answer["series"] = _bucketed_series(
        store, request, offsets, (lo, width, buckets)
    )

    return answer


def _raw_series(
    store: Store,
    request: SeriesRequest,
    offsets: str,
) -> list[dict[str, Any]]:
    sql = f"""
        SELECT run_id, x, y
        FROM ({_source_sql(store.database, request, offsets)})
        ORDER BY run_id, x, t, writer_id, seq, idx
    """
    table = store.query(sql, _params(request))
    by_run: dict[str, tuple[list[float], list[float]]] = {}
    if table.num_rows:
        cols = table.to_pydict()
        rows = zip(cols["run_id"], cols["x"], cols["y"], strict=True)
        for run_id, x, y in rows:
            xs, ys = by_run.setdefault(run_id, ([], []))
            xs.append(x)
            ys.append(y)

    series = []
    for run_id in request.run_ids:
        xs, ys = by_run.get(run_id, ([], []))
        series.append(
            {
                "run_id": run_id,
                "count": len(xs),
                **_non_finite_counts(ys),
                "points": {"x": xs, "y": ys},
            }
        )

    return series


def _non_finite_counts(ys: Sequence[float]) -> dict[str, int]:
    nan = sum(1 for y in ys if y != y)
    pos = sum(1 for y in ys if y == float("inf"))
    neg = sum(1 for y in ys if y == float("-inf"))
    return {"nan_count": nan, "pos_inf_count": pos, "neg_inf_count": neg}


def bucket_sql(
    source: str, grid: tuple[float, float, int], drawn: str = "x"
) -> str:
    """Return M4 per (run, bucket) over ``source`` rows (run_id, x, y).

    ``grid`` is (lowest x, bucket width, bucket count), numbers computed
    by this module, never taken from a request. ``drawn`` is the x a kept
    point is drawn at (a table's x column); buckets follow ``x``. Plain
    numeric argMin/argMax keep this one pass over the rows: tuples as
    sort keys made it several times slower.
    """
    lo, width, buckets = grid
    return f"""
        SELECT run_id,
            least(toUInt32(greatest(floor((x - {lo!r}) / {width!r}), 0)),
                  {buckets - 1}) AS b,
            count() AS n,
            countIf(isNaN(y)) AS nans,
            countIf(y = inf) AS pos_infs,
            countIf(y = -inf) AS neg_infs,
            countIf(isFinite(y)) AS finite,
            min(x) AS first_at, argMin({drawn}, x) AS first_x,
            argMin(y, x) AS first_y,
            max(x) AS last_at, argMax({drawn}, x) AS last_x,
            argMax(y, x) AS last_y,
            argMinIf(x, y, isFinite(y)) AS low_at,
            argMinIf({drawn}, y, isFinite(y)) AS low_x,
            minIf(y, isFinite(y)) AS low_y,
            argMaxIf(x, y, isFinite(y)) AS high_at,
            argMaxIf({drawn}, y, isFinite(y)) AS high_x,
            maxIf(y, isFinite(y)) AS high_y
        FROM ({source})
        GROUP BY run_id, b
        ORDER BY run_id, b
    """


def _bucketed_series(
    store: Store,
    request: SeriesRequest,
    offsets: str,
    grid: tuple[float, float, int],
) -> list[dict[str, Any]]:
    source = _source_sql(store.database, request, offsets)
    rows = store.query(bucket_sql(source, grid), _params(request))
    by_run = shape_buckets(rows, grid)
    return [
        by_run.get(run_id, _empty_bucketed(run_id))
        for run_id in request.run_ids
    ]


def _empty_bucketed(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "count": 0,
        "nan_count": 0,
        "pos_inf_count": 0,
        "neg_inf_count": 0,
        "points": {"x": [], "y": []},
        "buckets": {
            k: [] for k in ("index", "count", "nan", "pos_inf", "neg_inf")
        },
    }


def shape_buckets(
    rows: pa.Table, grid: tuple[float, float, int]
) -> dict[str, dict[str, Any]]:
    """Turn bucket_sql rows into per-run points and per-bucket counts."""
    by_run: dict[str, dict[str, Any]] = {}
    for row in rows.to_pylist():
        series = by_run.get(row["run_id"])
        if series is None:
            series = by_run[row["run_id"]] = _empty_bucketed(row["run_id"])
        kept = [_kept(row, "first")]
        if row["finite"]:
            kept += [_kept(row, "low"), _kept(row, "high")]
        kept.append(_kept(row, "last"))
        points = series["points"]
        for x, y in _unique_in_x_order(kept):
            points["x"].append(x)
            points["y"].append(y)
        buckets = series["buckets"]
        buckets["index"].append(row["b"])
        buckets["count"].append(row["n"])
        buckets["nan"].append(row["nans"])
        buckets["pos_inf"].append(row["pos_infs"])
        buckets["neg_inf"].append(row["neg_infs"])
        series["count"] += row["n"]
        series["nan_count"] += row["nans"]
        series["pos_inf_count"] += row["pos_infs"]
        series["neg_inf_count"] += row["neg_infs"]

    lo, width, _ = grid
    for series in by_run.values():
        index = series["buckets"]["index"]
        series["buckets"]["x_start"] = [lo + i * width for i in index]

    return by_run


def _unique_in_x_order(
    points: list[tuple[float, float, float]],
) -> list[tuple[float, float]]:
    """Return the kept points of a bucket once each, in drawing order.

    The first point comes first in the order and the last comes last, so
    only the middle needs sorting.
    """
    triples = points
    middle = sorted(triples[1:-1], key=lambda p: p[2])
    kept: list[tuple[float, float]] = []
    for x, y, _ in [triples[0], *middle, triples[-1]]:
        if not any(_same((x, y), seen) for seen in kept):
            kept.append((x, y))

    return kept


def _kept(row: dict[str, Any], which: str) -> tuple[float, float, float]:
    """Return one kept point of a bucket_sql row: (x drawn, y, order)."""
    return (row[f"{which}_x"], row[f"{which}_y"], row[f"{which}_at"])


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Compare points so that two NaN values count as equal."""
    return a[0] == b[0] and (a[1] == b[1] or (a[1] != a[1] and b[1] != b[1]))
