"""HTTP routes for series, charts, cross-run analytics, live and SQL.

Every route is a thin shell: it checks the request, calls one read in
``_series``, ``_charts``, ``_analytics``, ``_live`` or ``_sql`` on a worker
thread (FastAPI runs plain ``def`` routes there), and returns JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from runstream._store.backends import Store
from runstream.query import _analytics, _charts, _live, _reads, _series, _sql
from runstream.query._analytics import (
    Aggregate,
    Comparison,
    Order,
    ParamSource,
)
from runstream.query._responses import JSONBody
from runstream.query._series import SeriesRequest, XAxis

MetricName = Annotated[
    str,
    Query(min_length=1, max_length=255, description="the metric's name"),
]
Column = Annotated[
    str,
    Query(
        max_length=255,
        description="for a row or table metric, the column to draw",
    ),
]
MaxPoints = Annotated[
    int,
    Query(
        ge=4,
        le=100_000,
        description=(
            "the most points per series; a longer series is downsampled "
            "in the store (M4: first, lowest, highest, last per bucket)"
        ),
    ),
]
SortField = Literal[
    "created_time",
    "start_time",
    "end_time",
    "run_id",
    "display_name",
    "status",
    "experiment",
]
ImageFormat = Annotated[Literal["png", "svg"], Query(description="png or svg")]


class MetricFilterBody(BaseModel):
    """Keep runs whose summary of a metric compares true with a value."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    aggregate: Aggregate = Aggregate.LAST
    op: Comparison
    value: float = Field(allow_inf_nan=False)


class SortBody(BaseModel):
    """Sort by a metric's summary, else by a run field."""

    model_config = ConfigDict(extra="forbid")

    metric: str | None = Field(default=None, min_length=1, max_length=255)
    aggregate: Aggregate = Aggregate.LAST
    field: SortField = "created_time"
    order: Order = Order.DESC


