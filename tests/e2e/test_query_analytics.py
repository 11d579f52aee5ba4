"""Series, charts, cross-run reads, live stream and SQL, end to end.

Every test logs through the SDK, Kafka and the session's server, then
reads through the HTTP API with the Python client.
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from runstream import Experiment, Workspace
from runstream.errors import InvalidArgumentError, NotFoundError
from runstream.producer._run import Run
from runstream.query.client import AnalyticsClient

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(runstream_server):
    """Give an analytics client of the session's server."""
    with AnalyticsClient(runstream_server.url) as reader:
        yield reader


def _run(workspace: Workspace, experiment: str = "analytics") -> Run:
    return Experiment(workspace, experiment).start_logging()


def _spiky(n: int) -> list[float]:
    values = [math.sin(i / 50) for i in range(n)]
    values[1234] = 1000.0
    values[2000] = math.nan
    values[3000] = math.inf
    values[3001] = -math.inf
    return values


def test_long_series_is_downsampled_keeping_spikes_and_ends(workspace, client):
    """5,000 points read as at most 100, with the spike, both ends and
    the non-finite values counted per bucket."""
    run = _run(workspace)
    run.log_list("loss", _spiky(5000))
    run.get_metrics(name="loss")

    answer = client.get_series(workspace.name, run.id, "loss", max_points=100)

    (series,) = answer["series"]
    points = series["points"]
    assert answer["downsampled"] is True and answer["method"] == "m4"
    assert len(points["x"]) <= 100
    assert 1000.0 in points["y"]
    assert points["x"][0] == 0 and points["x"][-1] == 4999
    assert series["count"] == 5000 == sum(series["buckets"]["count"])
    assert series["nan_count"] == 1 == sum(series["buckets"]["nan"])
    assert series["pos_inf_count"] == 1 and series["neg_inf_count"] == 1
    assert answer["cursor"].isdigit()


def test_short_series_is_raw_on_every_axis(workspace, client):
    """Below max_points every point comes back, NaN included, by step,
    wall time and relative time."""
    run = _run(workspace)
    for value in (1.0, math.nan, 3.0):
        run.log("acc", value)
    run.get_metrics(name="acc")

    by_step = client.get_series(workspace.name, run.id, "acc")
    by_time = client.get_series(workspace.name, run.id, "acc", x="time")
    relative = client.get_series(workspace.name, run.id, "acc", x="relative")

    ys = by_step["series"][0]["points"]["y"]
    assert by_step["downsampled"] is False
    assert ys[0] == 1.0 and math.isnan(ys[1]) and ys[2] == 3.0
    assert by_time["series"][0]["points"]["x"][0] > 1.6e9
    assert relative["series"][0]["points"]["x"][0] == 0.0
    assert relative["series"][0]["points"]["x"] == sorted(
        relative["series"][0]["points"]["x"]
    )


def test_compared_runs_share_one_grid_and_render(workspace, client):
    """Two runs of different lengths are bucketed on the same x grid, and
    the comparison draws as PNG."""
    long_run, short_run = _run(workspace), _run(workspace)
    long_run.log_list("loss", [float(i) for i in range(2000)])
    short_run.log_list("loss", [float(i) for i in range(500)])
    long_run.get_metrics(), short_run.get_metrics()

    answer = client.compare_series(
        workspace.name, [long_run.id, short_run.id], "loss", max_points=40
    )
    png = client._bytes(
        f"/workspaces/{workspace.name}/series",
        [("run_id", long_run.id), ("name", "loss"), ("format", "png")],
    )

    first, second = answer["series"]
    assert answer["grid"]["buckets"] == 10
    assert answer["grid"]["x_max"] == 1999
    assert first["buckets"]["x_start"][:3] == second["buckets"]["x_start"][:3]
    assert second["points"]["x"][-1] == 499
    assert png.startswith(b"\x89PNG")


def test_writers_are_aggregated_per_step(workspace, client):
    """Two handles of one run log the same steps; the aggregate gives the
    mean, min and max across them."""
    run = _run(workspace)
    other = Run(run.experiment, run.id)
    for step in range(3):
        run.log("loss", 1.0 + step, step=step)
        other.log("loss", 3.0 + step, step=step)
    other.flush()
    run.get_metrics()

    answer = client.get_writer_aggregate(workspace.name, run.id, "loss")

    assert answer["step_start"] == [0, 1, 2]
    assert answer["writers"] == [2, 2, 2]
    assert answer["mean"] == [2.0, 3.0, 4.0]
    assert answer["min"] == [1.0, 2.0, 3.0]
    assert answer["max"] == [3.0, 4.0, 5.0]


