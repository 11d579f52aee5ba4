"""The reference's three workflows, run as the examples/ scripts are.

Each example runs in a process of its own with ``runstream.json`` in its
folder (what ``Workspace.from_config()`` reads), against the session's
real broker and server; the test then reads the run back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runstream import Experiment, Run, Workspace

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_example(workspace: Workspace, folder: Path, script: str) -> str:
    """Run an example script in ``folder``; return its run id."""
    workspace.write_config(folder)
    result = subprocess.run(
        [sys.executable, script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.findall(r"^run id: (\S+)$", result.stdout, re.MULTILINE)
    assert found, result.stdout
    return found[-1]


def test_train_within_notebook_workflow(workspace: Workspace, tmp_path):
    """start_logging, log alpha and mse, upload the model, complete."""
    shutil.copy(EXAMPLES / "train_within_notebook.py", tmp_path)
    (tmp_path / "outputs").mkdir()
    text = (tmp_path / "train_within_notebook.py").read_text()
    text = text.replace("ws = Workspace()", "ws = Workspace.from_config()")
    (tmp_path / "train_within_notebook.py").write_text(text)

    sweep_id = _run_example(workspace, tmp_path, "train_within_notebook.py")
    runs = list(Experiment(workspace, "train-within-notebook").get_runs())

    (run,) = runs
    metrics = run.get_metrics()
    assert set(metrics) == {"alpha", "mse"}
    assert metrics["alpha"] == 0.03
    assert 3000 < metrics["mse"] < 4000
    assert run.get_file_names() == ["outputs/model.pkl"]
    assert run.get_tags() == {}
    assert run.get_status() == "Completed"
    details = run.get_details()
    assert details["status"] == "Completed"
    assert details["runType"] == "interactive"
    assert details["endTimeUtc"] >= details["startTimeUtc"]
    sweep = Run(Experiment(workspace, "train-on-local"), sweep_id)
    assert len(sweep.get_metrics()["alpha"]) == 20


def test_train_on_local_script_run_workflow(workspace: Workspace, tmp_path):
    """submit(ScriptRunConfig) runs train.py (importing mylib) to Completed."""
    folder = tmp_path / "train_on_local"
    shutil.copytree(EXAMPLES / "train_on_local", folder)

    run_id = _run_example(workspace, folder, "submit.py")
    experiment = Experiment(workspace, "train-on-local")
    run = Run(experiment, run_id)

    metrics = run.get_metrics()
    assert [round(a, 2) for a in metrics["alpha"]] == [
        round(0.05 * i, 2) for i in range(20)
    ]
    assert len(metrics["mse"]) == 20
    files = run.get_file_names()
    ridge = [f"ridge_{0.05 * i:.2f}.pkl" for i in range(20)]
    assert sorted(files) == sorted(
        [*ridge, "snapshot/source.zip", "user_logs/std_log.txt"]
    )
    assert run.get_tags() == {}
    assert run.get_status() == "Completed"
    details = run.get_details()
    assert details["runType"] == "azureml.scriptrun"
    assert details["runDefinition"]["script"] == "train.py"
    assert details["runDefinition"]["environment"]["name"] == (
        "user-managed-env"
    )
    assert details["properties"]["ContentSnapshotId"] == "snapshot/source.zip"
    assert list(details["logFiles"]) == ["user_logs/std_log.txt"]
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert "alpha is 0.95, and mse is" in log
    assert [r.id for r in experiment.get_runs()] == [run_id]


def test_logging_api_tour_workflow(workspace: Workspace, tmp_path):
    """The logging tour's metrics, image, file and tags read back."""
    shutil.copy(EXAMPLES / "logging_api_tour.py", tmp_path)

    run_id = _run_example(workspace, tmp_path, "logging_api_tour.py")
    run = Run(Experiment(workspace, "logging-api-test"), run_id)

    metrics = run.get_metrics()
    assert metrics["Category"] == "Red"
    assert metrics["scale factor"] == 2
    assert metrics["Magic Number"] == 84
    assert metrics["Fibonacci"] == [
        0, 2, 2, 4, 6, 10, 16, 26, 42, 68, 110, 178,
    ]  # fmt: skip
    sigmoid = metrics["Sigmoid"]
    assert len(sigmoid) == 20 and sigmoid == sorted(sigmoid)
    assert sigmoid[0] == pytest.approx(4.54e-05, rel=1e-2)
    assert set(metrics["Cosine Wave"]) == {"angle", "cos"}
    assert len(metrics["Cosine Wave"]["cos"]) == 20
    assert set(metrics["Sine Wave"]) == {"angle", "sine"}
    assert len(metrics["Sine Wave"]["sine"]) == 20
    for name in ("Accuracy", "Precision", "Recall"):
        assert len(metrics[name]) == 15
        assert len(metrics[name]["col0"]) == 999
    image = metrics["Hyperbolic Tangent"]
    prefix = f"aml://artifactId/ExperimentRun/dcid.{run_id}/"
    assert image.startswith(prefix + "Hyperbolic Tangent_")
    image_file = image.removeprefix(prefix)
    assert sorted(run.get_file_names()) == sorted(
        [image_file, "logging-api/myfile.txt"]
    )
    assert (tmp_path / "files" / "myfile.txt").read_text().startswith("This")
    assert run.get_tags() == {
        "My Favorite Run": None,
        "Competition Rank": "1",
    }
    assert run.get_status() == "Completed"
    assert run.get_details()["status"] == "Completed"