class RunSearchBody(BaseModel):
    """A run search: filters, order and page."""

    model_config = ConfigDict(extra="forbid")

    experiment: str | None = Field(default=None, max_length=255)
    status: list[str] = Field(default_factory=list, max_length=10)
    tags: dict[str, str | None] = Field(default_factory=dict, max_length=20)
    properties: dict[str, str] = Field(default_factory=dict, max_length=20)
    metrics: list[MetricFilterBody] = Field(
        default_factory=list, max_length=10
    )
    sort: SortBody = Field(default_factory=SortBody)
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class SqlBody(BaseModel):
    """One SELECT over the workspace's views."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=_sql.MAX_SQL_CHARS)
    limit: int = Field(default=1000, ge=1, le=_sql.MAX_ROWS)


def _image(chart: dict[str, Any], fmt: str) -> Response:
    from runstream.query._render import MEDIA_TYPES, render_chart

    return Response(render_chart(chart, fmt), media_type=MEDIA_TYPES[fmt])


def require_runs(store: Store, workspace: str, run_ids: list[str]) -> None:
    """Raise 404 naming the runs of ``run_ids`` the workspace lacks."""
    stored = _reads.stored_runs(store, workspace, run_ids)
    missing = ", ".join(repr(r) for r in run_ids if r not in stored)
    if missing:
        raise HTTPException(
            404,
            f"workspace {workspace!r} has no run {missing}; POST "
            f"/workspaces/{workspace}/search/runs lists its run ids",
        )


def require_experiment(store: Store, workspace: str, experiment: str) -> None:
    """Raise 404 unless some run of the workspace is in ``experiment``."""
    if not _analytics.has_experiment(store, workspace, experiment):
        raise HTTPException(
            404,
            f"workspace {workspace!r} has no experiment {experiment!r}; "
            f"GET /workspaces/{workspace}/search/experiments lists them",
        )


def _no_metric(run: str, name: str, column: str = "") -> HTTPException:
    return HTTPException(
        404,
        f"{run} no numeric points of metric {name!r}"
        + (f" column {column!r}" if column else "")
        + "; list its charts or metrics to find the names",
    )


def analytics_router(store: Store) -> APIRouter:
    """Return the routes over ``store``, to include under ``/api/v1``."""
    api = APIRouter()
    _series_routes(api, store)
    _chart_routes(api, store)
    _cross_run_routes(api, store)
    _live_and_sql_routes(api, store)
    return api


def _series_routes(api: APIRouter, store: Store) -> None:
    @api.get("/workspaces/{workspace}/runs/{run_id}/series")
    def get_series(
        workspace: str,
        run_id: str,
        name: MetricName,
        column: Column = "",
        x: XAxis = XAxis.STEP,
        max_points: MaxPoints = 1000,
    ) -> Any:
        """One metric of one run, downsampled past ``max_points``."""
        request = SeriesRequest(
            workspace, (run_id,), name, column, x, max_points
        )
        answer = _series.read_series(store, request)
        if answer["series"][0]["count"] == 0:
            require_runs(store, workspace, [run_id])
            raise _no_metric(f"run {run_id!r} has", name, column)
        answer["cursor"] = str(_live.latest_cursor(store, workspace, run_id))
        return JSONBody(answer)

    @api.get("/workspaces/{workspace}/runs/{run_id}/series/aggregate")
    def get_writer_aggregate(
        workspace: str,
        run_id: str,
        name: MetricName,
        max_points: MaxPoints = 1000,
    ) -> Any:
        """A metric per step across the run's writers: mean, min, max."""
        answer = _analytics.read_writer_aggregate(
            store, workspace, run_id, name, max_points
        )
        if not answer["count"]:
            require_runs(store, workspace, [run_id])
            raise _no_metric(f"run {run_id!r} has", name)
        return JSONBody(answer)

    @api.get("/workspaces/{workspace}/series")
    def compare_series(
        workspace: str,
        run_id: Annotated[
            list[str],
            Query(
                min_length=1,
                max_length=50,
                description="the runs to compare (repeat the parameter)",
            ),
        ],
        name: MetricName,
        column: Column = "",
        x: XAxis = XAxis.STEP,
        max_points: MaxPoints = 1000,
        format: Annotated[
            Literal["json", "png", "svg"],
            Query(description="json data, or the chart drawn"),
        ] = "json",
    ) -> Any:
        """One metric of several runs on one shared x grid."""
        runs = tuple(dict.fromkeys(run_id))
        request = SeriesRequest(workspace, runs, name, column, x, max_points)
        answer = _series.read_series(store, request)
        counts = [series["count"] for series in answer["series"]]
        if not all(counts):
            require_runs(store, workspace, list(runs))
        if not any(counts):
            raise _no_metric("none of the runs has", name, column)
        if format == "json":
            return JSONBody(answer)
        return _image({"type": "line", "name": name, "data": answer}, format)


def _chart_routes(api: APIRouter, store: Store) -> None:
    @api.get("/workspaces/{workspace}/runs/{run_id}/charts")
    def get_charts(
        workspace: str, run_id: str, max_points: MaxPoints = 1000
    ) -> Any:
        """The run's charts (lines, two-variable lines, image galleries),
        each with its data."""
        charts = _charts.read_charts(store, workspace, run_id, max_points)
        if not charts:
            require_runs(store, workspace, [run_id])
        return JSONBody({"run_id": run_id, "charts": charts})

    @api.get(
        "/workspaces/{workspace}/runs/{run_id}/chart",
        responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    )
    def render_chart(
        workspace: str,
        run_id: str,
        name: MetricName,
        format: ImageFormat = "png",
        max_points: MaxPoints = 1000,
    ) -> Any:
        """One chart of the run drawn as PNG or SVG."""
        chart = _charts.find_chart(store, workspace, run_id, name, max_points)
        if chart is None:
            require_runs(store, workspace, [run_id])
            raise HTTPException(
                404,
                f"run {run_id!r} has no chart for metric {name!r}; a "
                "metric with one point is a value, not a chart; GET "
                f"/workspaces/{workspace}/runs/{run_id}/charts lists them",
            )
        return _image(chart, format)


