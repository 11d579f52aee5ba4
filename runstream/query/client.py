"""A Python client of the runstream query API.

The SDK's ``run.get_metrics()`` reads through it, and it works on its own::

    client = QueryClient("http://127.0.0.1:8765")
    client.get_metrics("default", run_id)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from runstream.errors import InvalidArgumentError, NotFoundError, ServerError
from runstream.query._json import untag_float

API_PREFIX = "/api/v1"


class QueryClient:
    """Reads metrics, runs and files from a runstream server over HTTP."""

    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        # The transport retries only failed connects, which are safe to
        # repeat for reads.
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            timeout=timeout_s,
            transport=httpx.HTTPTransport(retries=3),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> QueryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get(self, path: str, params: Any = None) -> Any:
        try:
            try:
                response = self._http.get(path, params=params)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # A kept-alive connection the server closed (after an
                # error answer, or a restart) fails on reuse; a GET is
                # safe to send once more on a fresh connection.
                response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ServerError(
                f"runstream server at {self.base_url} did not answer: {exc}"
            ) from exc

        if response.status_code == 404:
            raise NotFoundError(_detail(response))
        if response.status_code in (400, 422):
            raise InvalidArgumentError(
                f"GET {path}", "request", _detail(response)
            )
        if response.status_code >= 400:
            raise ServerError(
                f"runstream server answered {response.status_code} to "
                f"GET {path}: {_detail(response)}",
                response.status_code,
            )

        return json.loads(response.content, object_hook=untag_float)

    def _run_path(self, workspace: str, run_id: str) -> str:
        ws = quote(workspace, safe="")
        return f"/workspaces/{ws}/runs/{quote(run_id, safe='')}"

    def get_metrics(
        self,
        workspace: str,
        run_id: str,
        name: str | None = None,
        wait_for: Mapping[str, int] | None = None,
        attempt: int | None = None,
    ) -> dict[str, Any]:
        """Return a run's metrics in the shapes of ``Run.get_metrics``.

        ``wait_for`` maps writer ids to sequence numbers: the server answers
        once it has stored those events (or after its wait bound).
        ``attempt`` reads one attempt of the run alone.
        """
        params: list[tuple[str, str]] = []
        if name is not None:
            params.append(("name", name))
        if attempt is not None:
            params.append(("attempt", str(attempt)))
        for writer_id, seq in (wait_for or {}).items():
            params.append(("wait_for", f"{writer_id}:{seq}"))
        body = self._get(
            self._run_path(workspace, run_id) + "/metrics", params
        )
        _warn_if_incomplete(body, "get_metrics")
        metrics: dict[str, Any] = body["metrics"]
        return metrics

    def health(self) -> dict[str, Any]:
        """Return the server's health report."""
        report: dict[str, Any] = self._get("/health")
        return report

    def get_writers(self, workspace: str, run_id: str) -> list[dict[str, Any]]:
        """Return, per writer of a run, how many of its events are stored."""
        body = self._get(self._run_path(workspace, run_id) + "/writers")
        writers: list[dict[str, Any]] = body["writers"]
        return writers

    def get_run_details(
        self,
        workspace: str,
        run_id: str,
        wait_for: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """Return a run in ``Run.get_details()`` keys, plus tags and files."""
        params = [
            ("wait_for", f"{w}:{s}") for w, s in (wait_for or {}).items()
        ]
        run: dict[str, Any] = self._get(
            self._run_path(workspace, run_id) + "/details", params
        )
        _warn_if_incomplete(run, "get_details")
        return run

    def list_runs(
        self,
        workspace: str,
        experiment: str,
        filters: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Return an experiment's run records, newest first.

        ``filters``: ``tags`` / ``properties`` (a key, a list of keys or a
        dict of values), ``status``, ``run_type``, ``include_children``.
        """
        ws = quote(workspace, safe="")
        path = f"/workspaces/{ws}/experiments/{quote(experiment, safe='')}"
        body = self._get(path + "/runs", _filter_params(filters))
        runs: list[dict[str, Any]] = body["runs"]
        return runs

    def list_children(
        self,
        workspace: str,
        run_id: str,
        filters: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Return a run's children (``recursive``: its subtree)."""
        body = self._get(
            self._run_path(workspace, run_id) + "/children",
            _filter_params(filters),
        )
        runs: list[dict[str, Any]] = body["runs"]
        return runs

    def list_experiments(self, workspace: str) -> list[dict[str, Any]]:
        """Return the workspace's experiments, by name."""
        ws = quote(workspace, safe="")
        experiments: list[dict[str, Any]] = self._get(
            f"/workspaces/{ws}/experiments"
        )["experiments"]
        return experiments

    def get_log(
        self, workspace: str, run_id: str, name: str, offset: int = 0
    ) -> dict[str, Any]:
        """Return a run log's ``text`` from ``offset`` and ``next_offset``."""
        path = self._run_path(workspace, run_id) + "/logs/"
        log: dict[str, Any] = self._get(
            path + quote(name, safe="/"), {"offset": offset}
        )
        return log

    def get_metric_kinds(self, workspace: str, run_id: str) -> dict[str, str]:
        """Return each metric of a run with its kind (scalar, image...)."""
        body = self._get(self._run_path(workspace, run_id) + "/metric_kinds")
        kinds: dict[str, str] = body["kinds"]
        return kinds

    def list_models(
        self, workspace: str, name: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the registered models (of ``name``), newest first."""
        params = {"name": name} if name is not None else None
        body = self._get(
            f"/workspaces/{quote(workspace, safe='')}/models", params
        )
        models: list[dict[str, Any]] = body["models"]
        return models


def _warn_if_incomplete(body: Mapping[str, Any], call: str) -> None:
    if body.get("complete") is False:
        warnings.warn(
            f"{call}: the server answered before it had stored every event "
            "this process logged (its consumer lags or is down); the answer "
            "may miss the newest values",
            RuntimeWarning,
            stacklevel=4,
        )


def _filter_params(
    filters: Mapping[str, Any] | None,
) -> list[tuple[str, str]]:
    """Turn list filters into query parameters (``tag=key[=value]``)."""
    params: list[tuple[str, str]] = []
    for field, param in (("tags", "tag"), ("properties", "prop")):
        wanted = (filters or {}).get(field)
        if isinstance(wanted, str):
            wanted = [wanted]
        if isinstance(wanted, Mapping):
            params.extend((param, f"{k}={v}") for k, v in wanted.items())
        elif wanted:
            params.extend((param, str(k)) for k in wanted)
    for field in ("status", "run_type", "recursive", "include_children"):
        value = (filters or {}).get(field)
        if value is True:
            params.append((field, "true"))
        elif value is not None and value is not False:
            params.append((field, str(value)))

    return params


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:500]

    return detail if isinstance(detail, str) else json.dumps(detail)[:500]


class AnalyticsClient(QueryClient):
    """The query client plus series, charts and cross-run reads."""

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ServerError(
                f"runstream server at {self.base_url} did not answer: {exc}"
            ) from exc

        return _answer(response, f"POST {path}")

    def _bytes(self, path: str, params: Any) -> bytes:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ServerError(
                f"runstream server at {self.base_url} did not answer: {exc}"
            ) from exc

        if response.status_code >= 400:
            _answer(response, f"GET {path}")
        return response.content

    def _ws(self, workspace: str) -> str:
        return f"/workspaces/{quote(workspace, safe='')}"

    def get_series(
        self,
        workspace: str,
        run_id: str,
        name: str,
        *,
        x: str = "step",
        column: str = "",
        max_points: int = 1000,
    ) -> dict[str, Any]:
        """Return one metric of a run, downsampled past ``max_points``."""
        params = {"name": name, "x": x, "max_points": max_points}
        if column:
            params["column"] = column
        series: dict[str, Any] = self._get(
            self._run_path(workspace, run_id) + "/series", params
        )
        return series

    def compare_series(
        self,
        workspace: str,
        run_ids: Sequence[str],
        name: str,
        *,
        x: str = "step",
        max_points: int = 1000,
    ) -> dict[str, Any]:
        """Return one metric of several runs on one shared x grid."""
        params: list[tuple[str, Any]] = [("run_id", r) for r in run_ids]
        params += [("name", name), ("x", x), ("max_points", max_points)]
        series: dict[str, Any] = self._get(
            self._ws(workspace) + "/series", params
        )
        return series

    def get_writer_aggregate(
        self, workspace: str, run_id: str, name: str, max_points: int = 1000
    ) -> dict[str, Any]:
        """Return a metric per step across writers: mean, min, max."""
        answer: dict[str, Any] = self._get(
            self._run_path(workspace, run_id) + "/series/aggregate",
            {"name": name, "max_points": max_points},
        )
        return answer

    def get_charts(
        self, workspace: str, run_id: str, max_points: int = 1000
    ) -> list[dict[str, Any]]:
        """Return the run's charts, each with the data it draws."""
        body = self._get(
            self._run_path(workspace, run_id) + "/charts",
            {"max_points": max_points},
        )
        charts: list[dict[str, Any]] = body["charts"]
        return charts

    def render_chart(
        self, workspace: str, run_id: str, name: str, fmt: str = "png"
    ) -> bytes:
        """Return one chart of the run drawn as PNG or SVG bytes."""
        return self._bytes(
            self._run_path(workspace, run_id) + "/chart",
            {"name": name, "format": fmt},
        )

    def search_experiments(
        self, workspace: str, limit: int = 100, offset: int = 0
    ) -> dict[str, Any]:
        """Return a page of experiments with run counts per status."""
        page: dict[str, Any] = self._get(
            self._ws(workspace) + "/search/experiments",
            {"limit": limit, "offset": offset},
        )
        return page

    def search_runs(
        self, workspace: str, search: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Return a page of runs; ``search`` is the JSON body the API
        documents (filters, ``sort``, ``limit``, ``offset``)."""
        page: dict[str, Any] = self._post(
            self._ws(workspace) + "/search/runs", search or {}
        )
        return page

    def leaderboard(
        self,
        workspace: str,
        metric: str,
        *,
        goal: str = "maximize",
        aggregate: str = "last",
        experiment: str | None = None,
        limit: int = 10,
    ) -> dict[str, Any]:
        """Return the best runs by a metric, best first."""
        params: dict[str, Any] = {
            "metric": metric,
            "goal": goal,
            "aggregate": aggregate,
            "limit": limit,
        }
        if experiment is not None:
            params["experiment"] = experiment
        board: dict[str, Any] = self._get(
            self._ws(workspace) + "/leaderboard", params
        )
        return board

    def sweep(
        self,
        workspace: str,
        experiment: str,
        param: str,
        metric: str,
        *,
        param_source: str = "tag",
        aggregate: str = "last",
    ) -> dict[str, Any]:
        """Return (parameter, metric) per run of an experiment."""
        path = (
            self._ws(workspace)
            + f"/experiments/{quote(experiment, safe='')}/sweep"
        )
        answer: dict[str, Any] = self._get(
            path,
            {
                "param": param,
                "metric": metric,
                "param_source": param_source,
                "aggregate": aggregate,
            },
        )
        return answer

    def sql(self, workspace: str, sql: str, limit: int = 1000) -> Any:
        """Run one read-only SELECT over the workspace's views."""
        return self._post(
            self._ws(workspace) + "/sql", {"sql": sql, "limit": limit}
        )

    def stream(
        self,
        workspace: str,
        run_id: str,
        *,
        name: str | None = None,
        cursor: str | None = None,
        duration_s: float = 300.0,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (event, data) from the run's live stream of new points."""
        params: dict[str, Any] = {"duration_s": duration_s}
        if name is not None:
            params["name"] = name
        if cursor is not None:
            params["cursor"] = cursor
        path = self._run_path(workspace, run_id) + "/stream"
        with self._http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                _answer(response, f"GET {path}")
            event = "message"
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    yield event, json.loads(line[6:], object_hook=untag_float)


def _answer(response: httpx.Response, call: str) -> Any:
    """Return a response's JSON, or raise the error its status means."""
    if response.status_code == 404:
        raise NotFoundError(_detail(response))
    if response.status_code in (400, 422):
        raise InvalidArgumentError(call, "request", _detail(response))
    if response.status_code >= 400:
        raise ServerError(
            f"runstream server answered {response.status_code} to "
            f"{call}: {_detail(response)}",
            response.status_code,
        )

    return json.loads(response.content, object_hook=untag_float)
