"""Read-only SQL for analysts, over views limited to one workspace.

The caller's query runs as a subquery under a ``WITH`` clause that defines
the documented views (``SQL_VIEWS``), each filtered to the caller's
workspace by a parameter the caller never sets. Before it runs,
ClickHouse's own parser (``EXPLAIN AST``) lists what the query touches,
and the query is refused when it names any table but the views (or its
own ``WITH`` names), a qualified table such as ``system.tables``, a table
function such as ``file()`` or ``url()``, a function that reads outside
the query (``file``, ``dictGet``, ``joinGet`` ...), or a ``SETTINGS``
clause. It then runs with ``readonly = 1``, a time bound and a row bound.
A semicolon is refused outright, so one request is one statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs

from runstream._store.backends import Store
from runstream.errors import StoreError

MAX_EXECUTION_S = 10
MAX_ROWS = 10_000
MAX_SQL_CHARS = 20_000

#: The stable views, what each column means is in docs/sql.md.
SQL_VIEWS: dict[str, str] = {
    "points": """
        SELECT run_id, name, kind, column_name, step, time, writer_id,
            value_type, value, value_int, value_str
        FROM {db}.points FINAL
        WHERE workspace = {{workspace:String}}
    """,
    "runs": "{runs}",
    "tags": """
        SELECT run_id, key, argMax(value, (time, seq)) AS value
        FROM {db}.run_tags
        WHERE workspace = {{workspace:String}}
        GROUP BY run_id, key
        HAVING argMax(removed, (time, seq)) = 0
    """,
    "metric_summaries": """
        SELECT run_id, name, count, nan_count, inf_count, min, max,
            first, last, last_step
        FROM ({summaries})
    """,
}

#: Functions that read outside the query's own tables, or describe the
#: server; matched on the lower-cased name's start.
DENIED_FUNCTION_PREFIXES = (
    "file",
    "dict",
    "joinget",
    "hascolumnintable",
    "catboost",
    "modelevaluate",
    "getsetting",
    "getserversetting",
    "getmacro",
    "getclienthttpheader",
    "currentuser",
    "currentprofiles",
    "currentroles",
    "enabledroles",
    "defaultroles",
    "currentdatabase",
    "hostname",
    "fqdn",
    "tcpport",
    "filesystem",
    "globalvariable",
    "input",
    "shardnum",
    "displayname",
    "url",
    "s3",
    "remote",
)
#: Functions whose second argument may be a bare table name.
_IN_FUNCTIONS = frozenset(
    {
        "in",
        "notin",
        "globalin",
        "globalnotin",
        "nullin",
        "notnullin",
        "globalnullin",
        "globalnotnullin",
    }
)
_CTE_NAME = re.compile(
    r"(?:\bWITH\b|,)\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s+AS\s*\(", re.I
)


class SqlRefused(ValueError):
    """The query asks for something the SQL endpoint does not allow."""


@attrs.frozen
class _Node:
    depth: int
    kind: str
    text: str


def _ast_nodes(lines: list[str]) -> list[_Node]:
    nodes = []
    for line in lines:
        stripped = line.lstrip(" ")
        kind, _, text = stripped.partition(" ")
        nodes.append(_Node(len(line) - len(stripped), kind, text))

    return nodes


def _children(nodes: list[_Node], at: int) -> Iterator[int]:
    """Yield the indexes of the direct children of ``nodes[at]``."""
    depth = nodes[at].depth
    for i in range(at + 1, len(nodes)):
        if nodes[i].depth <= depth:
            return
        if nodes[i].depth == depth + 1:
            yield i


def _name(node: _Node) -> str:
    """Return a node's name without its ``(alias ...)``/``(children)``."""
    return node.text.split(" (", 1)[0].strip()


def check_ast(lines: list[str], allowed: set[str]) -> None:
    """Raise SqlRefused unless the parsed query stays within ``allowed``."""
    nodes = _ast_nodes(lines)
    for i, node in enumerate(nodes):
        if node.kind == "Set":
            raise SqlRefused(
                "a SETTINGS clause is not allowed; the server sets "
                "readonly, time and row limits itself"
            )
        if node.kind == "TableIdentifier":
            _check_table(_name(node), allowed)
        if node.kind == "TableExpression":
            for child in _children(nodes, i):
                if nodes[child].kind == "Function":
                    raise SqlRefused(
                        f"table function {_name(nodes[child])}() is not "
                        f"allowed; read the views {sorted(SQL_VIEWS)}"
                    )
        if node.kind == "Function":
            _check_function(nodes, i, allowed)


