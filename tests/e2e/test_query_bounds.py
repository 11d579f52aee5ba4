"""Bounds of the query layer, end to end: SQL limits and the shared
engine, live backlogs, literal chart names, and 404s for what is missing.

Every test logs through the SDK, Kafka and the session's server, then
reads over HTTP.
"""

from __future__ import annotations

import time

import httpx
import pytest

from runstream import Experiment, Workspace
from runstream.producer._run import Run
from runstream.query.client import AnalyticsClient

pytestmark = pytest.mark.e2e

SLOW_SQL = (
    "SELECT count() AS n FROM (SELECT arrayJoin(range(100000)) AS a) AS x, "
    "(SELECT arrayJoin(range(100000)) AS b) AS y"
)


@pytest.fixture
def http(runstream_server):
    """Give an HTTP client of the session's server's /api/v1."""
    with httpx.Client(
        base_url=runstream_server.url + "/api/v1", timeout=60
    ) as client:
        yield client


@pytest.fixture
def client(runstream_server):
    """Give an analytics client of the session's server."""
    with AnalyticsClient(runstream_server.url) as reader:
        yield reader


def _run(workspace: Workspace, experiment: str = "bounds") -> Run:
    return Experiment(workspace, experiment).start_logging()


def _sql(http, workspace: Workspace, sql: str, limit: int = 100):
    return http.post(
        f"/workspaces/{workspace.name}/sql", json={"sql": sql, "limit": limit}
    )


def test_read_after_a_timed_out_sql_query_gets_its_own_answer(workspace, http):
    """A SQL query stopped by the time bound answers 400 within a few
    seconds, and the next read of another run answers exactly itself."""
    run = _run(workspace)
    run.log_list("loss", [0.5, 0.25])
    run.get_metrics()
    started = time.monotonic()

    slow = _sql(http, workspace, SLOW_SQL)
    took_s = time.monotonic() - started
    metrics = http.get(f"/workspaces/{workspace.name}/runs/{run.id}/metrics")
    echo = _sql(http, workspace, "SELECT 'next' AS s")

    assert slow.status_code == 400 and "ran over 2 s" in slow.text
    assert took_s < 6
    assert metrics.status_code == 200
    assert metrics.json()["metrics"] == {"loss": [0.5, 0.25]}
    assert echo.json()["rows"] == [["next"]]


OVERSIZED = {
    "constant string": "SELECT repeat('x', 1000000) AS s FROM points",
    "constant array": (
        "SELECT arrayMap(i -> i, range(1000000)) AS a FROM points"
    ),
    "repeated rows": (
        "SELECT range(1000000) AS a FROM (SELECT arrayJoin(range(50)))"
    ),
}


@pytest.mark.parametrize("sql", list(OVERSIZED.values()), ids=list(OVERSIZED))
def test_sql_answer_over_the_byte_bound_is_413(workspace, http, sql):
    """An answer over 16 MiB is refused by the store with 413 naming the
    bound, however small its columns are in memory."""
    run = _run(workspace)
    run.log_list("loss", [float(i) for i in range(100)])
    run.get_metrics()

    answer = _sql(http, workspace, sql)

    assert answer.status_code == 413
    assert "16 MiB" in answer.json()["detail"]


def test_sql_that_closes_the_wrapper_is_refused(workspace, http):
    """Text that closes the wrapping subquery to escape its LIMIT is 400."""
    run = _run(workspace)
    run.log_list("loss", [float(i) for i in range(50)])
    run.get_metrics()

    escaped = _sql(
        http,
        workspace,
        "SELECT * FROM points) AS t UNION ALL SELECT * FROM (SELECT * "
        "FROM points",
        limit=5,
    )
    joined = _sql(
        http,
        workspace,
        "SELECT step FROM points UNION ALL SELECT step FROM points",
        limit=5,
    )

    assert escaped.status_code == 400
    assert joined.json()["row_count"] == 5
    assert joined.json()["truncated"] is True


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT version() AS v",
        "SELECT serverUUID() AS v",
        "SELECT getOSKernelVersion() AS v",
        "SELECT currentSchemas(true) AS v",
        "SELECT 1 AS x WHERE 1 IN numbers(3)",
        "SELECT * FROM tables /* , tables AS ( */",
        "SELECT 'x, tables AS (' AS s FROM tables",
    ],
    ids=[
        "version",
        "serverUUID",
        "kernel",
        "schemas",
        "in table function",
        "with name in a comment",
        "with name in a string",
    ],
)
def test_sql_server_info_and_hidden_names_are_refused(workspace, http, sql):
    """Functions that describe the server, IN over a table function and
    WITH names inside comments or strings are refused with 400."""
    answer = _sql(http, workspace, sql)

    assert answer.status_code == 400


