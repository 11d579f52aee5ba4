"""The query benchmark runs end to end at a tiny size.

The benchmark itself is not a test (docs/benchmarks.md has its figures);
this only keeps its script working as the code under it changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "query_bench.py"


def test_query_bench_runs_at_smoke_size(tmp_path):
    """A 30,000-point, 50-run load reports every median."""
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            str(BENCH),
            "--runs=50",
            "--long=20000",
            "--medium=5000",
            "--per-run=100",
            "--repeat=1",
            f"--store={tmp_path / 'store'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["points"] == 30_000 and report["runs"] == 52
    assert report["long_run_points"] == 20_000
    assert report["medium_run_points"] == 5_000
    for key in (
        "series_long_to_1000_ms",
        "get_metrics_medium_ms",
        "search_sorted_by_metric_ms",
    ):
        assert report[key] > 0
