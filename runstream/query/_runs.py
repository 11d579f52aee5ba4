"""Run records and run listings: the SQL behind get_details and get_runs.

A run's state is folded from its lifecycle rows (``run_updates``), its
tags (newest value wins), its properties (first value wins: they are
write-once), its files, its logs and its heartbeats. A run that is not
finished and whose heartbeats stopped for four intervals reads as
``NotResponding``: the process that ran it died or hangs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from runstream._store.backends import Store

#: Statuses after which a run changes no more (and sends no heartbeats).
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled"})
#: How many heartbeat intervals may pass in silence before a run that is
#: not finished reads as NotResponding.
MISSED_HEARTBEATS = 4
NOT_RESPONDING = "NotResponding"


def runs_sql(database: str, *, by: str) -> str:
    """Return the query folding lifecycle rows into one row per run.

    ``by`` picks the runs: ``"ids"`` (a list of run ids) or
    ``"experiment"`` (every run of one experiment).
    """
    having = {
        "ids": "",
        "experiment": "HAVING f_experiment = {experiment:String}",
    }[by]
    where = "AND run_id IN {run_ids:Array(String)}" if by == "ids" else ""
    return f"""
        SELECT
            run_id,
            argMaxIf(experiment, time, experiment != '') AS f_experiment,
            argMaxIf(parent_run_id, time, parent_run_id != '')
                AS f_parent_run_id,
            argMaxIf(display_name, time, display_name != '')
                AS f_display_name,
            argMaxIf(description, time, description IS NOT NULL)
                AS f_description,
            argMaxIf(run_type, time, run_type != '') AS f_run_type,
            argMaxIf(submitted_by, time, submitted_by != '')
                AS f_submitted_by,
            argMaxIf(definition, time, definition != '') AS f_definition,
            argMaxIf(status, (time, seq), status != '') AS f_status,
            argMaxIf(error_code, (time, seq), status != '') AS f_error_code,
            argMaxIf(error_message, (time, seq), status != '')
                AS f_error_message,
            minIf(time, run_type != '') AS f_created_time,
            minIf(time, status = 'Running') AS f_start_time,
            maxIf(time, status IN ('Completed', 'Failed', 'Canceled'))
                AS f_end_time
        FROM {database}.run_updates FINAL
        WHERE workspace = {{workspace:String}} {where}
        GROUP BY run_id
        {having}
    """


def _pairs_sql(database: str, table: str, pick: str, having: str = "") -> str:
    return f"""
        SELECT run_id, key, {pick}(value, (time, seq)) AS value
        FROM {database}.{table}
        WHERE workspace = {{workspace:String}}
          AND run_id IN {{run_ids:Array(String)}}
        GROUP BY run_id, key
        {having}
        ORDER BY run_id, key
    """


#: A tag's newest row decides: a removal hides it, a later set restores it.
_TAGS_HAVING = "HAVING argMax(removed, (time, seq)) = 0"


def _names_sql(database: str, table: str) -> str:
    return f"""
        SELECT DISTINCT run_id, name FROM {database}.{table}
        WHERE workspace = {{workspace:String}}
          AND run_id IN {{run_ids:Array(String)}}
        ORDER BY run_id, name
    """


def heartbeats_sql(database: str) -> str:
    """Return the query for how long each run's writers have been silent."""
    return f"""
        SELECT run_id,
               dateDiff('millisecond', max(received), now64(6, 'UTC'))
                   AS silent_ms,
               max(interval_ms) AS interval_ms
        FROM {database}.run_heartbeats FINAL
        WHERE workspace = {{workspace:String}}
          AND run_id IN {{run_ids:Array(String)}}
        GROUP BY run_id
    """


def _iso(value: Any) -> str | None:
    if value is None or value.timestamp() <= 0:
        return None
    return str(value.isoformat().replace("+00:00", "Z"))


def effective_status(
    status: str, silent_ms: int | None, interval_ms: int | None
) -> str:
    """Return the status a reader sees, NotResponding for a silent run."""
    if (
        status not in TERMINAL_STATUSES
        and silent_ms is not None
        and interval_ms
        and silent_ms > MISSED_HEARTBEATS * interval_ms
    ):
        return NOT_RESPONDING

    return status


def _grouped(
    rows: Iterable[Mapping[str, Any]], value: str | None
) -> dict[str, Any]:
    """Group rows by run: ``{run_id: {key: value}}`` or name lists."""
    out: dict[str, Any] = {}
    for row in rows:
        if value is None:
            out.setdefault(row["run_id"], []).append(row["name"])
        else:
            out.setdefault(row["run_id"], {})[row["key"]] = row[value]

    return out


