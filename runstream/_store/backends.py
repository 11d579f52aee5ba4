"""Backends that run runstream's SQL: embedded chdb or a ClickHouse server.

Every backend answers with Arrow tables and takes Arrow tables for inserts,
so rows never pass through Python objects one by one. chdb and
clickhouse-connect errors are translated to :class:`StoreError` here and
nowhere else.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.ipc

from runstream._config import SERVER_SCHEMES
from runstream.errors import InvalidArgumentError, StoreError

Params = Mapping[str, Any]


class Store(ABC):
    """Run SQL against ClickHouse; answers are Arrow tables."""

    database: str

    @abstractmethod
    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns nothing (DDL, inserts from SQL)."""

    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a query and return its result as an Arrow table."""

    @abstractmethod
    def insert(self, table: str, rows: pa.Table) -> None:
        """Insert an Arrow table whose columns match ``table`` by name."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection or the embedded engine."""


class ChdbStore(Store):
    """The ClickHouse engine in this process, keeping data under ``path``.

    One process owns an embedded store at a time: chdb locks its data
    directory, so the consumer and the query API share this object.
    """

    def __init__(self, path: Path, database: str = "runstream") -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.database = database
        # chdb answers one statement at a time per session; the lock keeps
        # the consumer's inserts and the API's reads from interleaving
        # inside the engine's client state.
        self._lock = threading.Lock()
        self._session = self._open_session()

    def _open_session(self) -> Any:
        from chdb import session  # heavy: loaded only by server processes

        try:
            return session.Session(str(self.path))
        except Exception as exc:  # chdb raises bare RuntimeError
            raise StoreError(
                f"cannot open the embedded store at {self.path}: {exc}"
            ) from exc

    def _run(self, sql: str, fmt: str, params: Params | None) -> Any:
        with self._lock:
            try:
                result = self._session.query(
                    sql, fmt, params=_chdb_params(params)
                )
            except Exception as exc:  # chdb raises bare RuntimeError
                self._reopen()
                raise StoreError(str(exc)) from exc

            if result is not None and result.has_error():
                self._reopen()
                raise StoreError(result.error_message())

        return result

    def _reopen(self) -> None:
        """Replace the session after a failed statement; hold the lock.

        chdb 4.4 keeps what a failed query had already written (a query
        that times out mid-stream leaves its partial rows) and hands it
        to the session's next query as part of its answer. A fresh
        session on the same path starts clean; it costs about 0.1 s.
        """
        self._session.close()
        self._session = self._open_session()

    def command(self, sql: str, params: Params | None = None) -> None:
        self._run(sql, "CSV", params)

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        result = self._run(sql, "ArrowStream", params)
        data = result.bytes()
        if not data:
            return pa.table({})

        return pyarrow.ipc.open_stream(pa.BufferReader(data)).read_all()

    def insert(self, table: str, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return

        columns = ", ".join(f"`{name}`" for name in rows.column_names)
        # chdb's Python() table function finds the Arrow table by its
        # variable name in the calling frame.
        arrow_rows = rows  # noqa: F841 (read by name inside the SQL)
        sql = (
            f"INSERT INTO {self.database}.{table} ({columns}) "
            "SELECT * FROM Python(arrow_rows)"
        )
        with self._lock:
            try:
                result = self._session.query(sql, "CSV")
            except Exception as exc:  # chdb raises bare RuntimeError
                self._reopen()
                raise StoreError(str(exc)) from exc

            if result is not None and result.has_error():
                self._reopen()
                raise StoreError(result.error_message())

    def close(self) -> None:
        with self._lock:
            self._session.close()


class ServerStore(Store):
    """A ClickHouse server or cluster reached through clickhouse-connect."""

    def __init__(self, url: str, database: str = "runstream") -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self._errors = ClickHouseError
        self.database = database
        parts = urlsplit(url)
        secure = parts.scheme in ("https", "clickhouses")
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (8443 if secure else 8123),
                username=parts.username or "default",
                password=parts.password or "",
                secure=secure,
                autogenerate_session_id=False,
            )
        except ClickHouseError as exc:
            raise StoreError(
                f"cannot reach ClickHouse at {url}: {exc}"
            ) from exc

    def command(self, sql: str, params: Params | None = None) -> None:
        try:
            self._client.command(sql, parameters=dict(params or {}))
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        try:
            return self._client.query_arrow(
                sql, parameters=dict(params or {}), use_strings=True
            )
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def insert(self, table: str, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return

        try:
            self._client.insert_arrow(table, rows, database=self.database)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def close(self) -> None:
        self._client.close()


def _chdb_params(params: Params | None) -> dict[str, str]:
    """Render query parameters as chdb wants them: ClickHouse text.

    clickhouse-connect renders Python values itself; chdb takes text in
    ClickHouse's escaped format, in which a backslash, tab or newline of a
    string is escaped and an array is a literal such as ``['a','b']``.
    """
    rendered: dict[str, str] = {}
    for name, value in (params or {}).items():
        if isinstance(value, (list, tuple)):
            rendered[name] = (
                "[" + ",".join(_quote(str(v)) for v in value) + "]"
            )
        else:
            rendered[name] = _escape(str(value))

    return rendered


_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
)


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _quote(text: str) -> str:
    escaped = _escape(text).replace("'", "\\'")
    return f"'{escaped}'"


def open_store(url: str, database: str = "runstream") -> Store:
    """Open the store a URL names.

    ``chdb:///abs/path`` or a plain directory path: the embedded engine with
    data under that directory. ``clickhouse://``, ``http://`` or
    ``https://``: a ClickHouse server.
    """
    parts = urlsplit(url)
    if parts.scheme in ("", "chdb", "file"):
        return ChdbStore(Path(parts.path or url).expanduser(), database)
    if parts.scheme in SERVER_SCHEMES:
        return ServerStore(url, database)

    raise InvalidArgumentError(
        "open_store()",
        "url",
        "must start with chdb://, clickhouse://, http:// or https://",
        url,
    )
