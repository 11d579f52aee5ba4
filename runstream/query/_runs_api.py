"""HTTP routes of runs: details, listings, children, logs, metric kinds,
the model registry, and the run page.

``create_app`` includes :func:`runs_router`. The JSON routes live under
``/api/v1``; ``/runs/{run_id}`` is the page ``Run.get_portal_url()``
points at.
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from runstream._store.backends import Store
from runstream.query import _reads, _runs

API = "/api/v1/workspaces/{workspace}"

Filters = Annotated[
    list[str] | None,
    Query(
        description=(
            "key (the run has it) or key=value (it has that value); "
            "repeat for several"
        )
    ),
]


def parse_filters(pairs: list[str] | None) -> dict[str, str | None]:
    """Turn ``key`` / ``key=value`` query values into a filter dict."""
    wanted: dict[str, str | None] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        wanted[key] = value if sep else None

    return wanted


def parse_wait_for(pairs: list[str] | None) -> dict[str, int]:
    """Parse ``writer_id:seq`` query values into the highest seq per writer."""
    parsed: dict[str, int] = {}
    for pair in pairs or []:
        writer, _, seq = pair.rpartition(":")
        if not writer or not seq.isdigit():
            raise HTTPException(
                422,
                f"wait_for must be writer_id:seq with a whole number seq "
                f"(got {pair!r})",
            )
        parsed[writer] = max(parsed.get(writer, 0), int(seq))

    return parsed


def _not_found(workspace: str, run_id: str) -> HTTPException:
    return HTTPException(
        404,
        f"workspace {workspace!r} has no run {run_id!r}; list the runs of "
        "its experiment to find an id",
    )


def runs_router(store: Store, read_wait_s: float = 30.0) -> APIRouter:
    """Return the run routes over ``store``."""
    router = APIRouter()

    def details(workspace: str, run_id: str) -> dict[str, Any]:
        record = _runs.read_run_details(store, workspace, run_id)
        if record is None:
            raise _not_found(workspace, run_id)
        return record

    @router.get(API + "/runs/{run_id}/details")
    def get_run_details(
        workspace: str,
        run_id: str,
        wait_for: Annotated[list[str] | None, Query()] = None,
    ) -> Any:
        """A run in ``Run.get_details()`` keys, plus tags and files."""
        complete = _reads.wait_for_writers(
            store,
            workspace,
            run_id,
            parse_wait_for(wait_for),
            read_wait_s,
        )
        record = details(workspace, run_id)
        record["complete"] = complete
        return record

    @router.get(API + "/experiments")
    def list_experiments(workspace: str) -> Any:
        """The workspace's experiments, by name."""
        return {"experiments": _runs.read_experiments(store, workspace)}

    @router.get(API + "/experiments/{experiment}/runs")
    def list_runs(
        workspace: str,
        experiment: str,
        tag: Filters = None,
        prop: Filters = None,
        status: str | None = None,
        run_type: str | None = None,
        include_children: bool = False,
    ) -> Any:
        """An experiment's runs, newest first, filtered."""
        records = _runs.read_experiment_runs(store, workspace, experiment)
        if not include_children:
            records = [r for r in records if r["parentRunId"] is None]
        runs = _runs.filter_runs(
            records,
            tags=parse_filters(tag),
            properties=parse_filters(prop),
            status=status,
            run_type=run_type,
        )
        return {"runs": runs}

    @router.get(API + "/runs/{run_id}/children")
    def list_children(
        workspace: str,
        run_id: str,
        recursive: bool = False,
        tag: Filters = None,
        prop: Filters = None,
        status: str | None = None,
        run_type: str | None = None,
    ) -> Any:
        """A run's children (its whole subtree if recursive), newest first."""
        parent = details(workspace, run_id)
        records = _runs.read_experiment_runs(
            store, workspace, parent["experiment"]
        )
        below = _runs.descendants(records, run_id, recursive=recursive)
        runs = _runs.filter_runs(
            below,
            tags=parse_filters(tag),
            properties=parse_filters(prop),
            status=status,
            run_type=run_type,
        )
        return {"runs": runs}

    @router.get(API + "/runs/{run_id}/metric_kinds")
    def get_metric_kinds(workspace: str, run_id: str) -> Any:
        """Each metric of the run with its kind (scalar, image...)."""
        return {"kinds": _runs.read_metric_kinds(store, workspace, run_id)}

    @router.get(API + "/models")
    def list_models(workspace: str, name: str | None = None) -> Any:
        """The registered models (of one name), newest version first."""
        return {"models": _runs.read_models(store, workspace, name)}

    @router.get(API + "/runs/{run_id}/logs/{name:path}")
    def get_log(
        workspace: str, run_id: str, name: str, offset: int = 0
    ) -> Any:
        """A run log's text from character ``offset`` on."""
        if offset < 0:
            raise HTTPException(422, f"offset must be >= 0 (got {offset})")
        return _runs.read_log(store, workspace, run_id, name, offset)

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(
        request: Request, run_id: str, workspace: str | None = None
    ) -> HTMLResponse:
        """A minimal page of one run: its record as the API gives it."""
        workspace = workspace or _runs.find_run_workspace(store, run_id)
        if workspace is None:
            raise _not_found("(any)", run_id)
        record = details(workspace, run_id)
        metrics = _reads.read_metrics(store, workspace, run_id)
        return HTMLResponse(_page(record, metrics))

    return router


def _page(record: dict[str, Any], metrics: dict[str, Any]) -> str:
    title = html.escape(f"{record['experiment']} / {record['runId']}")
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td>"
        "</tr>"
        for key, value in (
            ("Status", record["status"]),
            ("Display name", record["displayName"]),
            ("Created", record["createdTimeUtc"]),
            ("Ended", record.get("endTimeUtc")),
        )
    )
    body = html.escape(
        json.dumps({"run": record, "metrics": metrics}, indent=2, default=str)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}"
        f"</title></head><body><h1>{title}</h1><table>{rows}</table>"
        f"<pre>{body}</pre></body></html>"
    )
