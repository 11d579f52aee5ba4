"""``RunDetails(run).show()`` and ``get_widget_data()``, end to end."""

from __future__ import annotations

import base64
import re

import pytest

from runstream import (
    Experiment,
    InvalidTypeError,
    ServerError,
    Workspace,
    widgets,
)
from runstream.widgets import RunDetails

pytestmark = pytest.mark.e2e

WIDGET_KEYS = {
    "status",
    "workbench_run_details_uri",
    "run_id",
    "run_properties",
    "child_runs",
    "children_metrics",
    "run_metrics",
    "run_logs",
    "graph",
    "widget_settings",
}


def _logged_run(workspace: Workspace):
    run = Experiment(workspace, "widget").start_logging(
        outputs=False, tags={"team": "<b>ml</b>"}
    )
    run.log("alpha", 0.5)
    for value in (0.9, 0.5, 0.25):
        run.log("loss", value)
    run.log_row("row", x=1, y=2)
    return run


def test_get_widget_data_has_azureml_keys(workspace: Workspace):
    """The data dict carries azureml.widgets' keys and the run's values."""
    run = _logged_run(workspace)
    child = run.child_run()
    child.log("acc", 0.7)

    data = RunDetails(run).get_widget_data(
        {"Metric": {"name": "acc", "goal": "maximize"}}
    )

    assert set(data) == WIDGET_KEYS
    assert (data["run_id"], data["status"]) == (run.id, "Running")
    assert data["workbench_run_details_uri"] == run.get_portal_url()
    assert data["run_properties"]["tags"] == {"team": "<b>ml</b>"}
    assert data["run_properties"]["end_time_utc"] is None
    metrics = {m["name"]: m["series"][0]["data"] for m in data["run_metrics"]}
    assert metrics == {
        "alpha": [0.5],
        "loss": [0.9, 0.5, 0.25],
        "row": [{"x": 1, "y": 2}],
    }
    assert [c["run_id"] for c in data["child_runs"]] == [child.id]
    assert data["children_metrics"] == {
        "metric_name": "acc",
        "goal": "maximize",
        child.id: 0.7,
    }
    assert data["run_logs"] == ""


def test_show_prints_a_text_summary_outside_jupyter(
    workspace: Workspace, capsys
):
    """Without a notebook, show() prints the run once and returns."""
    run = _logged_run(workspace)
    run.complete()
    details = RunDetails(run)

    details.show()

    out = capsys.readouterr().out
    assert f"Run {run.id} (widget): Completed" in out
    assert "  alpha: 0.5" in out
    assert "  loss: 3 values, last 0.25" in out
    assert f"Web View: {run.get_portal_url()}" in out
    assert "The run has no log." in out
    assert details._thread is None


def test_show_in_jupyter_refreshes_until_the_run_ends(
    workspace: Workspace, monkeypatch
):
    """In a notebook the HTML view redraws until the run is terminal; a
    multi-point metric is an inline SVG chart, text is escaped."""
    frames: list[str] = []
    monkeypatch.setattr(widgets, "_notebook_display", lambda: frames.append)
    run = _logged_run(workspace)
    details = RunDetails(run)
    details.first_refresh_s = details.max_refresh_s = 0.2

    details.show()
    run.log("loss", 0.125)
    run.complete()
    details._thread.join(timeout=60)

    assert not details._thread.is_alive()
    assert "Running" in frames[0]
    assert "Run " + run.id + ": Completed" in frames[-1]
    assert "&lt;b&gt;ml&lt;/b&gt;" in frames[-1]
    assert "<b>ml</b>" not in frames[-1]
    charts = re.findall(
        r"src='data:image/svg\+xml;base64,([^']+)'", frames[-1]
    )
    assert len(charts) == 1
    assert base64.b64decode(charts[0]).lstrip().startswith(b"<?xml")
    assert "alpha" in frames[-1]
    details.stop()


def test_show_stops_after_repeated_errors(workspace: Workspace, monkeypatch):
    """Three failed refreshes in a row end the refreshing, saying why."""
    frames: list[str] = []
    monkeypatch.setattr(widgets, "_notebook_display", lambda: frames.append)
    run = _logged_run(workspace)
    details = RunDetails(run)
    details.first_refresh_s = details.max_refresh_s = 0.05
    details.show()

    def broken(widget_settings=None):
        raise ServerError("server down")

    monkeypatch.setattr(details, "get_widget_data", broken)
    details._thread.join(timeout=30)

    assert not details._thread.is_alive()
    assert "after 3 failed attempts in a row: server down" in frames[-1]


def test_show_hands_html_to_render_lib(workspace: Workspace):
    """render_lib gets the HTML once, as with Databricks' displayHTML."""
    run = _logged_run(workspace)
    received: list[str] = []

    RunDetails(run).show(render_lib=received.append)

    assert len(received) == 1
    assert received[0].startswith("<div>")


def test_run_details_refuses_what_is_not_a_run(tmp_path, capsys):
    """An offline run or any other object raises, naming run_instance."""
    from runstream import Run

    offline = Run.get_context()

    for thing in (offline, "run-id"):
        with pytest.raises(InvalidTypeError, match="Run") as caught:
            RunDetails(thing)
        assert caught.value.argument == "run_instance"
