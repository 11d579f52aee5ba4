"""``RunDetails``: a run's live view in a notebook, as azureml.widgets has.

::

    from runstream.widgets import RunDetails

    RunDetails(run).show()

In Jupyter, ``show()`` displays an HTML view of the run (its properties,
single-value metrics as a table, the other metrics as line charts the
runstream server draws, and the end of its driver log) and refreshes it
from a background thread until the run ends. Elsewhere it prints a text
summary once. IPython is imported only when ``show()`` looks for a
notebook; ipywidgets is not needed.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import importlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from runstream.errors import InvalidTypeError, RunstreamError

log = structlog.get_logger(component="widgets")

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled"})
#: The log ``show()`` follows when a run has it (a script run's output).
DRIVER_LOG = "user_logs/std_log.txt"
#: Lines of the log the view keeps.
MAX_LOG_LINES = 100
#: Metrics drawn as charts per refresh; the rest are listed.
MAX_CHARTS = 20

_TABLE_STYLE = (
    "border-collapse:collapse;margin:4px 0;font-family:sans-serif;"
    "font-size:13px"
)
_CELL = "style='border:1px solid #ddd;padding:2px 8px;text-align:left'"


class RunDetails:
    """The live view of one run: ``show()`` it, or read its data.

    ``first_refresh_s`` is the first wait between refreshes; it grows
    linearly to ``max_refresh_s`` over the first hour, as in Azure ML.
    After ``max_errors`` failed refreshes in a row the view stops
    refreshing and says why.
    """

    first_refresh_s = 5.0
    max_refresh_s = 60.0
    max_errors = 3

    def __init__(self, run_instance: Any) -> None:
        if not callable(getattr(run_instance, "get_details", None)):
            raise InvalidTypeError(
                "RunDetails()",
                "run_instance",
                "must be a Run that the runstream server knows (an offline "
                "run has nothing to show)",
                run_instance,
            )
        self.run = run_instance
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Drawn charts by (metric, number of points): redrawn on change.
        self._charts: dict[tuple[str, int], str | None] = {}

    # -- data ------------------------------------------------------------

    def get_widget_data(
        self, widget_settings: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Return what the view shows, in azureml.widgets' keys.

        ``status``, ``workbench_run_details_uri``, ``run_id``,
        ``run_properties``, ``child_runs``, ``children_metrics``,
        ``run_metrics``, ``run_logs``, ``graph`` and ``widget_settings``.
        """
        settings = dict(widget_settings or {})
        details = self.run.get_details()
        metrics = self.run.get_metrics()
        children = self._children()

        return {
            "status": details["status"],
            "workbench_run_details_uri": self.run.get_portal_url(),
            "run_id": self.run.id,
            "run_properties": _properties(details),
            "child_runs": [_child_row(c) for c in children],
            "children_metrics": self._children_metrics(children, settings),
            "run_metrics": _metric_series(self.run.id, metrics),
            "run_logs": self._log_text(details),
            "graph": {},
            "widget_settings": settings,
        }

    def _children(self) -> list[dict[str, Any]]:
        workspace = self.run._workspace
        children: list[dict[str, Any]] = workspace._query.list_children(
            workspace.name, self.run.id, {}
        )
        return children

    def _children_metrics(
        self, children: list[dict[str, Any]], settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The primary metric of each child, if the settings name one."""
        wanted = settings.get("Metric")
        if not isinstance(wanted, Mapping) or "name" not in wanted:
            return {}

        name = str(wanted["name"])
        workspace = self.run._workspace
        values = {}
        for child in children:
            found = workspace._query.get_metrics(
                workspace.name, child["runId"], name
            )
            if name in found:
                values[child["runId"]] = found[name]
        return {"metric_name": name, "goal": wanted.get("goal"), **values}

    def _log_text(self, details: Mapping[str, Any]) -> str:
        names = sorted(details.get("logFiles") or {})
        if not names:
            return ""
        name = DRIVER_LOG if DRIVER_LOG in names else names[-1]
        workspace = self.run._workspace
        text: str = workspace._query.get_log(
            workspace.name, self.run.id, name
        )["text"]
        return "\n".join(text.splitlines()[-MAX_LOG_LINES:])

    # -- showing ---------------------------------------------------------

    def show(
        self,
        render_lib: Callable[[str], Any] | None = None,
        widget_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Show the run: live HTML in Jupyter, a text summary elsewhere.

        ``render_lib`` (such as Databricks' ``displayHTML``) gets the HTML
        once instead.
        """
        data = self.get_widget_data(widget_settings)
        if render_lib is not None:
            render_lib(self._html(data))
            return

        update = _notebook_display()
        if update is None:
            print(_text(data))
            return

        update(self._html(data))
        if data["status"] not in TERMINAL_STATUSES:
            self._thread = threading.Thread(
                target=self._refresh,
                args=(update, widget_settings),
                name=f"runstream-widget-{self.run.id}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing the view (it also stops when the run ends)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.max_refresh_s)

    def _wait_s(self, elapsed_s: float) -> float:
        growth = (self.max_refresh_s - self.first_refresh_s) / 3600
        return min(
            self.max_refresh_s, self.first_refresh_s + growth * elapsed_s
        )

    def _refresh(
        self,
        update: Callable[[str], Any],
        widget_settings: Mapping[str, Any] | None,
    ) -> None:
        started = time.monotonic()
        errors = 0
        while not self._stop.wait(self._wait_s(time.monotonic() - started)):
            try:
                data = self.get_widget_data(widget_settings)
                update(self._html(data))
            except (RunstreamError, OSError) as exc:
                errors += 1
                log.debug(
                    "widgets.refresh_failed",
                    run_id=self.run.id,
                    attempt=errors,
                    error=str(exc),
                )
                if errors >= self.max_errors:
                    update(_stopped_html(self.run.id, errors, exc))
                    return
                continue

            errors = 0
            if data["status"] in TERMINAL_STATUSES:
                return

    def _chart(self, client: Any, name: str, points: int) -> str | None:
        """Return a metric's chart as an SVG data URI, or None if none."""
        key = (name, points)
        if key not in self._charts:
            from runstream.errors import NotFoundError

            try:
                svg = client.render_chart(
                    self.run._workspace.name, self.run.id, name, "svg"
                )
            except NotFoundError:
                # The server draws no chart for this metric (strings).
                self._charts[key] = None
            else:
                encoded = base64.b64encode(svg).decode("ascii")
                self._charts[key] = f"data:image/svg+xml;base64,{encoded}"

        return self._charts[key]

    def _html(self, data: Mapping[str, Any]) -> str:
        """Return the view as HTML, every run-supplied text escaped."""
        props = data["run_properties"]
        rows = [
            ("Run Id", data["run_id"]),
            ("Experiment", props["experiment"]),
            ("Status", data["status"]),
            ("Created", props["created_utc"]),
            ("Ended", props["end_time_utc"]),
            ("Duration", props["duration"]),
            ("Display name", props["display_name"]),
            ("Script", props["script_name"]),
            ("Arguments", " ".join(props["arguments"]) or None),
            ("Tags", _pairs(props["tags"])),
            ("Properties", _pairs(props["properties"])),
            ("Error", props["error"]),
        ]
        link = html.escape(data["workbench_run_details_uri"], quote=True)
        parts = [
            f"<div><h3 style='font-family:sans-serif'>Run "
            f"{html.escape(data['run_id'])}: {html.escape(data['status'])}"
            "</h3>",
            _table(rows),
            f"<p><a href='{link}' target='_blank'>Run page on the "
            "runstream server</a></p>",
            self._metrics_html(data["run_metrics"]),
            _children_html(data["child_runs"]),
            _log_html(data["run_logs"], data["status"]),
            "</div>",
        ]
        return "".join(parts)

    def _metrics_html(self, series: list[dict[str, Any]]) -> str:
        from runstream.query.client import AnalyticsClient

        values: list[tuple[str, Any]] = []
        charts: list[str] = []
        server = self.run._workspace.endpoints.server_url
        with AnalyticsClient(server) as client:
            for metric in series:
                points = metric["series"][0]["data"]
                name = metric["name"]
                if len(points) <= 1 or isinstance(points[0], dict):
                    values.append((name, points[0] if points else None))
                    continue
                chart = None
                if len(charts) < MAX_CHARTS:
                    chart = self._chart(client, name, len(points))
                if chart is None:
                    summary = f"{len(points)} values, last {points[-1]}"
                    values.append((name, summary))
                else:
                    charts.append(
                        f"<img alt='{html.escape(name, quote=True)}' "
                        f"src='{chart}' style='max-width:480px'/>"
                    )

        if not values and not charts:
            return "<p>No metrics yet.</p>"
        return "<h4>Metrics</h4>" + _table(values) + "".join(charts)


# -- pure shaping ----------------------------------------------------------


def _notebook_display() -> Callable[[str], Any] | None:
    """Return a function that redraws one notebook output, or None.

    None outside a Jupyter kernel, and when IPython is not installed.
    """
    # IPython is optional and untyped: reached through import_module.
    try:
        ipython: Any = importlib.import_module("IPython")
    except ImportError:
        return None
    shell = ipython.get_ipython()
    if shell is None or "IPKernelApp" not in getattr(shell, "config", {}):
        return None

    display: Any = importlib.import_module("IPython.display")
    handle = display.display(display.HTML(""), display_id=True)
    return lambda markup: handle.update(display.HTML(markup))


def _parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _duration(details: Mapping[str, Any]) -> str | None:
    """Return end (or now) minus creation as ``H:MM:SS``."""
    created = _parse_time(details.get("createdTimeUtc"))
    if created is None:
        return None
    end = _parse_time(details.get("endTimeUtc")) or dt.datetime.now(dt.UTC)
    seconds = max(0, int((end - created).total_seconds()))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _properties(details: Mapping[str, Any]) -> dict[str, Any]:
    definition = details.get("runDefinition") or {}
    error = (details.get("error") or {}).get("error") or {}
    return {
        "run_id": details["runId"],
        "experiment": details.get("experiment"),
        "status": details["status"],
        "created_utc": details.get("createdTimeUtc"),
        "start_time_utc": details.get("startTimeUtc"),
        "end_time_utc": details.get("endTimeUtc"),
        "duration": _duration(details),
        "display_name": details.get("displayName"),
        "run_type": details.get("runType"),
        "script_name": definition.get("script"),
        "arguments": list(definition.get("arguments") or []),
        "tags": dict(details.get("tags") or {}),
        "properties": dict(details.get("properties") or {}),
        "log_files": sorted(details.get("logFiles") or {}),
        "error": error.get("message"),
    }


def _child_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": record["runId"],
        "status": record["status"],
        "created_time": record.get("createdTimeUtc"),
        "end_time": record.get("endTimeUtc"),
        "duration": _duration(record),
    }


def _metric_series(
    run_id: str, metrics: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Return each metric as one series, sorted by name (any case).

    A list is its points; anything else (a value, a table) is one point.
    """
    series = []
    for name in sorted(metrics, key=str.casefold):
        value = metrics[name]
        points = value if isinstance(value, list) else [value]
        series.append(
            {
                "name": name,
                "run_id": run_id,
                "categories": list(range(len(points))),
                "series": [{"data": points}],
            }
        )
    return series


def _pairs(mapping: Mapping[str, Any]) -> str | None:
    if not mapping:
        return None
    return ", ".join(
        key if value is None else f"{key}={value}"
        for key, value in mapping.items()
    )


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th {_CELL}>{html.escape(str(name))}</th>"
        f"<td {_CELL}>{html.escape(str(value))}</td></tr>"
        for name, value in rows
        if value is not None
    )
    return f"<table style='{_TABLE_STYLE}'>{cells}</table>" if cells else ""


def _children_html(children: list[dict[str, Any]]) -> str:
    if not children:
        return ""
    rows = [
        (child["run_id"], f"{child['status']}, {child['duration'] or ''}")
        for child in children
    ]
    return "<h4>Child runs</h4>" + _table(rows)


def _log_message(text: str, status: str) -> str:
    if text:
        return text
    if status in TERMINAL_STATUSES:
        return "The run has no log."
    return "Waiting for the run's log..."


def _log_html(text: str, status: str) -> str:
    shown = html.escape(_log_message(text, status))
    return (
        "<h4>Log</h4><pre style='max-height:300px;overflow:auto;"
        f"background:#f7f7f7;padding:4px'>{shown}</pre>"
    )


def _stopped_html(run_id: str, errors: int, exc: BaseException) -> str:
    return (
        f"<p>Stopped refreshing run {html.escape(run_id)} after {errors} "
        f"failed attempts in a row: {html.escape(str(exc))}</p>"
    )


def _text(data: Mapping[str, Any]) -> str:
    """Return the one-shot text summary ``show()`` prints outside Jupyter."""
    props = data["run_properties"]
    lines = [
        f"Run {data['run_id']} ({props['experiment']}): {data['status']}",
        f"Created {props['created_utc']}, ended "
        f"{props['end_time_utc'] or '-'}, duration {props['duration']}",
        f"Web View: {data['workbench_run_details_uri']}",
    ]
    for label, key in (("Tags", "tags"), ("Properties", "properties")):
        if props[key]:
            lines.append(f"{label}: {_pairs(props[key])}")
    if props["error"]:
        lines.append(f"Error: {props['error']}")
    if data["run_metrics"]:
        lines.append("Metrics:")
    for metric in data["run_metrics"]:
        points = metric["series"][0]["data"]
        shown = (
            points[0]
            if len(points) == 1
            else f"{len(points)} values, last {points[-1]}"
        )
        lines.append(f"  {metric['name']}: {shown}")
    for child in data["child_runs"]:
        lines.append(f"Child {child['run_id']}: {child['status']}")
    log_lines = _log_message(data["run_logs"], data["status"]).splitlines()
    lines.append("Log:")
    lines.extend(f"  {line}" for line in log_lines[-20:])

    return "\n".join(lines)