def _cross_run_routes(api: APIRouter, store: Store) -> None:
    @api.get("/workspaces/{workspace}/search/experiments")
    def list_experiments(
        workspace: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Any:
        """The workspace's experiments with run counts per status, paged
        (``GET .../experiments`` is the plain list by name)."""
        return JSONBody(
            _analytics.list_experiments(store, workspace, limit, offset)
        )

    @api.post("/workspaces/{workspace}/search/runs")
    def search_runs(workspace: str, body: RunSearchBody) -> Any:
        """Runs by status, tags, properties and metric summaries, sorted
        and paginated."""
        search = _analytics.RunSearch(
            workspace=workspace,
            experiment=body.experiment,
            statuses=tuple(body.status),
            tags=body.tags,
            properties=body.properties,
            metrics=tuple(
                _analytics.MetricFilter(m.name, m.aggregate, m.op, m.value)
                for m in body.metrics
            ),
            sort_metric=body.sort.metric,
            sort_aggregate=body.sort.aggregate,
            sort_field=body.sort.field,
            order=body.sort.order,
            limit=body.limit,
            offset=body.offset,
        )
        return JSONBody(_analytics.search_runs(store, search))

    @api.get("/workspaces/{workspace}/leaderboard")
    def leaderboard(
        workspace: str,
        metric: MetricName,
        goal: Literal["maximize", "minimize"] = "maximize",
        aggregate: Aggregate = Aggregate.LAST,
        experiment: Annotated[str | None, Query(max_length=255)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> Any:
        """The best runs by a metric, best first."""
        if experiment is not None:
            require_experiment(store, workspace, experiment)
        search = _analytics.RunSearch(
            workspace=workspace,
            experiment=experiment,
            metrics=(
                _analytics.MetricFilter(
                    metric, Aggregate.COUNT, Comparison.GT, 0
                ),
            ),
            sort_metric=metric,
            sort_aggregate=aggregate,
            order=Order.DESC if goal == "maximize" else Order.ASC,
            limit=limit,
        )
        page = _analytics.search_runs(store, search)
        for rank, run in enumerate(page["runs"], start=1):
            run["rank"] = rank
            run["value"] = run["metrics"][metric][aggregate.value]
        return JSONBody(
            {
                "metric": metric,
                "goal": goal,
                "aggregate": aggregate.value,
                "total": page["total"],
                "runs": page["runs"],
            }
        )

    @api.get("/workspaces/{workspace}/experiments/{experiment}/sweep")
    def sweep(
        workspace: str,
        experiment: str,
        param: MetricName,
        metric: MetricName,
        param_source: ParamSource = ParamSource.TAG,
        aggregate: Aggregate = Aggregate.LAST,
    ) -> Any:
        """A parameter against a metric over the experiment's runs."""
        require_experiment(store, workspace, experiment)
        return JSONBody(
            _analytics.read_sweep(
                store,
                workspace,
                experiment,
                param,
                param_source,
                metric,
                aggregate,
            )
        )


def _live_and_sql_routes(api: APIRouter, store: Store) -> None:
    @api.get(
        "/workspaces/{workspace}/runs/{run_id}/stream",
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        request: Request,
        workspace: str,
        run_id: str,
        name: Annotated[str | None, Query(max_length=255)] = None,
        cursor: Annotated[
            str | None,
            Query(
                pattern=r"^[0-9]{1,19}$",
                description=(
                    "resume after this cursor (a points event's id); "
                    "without one, only points stored from now on"
                ),
            ),
        ] = None,
        duration_s: Annotated[float, Query(gt=0, le=3600)] = 300.0,
        last_event_id: Annotated[
            str | None, Header(pattern=r"^[0-9]{1,19}$")
        ] = None,
    ) -> Any:
        """Server-sent events with the run's new points as they are
        stored, in get_metrics shapes, polled every 200 ms."""
        start = cursor or last_event_id
        live = _live.StreamRequest(
            workspace,
            run_id,
            name,
            int(start) if start is not None else None,
            duration_s,
        )
        return StreamingResponse(
            _live.stream_points(store, live, request.is_disconnected),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    @api.post("/workspaces/{workspace}/sql")
    def run_sql(workspace: str, body: SqlBody) -> Any:
        """One read-only SELECT over the workspace's views: points, runs,
        tags, metric_summaries."""
        try:
            answer = _sql.run_sql(store, workspace, body.sql, body.limit)
        except _sql.SqlRefused as exc:
            raise HTTPException(exc.status, str(exc)) from exc

        return JSONBody(answer)