def test_charts_follow_the_reference_and_render(workspace, client):
    """Repeated logs and lists are lines, two numeric columns a
    two-variable line, one value no chart; PNG and SVG render."""
    run = _run(workspace)
    run.log_list("Fibonacci", [0, 1, 1, 2, 3, 5])
    for i in range(5):
        run.log("Sigmoid", 1 / (1 + math.exp(-i)))
        run.log_row("Cosine Wave", angle=i / 2, cos=math.cos(i / 2))
    run.log_table("Sine Wave", {"angle": [0.0, 0.5], "sine": [0.0, 0.48]})
    run.log("Magic Number", 42)
    run.get_metrics()

    charts = {c["name"]: c for c in client.get_charts(workspace.name, run.id)}
    png = client.render_chart(workspace.name, run.id, "Sigmoid", "png")
    svg = client.render_chart(workspace.name, run.id, "Cosine Wave", "svg")

    assert sorted(charts) == [
        "Cosine Wave",
        "Fibonacci",
        "Sigmoid",
        "Sine Wave",
    ]
    assert charts["Sigmoid"]["type"] == "line"
    assert charts["Fibonacci"]["data"]["series"][0]["points"]["y"] == [
        0,
        1,
        1,
        2,
        3,
        5,
    ]
    cosine = charts["Cosine Wave"]
    assert cosine["type"] == "xy_line"
    assert (cosine["x_column"], cosine["y_column"]) == ("angle", "cos")
    assert cosine["data"]["points"]["x"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert charts["Sine Wave"]["data"]["points"]["y"] == [0.0, 0.48]
    assert png.startswith(b"\x89PNG")
    assert b"<svg" in svg
    with pytest.raises(NotFoundError, match="one point is a value"):
        client.render_chart(workspace.name, run.id, "Magic Number")


def _sweep_runs(workspace: Workspace) -> list[Run]:
    runs = []
    for i, lr in enumerate((0.1, 0.01, 0.001, 0.3)):
        run = _run(workspace, "sweep")
        run.tag("lr", lr)
        run.tag("family", "even" if i % 2 == 0 else "odd")
        run.log("alpha", lr * 10)
        for step in range(4):
            run.log("acc", 0.1 * i + 0.01 * step)
        if i < 3:
            run.complete()
        runs.append(run)
    runs[-1].get_metrics()
    for run in runs[:3]:
        run.get_status()

    return runs


def test_search_leaderboard_sweep_and_experiments(workspace, client):
    """Runs are found by status, tag and metric, sorted and paged; the
    leaderboard ranks them; the sweep pairs a parameter with a metric."""
    runs = _sweep_runs(workspace)
    _run(workspace, "other").get_metrics()

    found = client.search_runs(
        workspace.name,
        {
            "experiment": "sweep",
            "status": ["Completed"],
            "metrics": [
                {"name": "acc", "aggregate": "max", "op": ">", "value": 0.1}
            ],
            "sort": {"metric": "acc", "aggregate": "last", "order": "desc"},
            "limit": 1,
        },
    )
    page_two = client.search_runs(
        workspace.name,
        {
            "tags": {"family": "even"},
            "sort": {"field": "run_id", "order": "asc"},
            "limit": 1,
            "offset": 1,
        },
    )
    board = client.leaderboard(
        workspace.name, "acc", goal="minimize", experiment="sweep"
    )
    sweep = client.sweep(workspace.name, "sweep", "lr", "acc")
    by_metric = client.sweep(
        workspace.name, "sweep", "alpha", "acc", param_source="metric"
    )
    experiments = client.search_experiments(workspace.name)

    assert found["total"] == 2
    assert [r["run_id"] for r in found["runs"]] == [runs[2].id]
    assert found["runs"][0]["metrics"]["acc"]["count"] == 4
    assert found["runs"][0]["tags"]["lr"] == "0.001"
    assert page_two["total"] == 2 and len(page_two["runs"]) == 1
    assert [r["run_id"] for r in board["runs"]] == [r.id for r in runs]
    assert board["runs"][0]["rank"] == 1
    assert board["runs"][0]["value"] == pytest.approx(0.03)
    assert [p["param"] for p in sweep["points"]] == [0.001, 0.01, 0.1, 0.3]
    assert [p["param"] for p in by_metric["points"]] == pytest.approx(
        [0.01, 0.1, 1.0, 3.0]
    )
    assert [e["name"] for e in experiments["experiments"]] == [
        "other",
        "sweep",
    ]
    sweep_stats = experiments["experiments"][1]
    assert sweep_stats["run_count"] == 4
    assert sweep_stats["status_counts"]["Completed"] == 3


def test_runs_are_found_and_swept_by_property(workspace, client):
    """Properties filter a search and feed a sweep; a property nobody set
    matches nothing."""
    runs = []
    for lr in ("0.5", "0.25"):
        run = _run(workspace, "props")
        run.add_properties({"lr": lr})
        run.log("loss", float(lr) * 2)
        runs.append(run)
    for run in runs:
        run.get_metrics()

    found = client.search_runs(workspace.name, {"properties": {"lr": "0.25"}})
    missing = client.search_runs(
        workspace.name, {"properties": {"never": "set"}}
    )
    sweep = client.sweep(
        workspace.name, "props", "lr", "loss", param_source="property"
    )

    assert [r["run_id"] for r in found["runs"]] == [runs[1].id]
    assert missing["total"] == 0 and missing["runs"] == []
    assert [(p["param"], p["value"]) for p in sweep["points"]] == [
        (0.25, 0.5),
        (0.5, 1.0),
    ]


def test_stream_delivers_a_new_point_within_a_second(workspace, client):
    """A point logged while a stream is open arrives as an event within
    about a second of run.log."""
    run = _run(workspace)
    run.log("loss", 1.0)
    run.get_metrics()
    received: list[tuple[float, dict]] = []
    ready = threading.Event()

    def listen():
        for event, data in client.stream(
            workspace.name, run.id, name="loss", duration_s=8
        ):
            if event == "ready":
                ready.set()
            if event == "points":
                received.append((time.monotonic(), data))
                return

    listener = threading.Thread(target=listen)
    listener.start()
    assert ready.wait(10)
    logged_at = time.monotonic()
    run.log("loss", 2.0)
    listener.join(15)

    ((arrived_at, data),) = received
    assert data["metrics"] == {"loss": 2.0}
    assert arrived_at - logged_at < 1.5


def test_sql_reads_only_the_callers_workspace(workspace, client, tmp_path):
    """The SQL views see this workspace's runs and points, not another's."""
    run = _run(workspace)
    run.log_list("loss", [0.5, 0.25])
    run.tag("team", "a")
    run.get_metrics()
    other = Workspace(
        workspace.name + "-other",
        kafka_bootstrap=workspace.endpoints.kafka_bootstrap,
        server_url=workspace.endpoints.server_url,
        artifacts_url=str(tmp_path / "other"),
        topic=workspace.endpoints.topic,
    )
    try:
        Experiment(other, "x").start_logging().get_metrics()
    finally:
        other.close()

    points = client.sql(
        workspace.name,
        "SELECT run_id, count() AS n, max(value) AS top FROM points "
        "GROUP BY run_id",
    )
    joined = client.sql(
        workspace.name,
        "WITH t AS (SELECT run_id FROM tags WHERE key = 'team') "
        "SELECT r.run_id, s.last FROM runs AS r "
        "JOIN metric_summaries AS s ON s.run_id = r.run_id "
        "WHERE r.run_id IN t",
    )
    runs = client.sql(workspace.name, "SELECT run_id FROM runs", limit=1)

    assert points["rows"] == [[run.id, 2, 0.5]]
    assert joined["rows"] == [[run.id, 0.25]]
    assert runs["row_count"] == 1 and runs["truncated"] is False


ESCAPES = {
    "system table": "SELECT * FROM system.tables",
    "other database": "SELECT * FROM runstream.points",
    "file table": "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "url table": "SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')",
    "numbers": "SELECT * FROM numbers(10)",
    "file function": "SELECT file('/etc/hostname')",
    "dictionary": "SELECT dictGet('d', 'x', 1)",
    "in table": "SELECT 1 WHERE 'x' IN system.databases",
    "second statement": "SELECT 1; DROP TABLE runstream.points",
    "breakout": "SELECT 1) UNION ALL (SELECT name FROM system.tables",
    "settings": "SELECT * FROM points SETTINGS readonly = 0",
    "insert": "INSERT INTO runstream.points SELECT * FROM points",
    "unknown column": "SELECT no_such_column FROM points",
}


@pytest.mark.parametrize("sql", list(ESCAPES.values()), ids=list(ESCAPES))
def test_sql_escapes_are_refused_with_4xx(workspace, client, sql):
    """Every way out of the workspace's views is a 4xx with a reason."""
    with pytest.raises(InvalidArgumentError) as refused:
        client.sql(workspace.name, sql)

    assert "request" in str(refused.value)


def test_bad_requests_say_what_to_send(workspace, client):
    """Unknown axes and out-of-range bounds are 422 with the field named;
    a metric the run lacks is 404."""
    run = _run(workspace)
    run.log("loss", 1.0)
    run.get_metrics()

    with pytest.raises(InvalidArgumentError, match="max_points"):
        client.get_series(workspace.name, run.id, "loss", max_points=1)
    with pytest.raises(InvalidArgumentError, match="step"):
        client.get_series(workspace.name, run.id, "loss", x="epoch")
    with pytest.raises(NotFoundError, match="no numeric points"):
        client.get_series(workspace.name, run.id, "missing")


def test_images_form_a_gallery_that_renders(workspace, client, tmp_path):
    """Each log_image of a name is one gallery entry, in step order."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    run = _run(workspace)
    for epoch in range(2):
        picture = tmp_path / f"curve-{epoch}.png"
        Figure(figsize=(1, 1)).savefig(picture)
        run.log_image("Curves", path=str(picture))
    run.get_metrics()

    charts = client.get_charts(workspace.name, run.id)
    png = client.render_chart(workspace.name, run.id, "Curves")

    (gallery,) = charts
    assert gallery["type"] == "image_gallery"
    images = gallery["data"]["images"]
    assert [i["step"] for i in images] == [0, 1]
    assert all(i["uri"].startswith("aml://artifactId/") for i in images)
    assert png.startswith(b"\x89PNG")
