"""The HTTP query API, ``/api/v1``: JSON over FastAPI.

Bodies are JSON in which non-finite floats are tagged objects (see
``runstream.query._json``). Errors are 4xx with a ``detail`` that says what
was wrong and what to send instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from runstream._store.backends import Store
from runstream.errors import StoreError
from runstream.query import _reads, _runs
from runstream.query._analytics_api import analytics_router, require_runs
from runstream.query._responses import JSONBody
from runstream.query._runs_api import parse_wait_for, runs_router

WaitFor = Annotated[
    list[str] | None,
    Query(
        description=(
            "writer_id:seq pairs; the answer waits (within the server's "
            "bound) until the store holds those events"
        ),
        examples=["3f2a...:17"],
    ),
]


def create_app(
    store: Store,
    *,
    read_wait_s: float = 30.0,
    health: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """Return the query API over ``store``.

    ``read_wait_s`` bounds how long a read waits for events named in its
    ``wait_for``; ``health`` adds the consumer's state to ``/health``.
    """
    app = FastAPI(
        title="runstream query API",
        version="1",
        default_response_class=JSONBody,
    )
    api = APIRouter(prefix="/api/v1")

    @app.exception_handler(StoreError)
    def store_failed(request: Request, exc: StoreError) -> Response:
        return JSONBody(
            {"detail": f"the store could not answer: {exc}"}, status_code=503
        )

    def waited(
        workspace: str, run_id: str, wait_for: list[str] | None
    ) -> bool:
        return _reads.wait_for_writers(
            store, workspace, run_id, parse_wait_for(wait_for), read_wait_s
        )

    @api.get("/health")
    def get_health() -> Any:
        """Whether the server and its consumer are up."""
        report: dict[str, Any] = {"status": "ok", "store": store.database}
        if health is not None:
            report.update(health())
        return JSONBody(report)

    @api.get("/workspaces/{workspace}/runs/{run_id}/metrics")
    def get_metrics(
        workspace: str,
        run_id: str,
        name: str | None = None,
        wait_for: WaitFor = None,
        attempt: Annotated[
            int | None,
            Query(
                ge=1,
                description=(
                    "read what this attempt of the run logged; by default "
                    "each step shows the newest attempt's values"
                ),
            ),
        ] = None,
    ) -> Any:
        """A run's metrics in the shapes of the SDK's ``get_metrics``."""
        complete = waited(workspace, run_id, wait_for)
        metrics = _reads.read_metrics(store, workspace, run_id, name, attempt)
        if not metrics and complete:
            # Past a wait that ran out, the run's events may still be on
            # their way: the answer says so (complete false), not 404.
            require_runs(store, workspace, [run_id])
        return JSONBody({"metrics": metrics, "complete": complete})

    @api.get("/workspaces/{workspace}/runs/{run_id}")
    def get_run(workspace: str, run_id: str, wait_for: WaitFor = None) -> Any:
        """A run's record: status, times, experiment, tags and files.

        The same record as ``.../details``, which the SDK reads.
        """
        complete = waited(workspace, run_id, wait_for)
        record = _runs.read_run_details(store, workspace, run_id)
        if record is None:
            raise HTTPException(
                404,
                f"workspace {workspace!r} has no run {run_id!r}; list runs "
                "of an experiment to find its id",
            )
        record["complete"] = complete
        return JSONBody(record)

    @api.get("/workspaces/{workspace}/runs/{run_id}/writers")
    def get_writers(workspace: str, run_id: str) -> Any:
        """Per writer of a run, how many of its events the store holds.

        A writer is one run handle in one process; its events are numbered
        1, 2, 3... so ``events_stored`` below what the writer sent is a gap
        (events in flight, or spooled on the writer's machine).
        """
        return JSONBody(
            {"writers": _reads.read_writers(store, workspace, run_id)}
        )

    api.include_router(analytics_router(store))
    app.include_router(api)
    app.include_router(runs_router(store, read_wait_s))
    return app
