"""The charts of a run, each with its data ready to draw.

Following the run-history reference: a scalar logged repeatedly, or a
list, is a single-variable line (x = step); a row or table metric with at
least two numeric columns is a two-variable line of its first two numeric
columns; image metrics form a gallery. A metric with one point is a value,
not a chart. Rendering to PNG or SVG lives in ``_render``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from runstream._store.backends import Store
from runstream.query import _series
from runstream.query._series import NUMERIC_TYPES, SeriesRequest

LINE_KINDS = frozenset({"scalar", "list"})
TABLE_KINDS = frozenset({"row", "table"})
IMAGE_KINDS = frozenset({"image"})
#: Images listed per gallery; a gallery of a whole sweep stays readable.
MAX_GALLERY_IMAGES = 1000


def catalog_sql(database: str) -> str:
    """Return per metric and column: kind, points, numeric points."""
    return f"""
        SELECT name, any(kind) AS kind, column_name,
            min((step, seq, idx)) AS first_key,
            count() AS points,
            countIf(value_type IN {NUMERIC_TYPES}) AS numeric
        FROM {database}.points
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
        GROUP BY name, column_name
        ORDER BY name, first_key
    """


def plan_charts(catalog: pa.Table) -> list[dict[str, Any]]:
    """Return which chart each metric makes, from catalog_sql rows."""
    metrics: dict[str, dict[str, Any]] = {}
    for row in catalog.to_pylist():
        entry = metrics.setdefault(
            row["name"], {"kind": row["kind"], "columns": []}
        )
        entry["columns"].append(row)

    plans = []
    for name, entry in metrics.items():
        kind, columns = entry["kind"], entry["columns"]
        if kind in IMAGE_KINDS:
            plans.append({"name": name, "type": "image_gallery"})
            continue
        if kind in LINE_KINDS:
            (only,) = columns[:1]
            if only["points"] > 1 and only["numeric"] == only["points"]:
                plans.append({"name": name, "type": "line"})
            continue
        numeric = [
            c["column_name"]
            for c in columns
            if c["numeric"] and c["numeric"] == c["points"]
        ]
        rows = max(c["points"] for c in columns)
        if kind in TABLE_KINDS and len(numeric) >= 2 and rows > 1:
            plans.append(
                {
                    "name": name,
                    "type": "xy_line",
                    "x_column": numeric[0],
                    "y_column": numeric[1],
                }
            )

    return plans


def read_charts(
    store: Store, workspace: str, run_id: str, max_points: int
) -> list[dict[str, Any]]:
    """Return the run's charts, each with its data."""
    params = {"workspace": workspace, "run_id": run_id}
    plans = plan_charts(store.query(catalog_sql(store.database), params))
    return [
        fill_chart(store, workspace, run_id, plan, max_points)
        for plan in plans
    ]


def fill_chart(
    store: Store,
    workspace: str,
    run_id: str,
    plan: dict[str, Any],
    max_points: int,
) -> dict[str, Any]:
    """Return ``plan`` with the data its chart draws."""
    chart = dict(plan, run_id=run_id)
    if plan["type"] == "line":
        chart["data"] = _series.read_series(
            store,
            SeriesRequest(
                workspace, (run_id,), plan["name"], max_points=max_points
            ),
        )
    elif plan["type"] == "xy_line":
        chart["data"] = read_xy(store, workspace, run_id, plan, max_points)
    else:
        chart["data"] = read_gallery(store, workspace, run_id, plan["name"])

    return chart


def find_chart(
    store: Store, workspace: str, run_id: str, name: str, max_points: int
) -> dict[str, Any] | None:
    """Return the chart of one metric with its data, or None."""
    params = {"workspace": workspace, "run_id": run_id}
    plans = plan_charts(store.query(catalog_sql(store.database), params))
    for plan in plans:
        if plan["name"] == name:
            return fill_chart(store, workspace, run_id, plan, max_points)

    return None


def read_xy(
    store: Store,
    workspace: str,
    run_id: str,
    plan: dict[str, Any],
    max_points: int,
) -> dict[str, Any]:
    """Return the (x column, y column) pairs of a table metric, in row
    order; past ``max_points`` rows, M4 over row order keeps each bucket's
    first, last, lowest and highest y."""
    db = store.database
    params = {
        "workspace": workspace,
        "run_ids": [run_id],
        "name": plan["name"],
        "x_column": plan["x_column"],
        "y_column": plan["y_column"],
    }
    rows = f"""
        SELECT run_id, toFloat64(step) AS x,
            anyIf(value, column_name = {{y_column:String}}) AS y,
            anyIf(value, column_name = {{x_column:String}}) AS xv,
            (step, writer_id, seq) AS k
        FROM {db}.points FINAL
        WHERE workspace = {{workspace:String}}
          AND run_id IN {{run_ids:Array(String)}}
          AND name = {{name:String}}
          AND column_name IN ({{x_column:String}}, {{y_column:String}})
        GROUP BY run_id, step, writer_id, seq
    """
    span = store.query(
        f"SELECT count() AS n, min(x) AS lo, max(x) AS hi FROM ({rows})",
        params,
    ).to_pylist()[0]
    base = {"x_column": plan["x_column"], "y_column": plan["y_column"]}
    if span["n"] <= max_points:
        cols = store.query(
            f"SELECT xv, y FROM ({rows}) ORDER BY k", params
        ).to_pydict()
        points = {"x": cols.get("xv", []), "y": cols.get("y", [])}
        return {
            **base,
            "downsampled": False,
            "method": "none",
            "count": span["n"],
            "points": points,
        }

    buckets = max(1, max_points // _series.POINTS_PER_BUCKET)
    width = (span["hi"] - span["lo"]) / buckets or 1.0
    grid = (float(span["lo"]), width, buckets)
    table = store.query(_series.bucket_sql(rows, grid, drawn="xv"), params)
    shaped = _series.shape_buckets(table, grid).get(run_id)
    points = shaped["points"] if shaped else {"x": [], "y": []}

    return {
        **base,
        "downsampled": True,
        "method": _series.METHOD,
        "method_note": "buckets of row order; " + _series.METHOD_NOTE,
        "count": span["n"],
        "points": points,
    }


def read_gallery(
    store: Store, workspace: str, run_id: str, name: str
) -> dict[str, Any]:
    """Return the image references of an image metric, in step order."""
    cols = store.query(
        f"""
        SELECT step, value_str AS uri FROM {store.database}.points FINAL
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND name = {{name:String}}
        ORDER BY step, time
        LIMIT {MAX_GALLERY_IMAGES}
        """,
        {"workspace": workspace, "run_id": run_id, "name": name},
    ).to_pydict()
    return {
        "images": [
            {"step": s, "uri": u}
            for s, u in zip(
                cols.get("step", []), cols.get("uri", []), strict=True
            )
        ]
    }