def test_sql_allows_functions_that_only_share_a_prefix(workspace, http):
    """URLHierarchy is not url(): the deny list matches whole names."""
    answer = _sql(
        http,
        workspace,
        "SELECT URLHierarchy('https://a.test/b/c') AS h -- , x AS (",
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [
        [["https://a.test/", "https://a.test/b/", "https://a.test/b/c"]]
    ]


def test_stream_sends_a_long_backlog_whole_and_in_order(workspace, client):
    """A 120,000-point backlog arrives over several bounded messages,
    every point once and in order."""
    values = [float(i) for i in range(120_000)]
    run = _run(workspace)
    run.log_list("long", values)
    run.get_metrics(name="long")

    events = list(
        client.stream(
            workspace.name, run.id, name="long", cursor="1", duration_s=4
        )
    )

    points = [data for event, data in events if event == "points"]
    received = [v for data in points for v in data["metrics"]["long"]]
    assert len(points) >= 3
    assert all(data["points"] <= 50_000 for data in points)
    assert received == values
    assert points[-1]["cursor"] == events[-1][1]["cursor"]
    assert all(
        int(p["cursor"]) < int(points[-1]["cursor"]) for p in points[:-1]
    )


@pytest.mark.parametrize(
    "name", ["cost $\\sqrt{$", "$x^2$ loss"], ids=["broken math", "math"]
)
def test_charts_draw_names_with_dollars_literally(workspace, http, name):
    """Metric names with $...$ draw as text in a run's chart and in a
    comparison, as PNG and SVG."""
    run = _run(workspace)
    for value in (1.0, 2.0, 3.0):
        run.log(name, value)
    run.get_metrics(name=name)
    ws = f"/workspaces/{workspace.name}"

    png = http.get(f"{ws}/runs/{run.id}/chart", params={"name": name})
    svg = http.get(
        f"{ws}/runs/{run.id}/chart", params={"name": name, "format": "svg"}
    )
    compared = http.get(
        f"{ws}/series",
        params={"run_id": [run.id], "name": name, "format": "png"},
    )

    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert svg.status_code == 200
    assert name.encode() in svg.content
    assert compared.status_code == 200


MISSING_RUN = {
    "metrics": "/runs/nope/metrics",
    "charts": "/runs/nope/charts",
    "chart": "/runs/nope/chart?name=loss",
    "series": "/runs/nope/series?name=loss",
    "aggregate": "/runs/nope/series/aggregate?name=loss",
    "compare": "/series?run_id={run}&run_id=nope&name=loss",
    "sweep": "/experiments/nope/sweep?param=lr&metric=loss",
    "leaderboard": "/leaderboard?metric=loss&experiment=nope",
    "missing metric series": "/runs/{run}/series?name=never",
    "missing metric aggregate": "/runs/{run}/series/aggregate?name=never",
    "missing metric compare": "/series?run_id={run}&name=never",
}


@pytest.mark.parametrize(
    "path", list(MISSING_RUN.values()), ids=list(MISSING_RUN)
)
def test_missing_runs_experiments_and_metrics_are_404(workspace, http, path):
    """A run, experiment or metric that is not there is 404 with a detail
    that says where to look, not an empty 200."""
    run = _run(workspace)
    run.log("loss", 1.0)
    run.get_metrics()

    answer = http.get(
        f"/workspaces/{workspace.name}" + path.format(run=run.id)
    )

    assert answer.status_code == 404, answer.text
    assert "list" in answer.json()["detail"]


def test_runs_of_another_workspace_are_404_in_a_comparison(
    workspace, http, tmp_path
):
    """Comparing run ids that belong to another workspace is 404."""
    other = Workspace(
        workspace.name + "-other",
        kafka_bootstrap=workspace.endpoints.kafka_bootstrap,
        server_url=workspace.endpoints.server_url,
        artifacts_url=str(tmp_path / "other"),
        topic=workspace.endpoints.topic,
    )
    try:
        foreign = Experiment(other, "x").start_logging()
        foreign.log("loss", 1.0)
        foreign.get_metrics()
    finally:
        other.close()

    answer = http.get(
        f"/workspaces/{workspace.name}/series",
        params={"run_id": [foreign.id], "name": "loss"},
    )

    assert answer.status_code == 404
    assert repr(foreign.id) in answer.json()["detail"]


def test_existing_run_without_metrics_still_reads_empty(workspace, http):
    """get_metrics of a stored run with no metrics, or of a metric it
    lacks, is {} (the SDK's shape), not 404."""
    run = _run(workspace)

    from_sdk = run.get_metrics()
    one_name = run.get_metrics(name="missing")
    over_http = http.get(
        f"/workspaces/{workspace.name}/runs/{run.id}/metrics",
        params={"name": "missing"},
    )

    assert from_sdk == {} and one_name == {}
    assert over_http.status_code == 200
    assert over_http.json()["metrics"] == {}
