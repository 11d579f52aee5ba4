"""Read-only SQL for analysts, over views limited to one workspace.

The caller's query runs as a subquery under a ``WITH`` clause that defines
the documented views (``SQL_VIEWS``), each filtered to the caller's
workspace by a parameter the caller never sets. Before it runs,
ClickHouse's own parser (``EXPLAIN AST``) lists what the query touches,
and the query is refused when it names any table but the views (or its
own ``WITH`` names), a qualified table such as ``system.tables``, a table
function such as ``file()`` or ``url()``, a function that reads outside
the query or describes the server (``file``, ``dictGet``, ``version`` ...),
a ``SETTINGS`` clause, or text that closes the wrapping subquery early.
A semicolon is refused outright, so one request is one statement.

It then runs with ``readonly = 1`` and ClickHouse's own bounds on time,
memory, result rows and result bytes, every column passed through
``materialize`` so that a constant (``repeat('x', 1000000)``) counts at
its full size. The embedded store answers one statement at a time, so
the time bound is also how long one SQL request can hold up every other
read and the consumer's inserts.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from typing import Any

import attrs

from runstream._store.backends import Store
from runstream.errors import StoreError

MAX_EXECUTION_S = 2
MAX_ROWS = 10_000
MAX_SQL_CHARS = 20_000
MAX_RESULT_BYTES = 16 * 1024 * 1024
MAX_MEMORY_BYTES = 1024 * 1024 * 1024

#: The stable views; docs/query-api.md says what each column means.
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

#: Functions that read outside the query's own tables or describe the
#: server, lower-cased and matched by exact name (ClickHouse 25.x names,
#: aliases included). Table functions are refused wherever a table goes.
DENIED_FUNCTIONS = frozenset(
    name.lower()
    for name in (
        # Files, dictionaries, joins, models and other tables.
        "file",
        "joinGet",
        "joinGetOrNull",
        "hasColumnInTable",
        "catboostEvaluate",
        "modelEvaluate",
        "naiveBayesClassifier",
        "naiveBayesClassifierWithAllProbs",
        "naiveBayesClassifierWithProb",
        "naiveBayesNgrams",
        *(
            f"dictGet{kind}{suffix}"
            for kind in (
                "",
                "Date",
                "DateTime",
                "Float32",
                "Float64",
                "IPv4",
                "IPv6",
                "Int8",
                "Int16",
                "Int32",
                "Int64",
                "String",
                "UInt8",
                "UInt16",
                "UInt32",
                "UInt64",
                "UUID",
            )
            for suffix in ("", "OrDefault")
        ),
        "dictGetAll",
        "dictGetChildren",
        "dictGetDescendants",
        "dictGetHierarchy",
        "dictGetKeys",
        "dictGetOrNull",
        "dictGetRoot",
        "dictHas",
        "dictIsIn",
        # The server, its host, settings, users and sessions.
        "version",
        "revision",
        "buildId",
        "uptime",
        "serverUUID",
        "getOSKernelVersion",
        "hostName",
        "FQDN",
        "tcpPort",
        "getServerPort",
        "displayName",
        "shardNum",
        "shardCount",
        "getMacro",
        "globalVariable",
        "filesystemAvailable",
        "filesystemCapacity",
        "filesystemUnreserved",
        "getSetting",
        "getSettingOrDefault",
        "getServerSetting",
        "getMergeTreeSetting",
        "getClientHTTPHeader",
        "currentDatabase",
        "current_database",
        "currentSchemas",
        "current_schemas",
        "currentUser",
        "current_user",
        "currentProfiles",
        "currentRoles",
        "enabledProfiles",
        "enabledRoles",
        "defaultProfiles",
        "defaultRoles",
        "currentHandler",
        "currentRequestURL",
        "currentQueryID",
        "current_query_id",
        "queryID",
        "initialQueryID",
        "initial_query_id",
        "initialQueryStartTime",
        "initial_query_start_time",
        "connectionId",
        "connection_id",
        "zookeeperSessionUptime",
        "transactionID",
        "transactionLatestSnapshot",
        "transactionOldestSnapshot",
        "tid",
        # Writes to the server's log, or holds the shared engine idle.
        "logTrace",
        "sleep",
        "sleepEachRow",
    )
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
#: Functions that may stand right of IN: literal lists, not tables.
_IN_LIST_FUNCTIONS = frozenset({"tuple", "array"})
_CTE_NAME = re.compile(
    r"(?:\bWITH\b|,)\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s+AS\s*\(", re.I
)
#: A string literal or a quoted name in ClickHouse's formatting of a
#: query, which prints no comments and escapes quotes with a backslash.
_QUOTED = re.compile(
    r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\""
)
_PLAIN_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
#: The head of ``EXPLAIN AST SELECT * FROM (query)`` when the query is one
#: subquery; anything else means it closed the parenthesis itself.
_WRAPPER_HEAD = [
    "SelectWithUnionQuery (children 1)",
    " ExpressionList (children 1)",
    "  SelectQuery (children 2)",
    "   ExpressionList (children 1)",
    "    Asterisk",
    "   TablesInSelectQuery (children 1)",
    "    TablesInSelectQueryElement (children 1)",
    "     TableExpression (children 1)",
    "      Subquery (children 1)",
]


class SqlRefused(ValueError):
    """The query asks for something the SQL endpoint does not allow."""

    status = 400


class SqlTooLarge(SqlRefused):
    """The query's answer is over the endpoint's row or byte bound."""

    status = 413


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
    if lines[: len(_WRAPPER_HEAD)] != _WRAPPER_HEAD:
        raise SqlRefused(
            "the query closes a parenthesis it did not open; send one "
            "SELECT (UNION ALL, JOIN and subqueries go inside it)"
        )

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
    if name in DENIED_FUNCTIONS:
        raise SqlRefused(
            f"function {_name(nodes[at])}() is not allowed in the SQL "
            "endpoint, since it reads outside the workspace's views or "
            "describes the server"
        )
    if name not in _IN_FUNCTIONS:
        return

    for arguments in _children(nodes, at):
        operands = list(_children(nodes, arguments))
        if len(operands) != 2:
            continue
        right = nodes[operands[1]]
        if right.kind == "Identifier":
            _check_table(_name(right), allowed)
        if (
            right.kind == "Function"
            and _name(right).lower() not in _IN_LIST_FUNCTIONS
        ):
            raise SqlRefused(
                f"IN {_name(right)}(...) is not allowed; write the values "
                "as a list, or IN (SELECT ...) over the views"
            )


def _views_sql(store: Store) -> str:
    summaries = _summary_view_sql(store.database)
    return ",\n".join(
        f"{name} AS ({_view_sql(body, store.database, summaries)})"
        for name, body in SQL_VIEWS.items()
    )


def _settings(store: Store, limit: int) -> str:
    return (
        f"SETTINGS readonly = 1, max_execution_time = {MAX_EXECUTION_S}, "
        f"max_memory_usage = {MAX_MEMORY_BYTES}, "
        f"max_result_rows = {int(limit) + 1}, "
        f"max_result_bytes = {MAX_RESULT_BYTES}, "
        "result_overflow_mode = 'throw'" + _version_settings(store)
    )


_VERSION_SETTINGS: weakref.WeakKeyDictionary[Store, str] = (
    weakref.WeakKeyDictionary()
)


def _version_settings(store: Store) -> str:
    """Return settings only some ClickHouse versions know, as this store's
    version takes them.

    From 25.x, rows that ``arrayJoin`` repeats are kept once in memory
    (lazy replication) and count once against ``max_result_bytes``, though
    the answer writes every copy; turning it off keeps the bound honest.
    """
    if store not in _VERSION_SETTINGS:
        known = store.query(
            "SELECT count() AS n FROM system.settings "
            "WHERE name = 'enable_lazy_columns_replication'"
        ).column("n")[0]
        _VERSION_SETTINGS[store] = (
            ", enable_lazy_columns_replication = 0" if known.as_py() else ""
        )

    return _VERSION_SETTINGS[store]


def described_sql(store: Store, sql: str, limit: int) -> str:
    """Return the statement that lists the caller's query's columns."""
    return (
        f"DESCRIBE TABLE (WITH {_views_sql(store)}\n"
        f"SELECT * FROM (\n{sql}\n))\n{_settings(store, limit)}"
    )


def wrapped_sql(store: Store, sql: str, limit: int, columns: list[str]) -> str:
    """Return the caller's query under the views, bounded and read-only.

    Each column goes through ``materialize``: ClickHouse counts a constant
    column once against ``max_result_bytes`` but writes it on every row.
    """
    quoted = [_quote_name(c) for c in columns]
    select = ", ".join(f"materialize({q}) AS {q}" for q in quoted)
    return (
        f"WITH {_views_sql(store)}\nSELECT {select} FROM (\n{sql}\n) "
        f"LIMIT {int(limit) + 1}\n{_settings(store, limit)}"
    )


def _quote_name(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace("`", "\\`")
    return f"`{escaped}`"


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
    try:
        explained = store.query(
            f"EXPLAIN AST SELECT * FROM (\n{text}\n)", {}
        ).to_pydict()
        formatted = store.query(
            "SELECT formatQuerySingleLine({sql:String}) AS sql", {"sql": text}
        ).column("sql")[0]
    except StoreError as exc:
        raise SqlRefused(f"the query does not parse: {exc}") from exc
    lines: list[str] = next(iter(explained.values()), [])
    check_ast(lines, set(SQL_VIEWS) | with_names(str(formatted)))
    params = {"workspace": workspace}
    try:
        described = store.query(described_sql(store, text, limit), params)
        columns = [str(c) for c in described.column("name").to_pylist()]
        table = store.query(wrapped_sql(store, text, limit, columns), params)
    except StoreError as exc:
        raise _refusal(exc, limit) from exc

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


def with_names(formatted: str) -> set[str]:
    """Return the ``WITH name AS (...)`` names of a formatted query.

    ``formatted`` is ClickHouse's own printing of the query
    (``formatQuerySingleLine``): comments are gone, and strings and quoted
    names are blanked here so that text inside them names nothing.
    """

    def blank(match: re.Match[str]) -> str:
        plain = _PLAIN_NAME.fullmatch(match.group(0))
        return plain.group(1) if plain else "_"

    return {
        m.group(1) for m in _CTE_NAME.finditer(_QUOTED.sub(blank, formatted))
    }


def _refusal(exc: StoreError, limit: int) -> SqlRefused:
    """Translate the store's refusal of a checked query for the caller."""
    message = str(exc)
    if "TOO_MANY_ROWS_OR_BYTES" in message and "max bytes" in message:
        return SqlTooLarge(
            f"the answer is over {MAX_RESULT_BYTES // 2**20} MiB; select "
            "fewer or shorter columns, or aggregate in the query"
        )
    if "TOO_MANY_ROWS_OR_BYTES" in message:
        return SqlTooLarge(
            f"the answer is over {limit} rows (the request's limit, at "
            f"most {MAX_ROWS}); add a LIMIT or aggregate in the query"
        )
    if "TIMEOUT_EXCEEDED" in message:
        return SqlRefused(
            f"the query ran over {MAX_EXECUTION_S} s; filter by run_id "
            "or name first, or read metric_summaries instead of points"
        )
    if "MEMORY_LIMIT_EXCEEDED" in message:
        return SqlRefused(
            f"the query needs over {MAX_MEMORY_BYTES // 2**30} GiB of "
            "memory; filter before joining or grouping"
        )

    # A query that parses can still name a missing column; the store's
    # message says which.
    return SqlRefused(f"the query failed: {message}")


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
