"""A Python client of the runstream query API.

The SDK's ``run.get_metrics()`` reads through it, and it works on its own::

    client = QueryClient("http://127.0.0.1:8765")
    client.get_metrics("default", run_id)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
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
    ) -> dict[str, Any]:
        """Return a run's metrics in the shapes of ``Run.get_metrics``.

        ``wait_for`` maps writer ids to sequence numbers: the server answers
        once it has stored those events (or after its wait bound).
        """
        params: list[tuple[str, str]] = []
        if name is not None:
            params.append(("name", name))
        for writer_id, seq in (wait_for or {}).items():
            params.append(("wait_for", f"{writer_id}:{seq}"))
        body = self._get(
            self._run_path(workspace, run_id) + "/metrics", params
        )
        _warn_if_incomplete(body, "get_metrics")
        metrics: dict[str, Any] = body["metrics"]
        return metrics

    def get_run(
        self,
        workspace: str,
        run_id: str,
        wait_for: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """Return a run's record: status, times, experiment, tags, files."""
        params = [
            ("wait_for", f"{w}:{s}") for w, s in (wait_for or {}).items()
        ]
        run: dict[str, Any] = self._get(
            self._run_path(workspace, run_id), params
        )
        _warn_if_incomplete(run, "get_run")
        return run

    def health(self) -> dict[str, Any]:
        """Return the server's health report."""
        report: dict[str, Any] = self._get("/health")
        return report

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