def _record(
    workspace: str, row: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    run_id = row["run_id"]
    beat = extra["beats"].get(run_id, {})
    status = effective_status(
        row["f_status"] or "NotStarted",
        beat.get("silent_ms"),
        beat.get("interval_ms"),
    )
    definition = json.loads(row["f_definition"]) if row["f_definition"] else {}
    record: dict[str, Any] = {
        "runId": run_id,
        "workspace": workspace,
        "experiment": row["f_experiment"],
        "parentRunId": row["f_parent_run_id"] or None,
        "displayName": row["f_display_name"] or None,
        "description": row["f_description"],
        "runType": row["f_run_type"] or None,
        "target": definition.get("target", "local"),
        "status": status,
        "createdTimeUtc": _iso(row["f_created_time"]),
        "startTimeUtc": _iso(row["f_start_time"]),
        "properties": extra["properties"].get(run_id, {}),
        "tags": extra["tags"].get(run_id, {}),
        "files": extra["files"].get(run_id, []),
        "logFiles": {
            name: f"runs/{run_id}/logs/{name}"
            for name in extra["logs"].get(run_id, [])
        },
        "runDefinition": definition,
        "submittedBy": row["f_submitted_by"] or None,
        "inputDatasets": [],
        "outputDatasets": [],
    }
    end = _iso(row["f_end_time"])
    if end is not None and status in TERMINAL_STATUSES:
        record["endTimeUtc"] = end
    if row["f_status"] == "Failed" and (
        row["f_error_code"] or row["f_error_message"]
    ):
        record["error"] = {
            "error": {
                "code": row["f_error_code"] or "UserError",
                "message": row["f_error_message"],
            }
        }

    return record


def _records(
    store: Store, workspace: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Complete folded run rows with tags, properties, files and logs."""
    if not rows:
        return []

    db = store.database
    params = {"workspace": workspace, "run_ids": [r["run_id"] for r in rows]}
    extra = {
        "tags": _grouped(
            store.query(
                _pairs_sql(db, "run_tags", "argMax", _TAGS_HAVING), params
            ).to_pylist(),
            "value",
        ),
        "properties": _grouped(
            store.query(
                _pairs_sql(db, "run_properties", "argMin"), params
            ).to_pylist(),
            "value",
        ),
        "files": _grouped(
            store.query(_names_sql(db, "artifacts"), params).to_pylist(),
            None,
        ),
        "logs": _grouped(
            store.query(_names_sql(db, "run_logs"), params).to_pylist(),
            None,
        ),
        "beats": {
            r["run_id"]: r
            for r in store.query(heartbeats_sql(db), params).to_pylist()
        },
    }

    return [_record(workspace, row, extra) for row in rows]


def read_run_details(
    store: Store, workspace: str, run_id: str
) -> dict[str, Any] | None:
    """Return one run's record in ``get_details`` keys, or None."""
    params = {"workspace": workspace, "run_ids": [run_id]}
    rows = store.query(runs_sql(store.database, by="ids"), params)
    records = _records(store, workspace, rows.to_pylist())

    return records[0] if records else None


def _matches(
    found: Mapping[str, Any], wanted: Mapping[str, str | None]
) -> bool:
    """Whether ``found`` has each wanted key (and value, if given)."""
    return all(
        key in found and (value is None or found[key] == value)
        for key, value in wanted.items()
    )


def filter_runs(
    records: Iterable[dict[str, Any]],
    *,
    tags: Mapping[str, str | None] | None = None,
    properties: Mapping[str, str | None] | None = None,
    status: str | None = None,
    run_type: str | None = None,
) -> list[dict[str, Any]]:
    """Keep the runs that have the tags, properties, status and type given.

    A ``None`` value in ``tags`` or ``properties`` asks only for the key.
    """
    return [
        r
        for r in records
        if _matches(r["tags"], tags or {})
        and _matches(r["properties"], properties or {})
        and (status is None or r["status"] == status)
        and (run_type is None or r["runType"] == run_type)
    ]


def read_experiment_runs(
    store: Store, workspace: str, experiment: str
) -> list[dict[str, Any]]:
    """Return every run of an experiment, newest first."""
    params = {"workspace": workspace, "experiment": experiment}
    rows = store.query(runs_sql(store.database, by="experiment"), params)
    records = _records(store, workspace, rows.to_pylist())
    records.sort(key=lambda r: r["createdTimeUtc"] or "", reverse=True)

    return records


def descendants(
    records: Iterable[dict[str, Any]], run_id: str, *, recursive: bool
) -> list[dict[str, Any]]:
    """Return the children of ``run_id`` (all descendants if recursive)."""
    children: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        parent = record["parentRunId"]
        if parent is not None:
            children.setdefault(parent, []).append(record)

    found: list[dict[str, Any]] = []
    frontier = [run_id]
    while frontier:
        below = [c for p in frontier for c in children.get(p, [])]
        found.extend(below)
        frontier = [c["runId"] for c in below] if recursive else []

    return found


def read_experiments(store: Store, workspace: str) -> list[dict[str, Any]]:
    """Return the workspace's experiments: name, runs, first and last use."""
    sql = f"""
        SELECT experiment AS name,
               uniqExact(run_id) AS runs,
               min(time) AS created,
               max(time) AS last_run
        FROM {store.database}.run_updates FINAL
        WHERE workspace = {{workspace:String}} AND experiment != ''
        GROUP BY experiment
        ORDER BY experiment
    """
    rows = store.query(sql, {"workspace": workspace}).to_pylist()
    return [
        {
            "name": r["name"],
            "runs": r["runs"],
            "createdTimeUtc": _iso(r["created"]),
            "lastRunTimeUtc": _iso(r["last_run"]),
        }
        for r in rows
    ]


def find_run_workspace(store: Store, run_id: str) -> str | None:
    """Return the workspace that has a run of this id, if one does."""
    sql = f"""
        SELECT workspace FROM {store.database}.run_updates
        WHERE run_id = {{run_id:String}} LIMIT 1
    """
    rows = store.query(sql, {"run_id": run_id}).to_pylist()
    return str(rows[0]["workspace"]) if rows else None


def read_log(
    store: Store, workspace: str, run_id: str, name: str, offset: int
) -> dict[str, Any]:
    """Return a run log's text from character ``offset`` on.

    The answer stops at the first missing chunk, so ``next_offset`` is
    always where a caller can safely continue from.
    """
    sql = f"""
        SELECT offset, text FROM {store.database}.run_logs FINAL
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND name = {{name:String}}
          AND offset + lengthUTF8(text) > {{offset:UInt64}}
        ORDER BY offset
    """
    params = {
        "workspace": workspace,
        "run_id": run_id,
        "name": name,
        "offset": offset,
    }
    parts: list[str] = []
    position = offset
    for chunk in store.query(sql, params).to_pylist():
        if chunk["offset"] > position:
            break
        text = chunk["text"][position - chunk["offset"] :]
        parts.append(text)
        position += len(text)

    return {"name": name, "text": "".join(parts), "next_offset": position}


def read_metric_kinds(
    store: Store, workspace: str, run_id: str
) -> dict[str, str]:
    """Return each metric of a run with its kind (``scalar``, ``image``...).

    A name logged with several kinds reads as the kind of its first point.
    """
    sql = f"""
        SELECT name, argMin(kind, (step, time, seq, idx)) AS kind
        FROM {store.database}.points
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
        GROUP BY name ORDER BY name
    """
    rows = store.query(sql, {"workspace": workspace, "run_id": run_id})
    return {r["name"]: str(r["kind"]) for r in rows.to_pylist()}


def models_sql(database: str) -> str:
    """Return the query numbering each registration of a model name.

    Version n of a name is its n-th registration in the order the consumer
    first stored them (ties broken by registration id). A replayed event
    is stored again later; its first storage time is the one that counts,
    so replays never renumber versions.
    """
    return f"""
        SELECT *, row_number() OVER (
            PARTITION BY name ORDER BY stored, registration_id
        ) AS version
        FROM (
            SELECT name, toString(registration_id) AS registration_id,
                any(run_id) AS run_id, any(experiment) AS experiment,
                any(path) AS path, any(files) AS files,
                any(description) AS description, any(tags) AS tags,
                any(properties) AS properties, min(stored) AS stored
            FROM {database}.models
            WHERE workspace = {{workspace:String}}
              AND ({{name:String}} = '' OR name = {{name:String}})
            GROUP BY name, registration_id
        )
        ORDER BY name, version DESC
    """


def read_models(
    store: Store, workspace: str, name: str | None = None
) -> list[dict[str, Any]]:
    """Return the workspace's registered models, newest version first."""
    params = {"workspace": workspace, "name": name or ""}
    rows = store.query(models_sql(store.database), params).to_pylist()
    return [
        {
            "name": r["name"],
            "version": r["version"],
            "registrationId": r["registration_id"],
            "runId": r["run_id"],
            "experiment": r["experiment"],
            "path": r["path"],
            "files": list(r["files"]),
            "description": r["description"],
            "tags": dict(r["tags"]),
            "properties": dict(r["properties"]),
            "createdTimeUtc": _iso(r["stored"]),
        }
        for r in rows
    ]