def _check_table(name: str, allowed: set[str]) -> None:
    if "." in name or name.strip("`") not in allowed:
        raise SqlRefused(
            f"table {name!r} is not readable here; the SQL endpoint reads "
            f"only the views {sorted(SQL_VIEWS)} (unqualified) and names "
            "your query defines with WITH"
        )


def _check_function(nodes: list[_Node], at: int, allowed: set[str]) -> None:
    name = _name(nodes[at]).lower()
    if name.startswith(DENIED_FUNCTION_PREFIXES):
        raise SqlRefused(
            f"function {_name(nodes[at])}() is not allowed in the SQL "
            "endpoint, since it reads outside the workspace's views"
        )
    if name not in _IN_FUNCTIONS:
        return

    for arguments in _children(nodes, at):
        operands = list(_children(nodes, arguments))
        if len(operands) == 2 and nodes[operands[1]].kind == "Identifier":
            _check_table(_name(nodes[operands[1]]), allowed)


def wrapped_sql(store: Store, sql: str, limit: int) -> str:
    """Return the caller's query under the views, bounded and read-only."""
    summaries = _summary_view_sql(store.database)
    views = ",\n".join(
        f"{name} AS ({_view_sql(body, store.database, summaries)})"
        for name, body in SQL_VIEWS.items()
    )
    return (
        f"WITH {views}\nSELECT * FROM (\n{sql}\n) LIMIT {int(limit) + 1}\n"
        f"SETTINGS max_execution_time = {MAX_EXECUTION_S}, "
        "max_result_rows = 0, readonly = 1"
    )


def _view_sql(body: str, database: str, summaries: str) -> str:
    from runstream.query._analytics import RUNS_SQL

    runs = RUNS_SQL.format(db=database)
    return body.format(db=database, summaries=summaries, runs=runs)


def _summary_view_sql(database: str) -> str:
    from runstream.query._analytics import summary_sql

    # Every metric of the workspace: the names filter becomes a no-op.
    return summary_sql(database).replace(
        "AND has({names:Array(String)}, name)", ""
    )


def strip_sql(sql: str) -> str:
    """Return the query without a trailing semicolon; refuse any other."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SqlRefused("the query is empty; send one SELECT statement")
    if len(text) > MAX_SQL_CHARS:
        raise SqlRefused(
            f"the query has {len(text)} characters; at most "
            f"{MAX_SQL_CHARS} are allowed"
        )
    if ";" in text:
        raise SqlRefused(
            "the query holds a semicolon; send one SELECT statement per "
            "request (write ';' inside a string as char(59))"
        )

    return text


def run_sql(
    store: Store, workspace: str, sql: str, limit: int
) -> dict[str, Any]:
    """Check and run a caller's query; return its columns and rows."""
    text = strip_sql(sql)
    allowed = set(SQL_VIEWS) | {m.group(1) for m in _CTE_NAME.finditer(text)}
    try:
        explained = store.query(
            f"EXPLAIN AST SELECT * FROM (\n{text}\n)", {}
        ).to_pydict()
    except StoreError as exc:
        raise SqlRefused(f"the query does not parse: {exc}") from exc
    lines: list[str] = next(iter(explained.values()), [])
    check_ast(lines, allowed)
    try:
        table = store.query(
            wrapped_sql(store, text, limit), {"workspace": workspace}
        )
    except StoreError as exc:
        # A query that parses can still name a missing column or run out
        # of time; the store's message says which.
        raise SqlRefused(f"the query failed: {exc}") from exc
    truncated = table.num_rows > limit
    table = table.slice(0, limit)

    return {
        "columns": [
            {"name": f.name, "type": str(f.type)} for f in table.schema
        ],
        "rows": [
            [_jsonable(v) for v in row.values()] for row in table.to_pylist()
        ],
        "row_count": table.num_rows,
        "truncated": truncated,
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")

    return str(value)
