"""`runstream up`, the reference example as a real script, `runstream down`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _runstream(*args: str, env: dict[str, str], timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "runstream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_up_runs_the_reference_example_and_down_stops_it(
    tmp_path: Path,
) -> None:
    """The README's main job: both examples read alpha and mse back."""
    pytest.importorskip("sklearn")
    env = {**os.environ, "RUNSTREAM_HOME": str(tmp_path / "home")}
    env.pop("RUNSTREAM_CONFIG", None)

    up = _runstream("up", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert "kafka:     127.0.0.1:" in up.stdout
        assert "server:    http://127.0.0.1:" in up.stdout

        example = subprocess.run(
            [sys.executable, str(REPO / "examples/train_within_notebook.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        down = _runstream("down", env=env)

    assert example.returncode == 0, example.stderr
    out = example.stdout
    assert "metrics read back: {'alpha': 0.03, 'mse': 3424.85" in out
    assert "files: ['outputs/model.pkl']" in out
    alphas = [round(a * 0.05, 2) for a in range(20)]
    assert f"alpha read back: {alphas}" in out
    assert "mse read back: [3424.3, 3408.9," in out
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "home" / "endpoints.json").exists()
