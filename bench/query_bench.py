"""Benchmark of the query layer on a loaded embedded store.

Loads points straight into a fresh chdb store, as ``RowBuilder`` output
(the consumer's rows, so the materialized views fire as in production);
Kafka is not in the loop. Then reads through the real FastAPI app
in-process (HTTP semantics, JSON encoding; no socket) and prints medians.

    python bench/query_bench.py                      # 10M points, 10k runs
    python bench/query_bench.py --runs 50 --long 20000 --medium 5000 \\
        --per-run 100 --repeat 3                     # smoke size

Figures and the machine they came from are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runstream._store import open_store  # noqa: E402 (after the path fix)
from runstream._store.backends import Store  # noqa: E402
from runstream._store.schema import ensure_schema  # noqa: E402
from runstream.consumer._rows import POINT_COLUMNS  # noqa: E402

WORKSPACE = "bench"
POINTS_PER_EVENT = 16_384
T0_US = 1_767_225_600_000_000
UTC_US = pa.timestamp("us", tz="UTC")


def point_rows(run_id: str, name: str, n: int, seed: int) -> pa.Table:
    """Return one run's metric as points rows, the consumer's columns."""
    steps = pa.array(range(n), pa.int64())
    values = [
        math.sin(i / 500 + seed) + (50.0 if i % 99_991 == 7 else 0.0)
        for i in range(n)
    ]
    cols: dict[str, Any] = {
        "workspace": [WORKSPACE] * n,
        "run_id": [run_id] * n,
        "name": [name] * n,
        "kind": ["scalar"] * n,
        "column_name": [""] * n,
        "step": steps,
        "time": pa.array([T0_US + i * 1000 for i in range(n)], UTC_US),
        "writer_id": ["w-" + run_id] * n,
        "seq": pa.array(
            [1 + i // POINTS_PER_EVENT for i in range(n)], pa.uint64()
        ),
        "idx": pa.array([i % POINTS_PER_EVENT for i in range(n)], pa.uint32()),
        "value_type": pa.array([3] * n, pa.uint8()),
        "value": pa.array(values, pa.float64()),
        "value_int": pa.array([0] * n, pa.int64()),
        "value_str": [""] * n,
        "attempt": pa.array([1] * n, pa.uint32()),
    }
    return pa.table({c: cols[c] for c in POINT_COLUMNS})


def run_rows(run_ids: list[str], experiment: str) -> pa.Table:
    """Return RunStarted and RunStatusChanged rows for the runs."""
    n = len(run_ids)
    rows: dict[str, list[Any]] = {
        "workspace": [WORKSPACE] * 2 * n,
        "run_id": run_ids * 2,
        "event_id": [str(uuid.uuid4()) for _ in range(2 * n)],
        "time": [T0_US + i for i in range(2 * n)],
        "writer_id": ["w"] * 2 * n,
        "seq": [1] * n + [2] * n,
        "experiment": [experiment] * n + [""] * n,
        "parent_run_id": [""] * 2 * n,
        "display_name": [""] * 2 * n,
        "run_type": ["run"] * n + [""] * n,
        "status": [""] * n + ["Completed"] * n,
        "error_code": [""] * 2 * n,
        "error_message": [""] * 2 * n,
    }
    table = pa.table(rows)
    return table.set_column(
        table.column_names.index("time"),
        "time",
        pa.array(rows["time"], UTC_US),
    ).set_column(
        table.column_names.index("seq"),
        "seq",
        pa.array(rows["seq"], pa.uint64()),
    )


def many_runs(run_ids: list[str], per_run: int) -> Iterator[pa.Table]:
    """Yield the small runs' points, about a million rows per table."""
    batch: list[pa.Table] = []
    size = 0
    for i, run_id in enumerate(run_ids):
        batch.append(point_rows(run_id, "acc", per_run, seed=i))
        size += per_run
        if size >= 1_000_000:
            yield pa.concat_tables(batch)
            batch, size = [], 0
    if batch:
        yield pa.concat_tables(batch)


def load(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the store; return what was loaded and how long it took."""
    started = time.perf_counter()
    store.insert("points", point_rows("long", "loss", args.long, seed=1))
    store.insert("points", point_rows("medium", "loss", args.medium, seed=2))
    run_ids = [f"run-{i:05d}" for i in range(args.runs)]
    store.insert("run_updates", run_rows(["long", "medium", *run_ids], "e"))
    for table in many_runs(run_ids, args.per_run):
        store.insert("points", table)
    total = args.long + args.medium + args.runs * args.per_run

    return {
        "points": total,
        "long_run_points": args.long,
        "medium_run_points": args.medium,
        "runs": args.runs + 2,
        "load_s": round(time.perf_counter() - started, 1),
    }


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    """Return the median wall time of ``call`` in milliseconds."""
    call()  # warm caches and code paths once
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)

    return round(statistics.median(times), 1)


def measure(store: Store, repeat: int) -> dict[str, float]:
    """Return the medians of the benchmark's reads, and their baselines."""
    from fastapi.testclient import TestClient

    from runstream.query.api import create_app

    http = TestClient(create_app(store, read_wait_s=0))
    ws = f"/api/v1/workspaces/{WORKSPACE}"

    def get(path: str, **params: Any) -> Any:
        response = http.get(ws + path, params=params)
        response.raise_for_status()
        return response

    def search(body: dict[str, Any]) -> Any:
        response = http.post(ws + "/search/runs", json=body)
        response.raise_for_status()
        return response

    by_metric = {"sort": {"metric": "acc", "aggregate": "max"}, "limit": 50}
    raw_search_sql = f"""
        SELECT run_id, max(value) AS top FROM {store.database}.points FINAL
        WHERE workspace = '{WORKSPACE}' AND name = 'acc'
        GROUP BY run_id ORDER BY top DESC LIMIT 50
    """
    series = get("/runs/long/series", name="loss", max_points=1000).json()
    if len(series["series"][0]["points"]["x"]) > 1000:
        raise SystemExit("the downsampled series holds over 1000 points")

    return {
        "series_long_to_1000_ms": median_ms(
            lambda: get("/runs/long/series", name="loss", max_points=1000),
            repeat,
        ),
        "get_metrics_long_ms": median_ms(
            lambda: get("/runs/long/metrics", name="loss"), max(1, repeat // 3)
        ),
        "get_metrics_medium_ms": median_ms(
            lambda: get("/runs/medium/metrics", name="loss"), repeat
        ),
        "search_sorted_by_metric_ms": median_ms(
            lambda: search(by_metric), repeat
        ),
        "search_raw_points_sql_ms": median_ms(
            lambda: store.query(raw_search_sql), repeat
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", type=int, default=1_000_000)
    parser.add_argument("--medium", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--per-run", type=int, default=890)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--store", help="a folder for the store (kept)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(f"chdb://{args.store or scratch}")
        ensure_schema(store)
        try:
            report: dict[str, Any] = load(store, args)
            report.update(measure(store, args.repeat))
        finally:
            store.close()
    report["series_ratio_raw_over_downsampled"] = round(
        report["get_metrics_long_ms"] / report["series_long_to_1000_ms"], 1
    )
    report["search_ratio_raw_over_summary"] = round(
        report["search_raw_points_sql_ms"]
        / report["search_sorted_by_metric_ms"],
        2,
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
