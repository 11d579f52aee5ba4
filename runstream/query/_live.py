"""Live reads: a run's new points as server-sent events.

``point_arrivals`` records when each event's points were stored (a
materialized view on ``points``), so "new since the cursor" is a range
read on (workspace, run, stored time). The cursor is that time in
microseconds. Each poll looks back ``OVERLAP_US`` before the cursor and
skips events this stream already sent, because an insert can become
visible a little after the time it was stamped with; a client that
reconnects with ``Last-Event-ID`` gets no point twice unless the consumer
replayed events after a crash.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
import pyarrow as pa

from runstream._store.backends import Store
from runstream.query._json import tag_floats
from runstream.query._reads import shape_metrics

POLL_S = 0.2
KEEPALIVE_S = 15.0
OVERLAP_US = 2_000_000
MAX_POINTS_PER_MESSAGE = 50_000


@attrs.frozen
class StreamRequest:
    """Whose points to stream, from when, for how long."""

    workspace: str
    run_id: str
    name: str | None
    cursor_us: int | None
    duration_s: float


def arrivals_sql(database: str, one_name: bool) -> str:
    """Return the events stored after a cursor, oldest first."""
    name_filter = "AND name = {name:String}" if one_name else ""
    return f"""
        SELECT writer_id, seq, name,
            toUnixTimestamp64Micro(max(stored)) AS stored_us
        FROM {database}.point_arrivals
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND stored > fromUnixTimestamp64Micro({{after_us:Int64}}, 'UTC')
          {name_filter}
        GROUP BY writer_id, seq, name
        ORDER BY stored_us
        LIMIT 10000
    """


def points_sql(database: str) -> str:
    """Return the points of named events, in get_metrics order."""
    return f"""
        SELECT name, kind, column_name, step, writer_id, seq,
               value_type, value, value_int, value_str
        FROM {database}.points FINAL
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
          AND has({{keys:Array(String)}},
                  concat(writer_id, ':', toString(seq), ':', name))
        ORDER BY name, step, time, writer_id, seq, idx
        LIMIT {MAX_POINTS_PER_MESSAGE} OFFSET {{offset:UInt64}}
    """


def latest_cursor(store: Store, workspace: str, run_id: str) -> int:
    """Return the cursor of everything stored for the run so far."""
    rows = store.query(
        f"""
        SELECT toUnixTimestamp64Micro(max(stored)) AS us
        FROM {store.database}.point_arrivals
        WHERE workspace = {{workspace:String}} AND run_id = {{run_id:String}}
        """,
        {"workspace": workspace, "run_id": run_id},
    ).to_pylist()
    return int(rows[0]["us"]) if rows and rows[0]["us"] else 0


class _Poller:
    """Reads what is new for one stream, remembering what it sent."""

    def __init__(self, store: Store, request: StreamRequest) -> None:
        self.store = store
        self.request = request
        self.cursor_us = request.cursor_us or 0
        self._sent: dict[str, int] = {}

    def _arrivals(self) -> list[dict[str, Any]]:
        request = self.request
        params: dict[str, Any] = {
            "workspace": request.workspace,
            "run_id": request.run_id,
            "after_us": max(0, self.cursor_us - OVERLAP_US),
        }
        if request.name is not None:
            params["name"] = request.name
        rows: list[dict[str, Any]] = self.store.query(
            arrivals_sql(self.store.database, request.name is not None),
            params,
        ).to_pylist()
        return rows

    def prime(self) -> None:
        """Note as sent what the cursor already covers."""
        if self.request.cursor_us is None:
            self.cursor_us = latest_cursor(
                self.store, self.request.workspace, self.request.run_id
            )
        for row in self._arrivals():
            if row["stored_us"] <= self.cursor_us:
                key = f"{row['writer_id']}:{row['seq']}:{row['name']}"
                self._sent[key] = row["stored_us"]

    def poll(self) -> list[dict[str, Any]]:
        """Return the next messages, none when nothing is new.

        A backlog over ``MAX_POINTS_PER_MESSAGE`` points goes out in
        several messages. Only the last carries the new cursor; the ones
        before it carry a cursor from before the backlog, so a client
        that resumes from one of them gets the whole backlog again (some
        points twice) rather than missing its tail.
        """
        arrivals = self._arrivals()
        fresh = {}
        for row in arrivals:
            key = f"{row['writer_id']}:{row['seq']}:{row['name']}"
            if key not in self._sent:
                fresh[key] = row["stored_us"]
        if arrivals:
            newest = max(row["stored_us"] for row in arrivals)
            self.cursor_us = max(self.cursor_us, newest)
        self._forget_older_than(self.cursor_us - 2 * OVERLAP_US)
        if not fresh:
            return []

        self._sent.update(fresh)
        before = str(max(0, min(fresh.values()) - 1))
        messages = []
        for points in self._pages(list(fresh)):
            messages.append(
                {
                    "cursor": before,
                    "events": len(fresh),
                    "points": points.num_rows,
                    "metrics": shape_metrics(points),
                }
            )
        messages[-1]["cursor"] = str(self.cursor_us)

        return messages

    def _pages(self, keys: list[str]) -> Iterator[pa.Table]:
        """Yield the points of ``keys`` in pages of at most the message
        bound; at least one page, maybe empty."""
        offset = 0
        while True:
            page = self.store.query(
                points_sql(self.store.database),
                {
                    "workspace": self.request.workspace,
                    "run_id": self.request.run_id,
                    "keys": keys,
                    "offset": offset,
                },
            )
            yield page
            if page.num_rows < MAX_POINTS_PER_MESSAGE:
                return

            offset += MAX_POINTS_PER_MESSAGE

    def _forget_older_than(self, us: int) -> None:
        self._sent = {k: t for k, t in self._sent.items() if t >= us}


def format_event(event: str, data: dict[str, Any], event_id: str) -> bytes:
    """Return one server-sent event."""
    body = json.dumps(tag_floats(data), allow_nan=False, ensure_ascii=False)
    return f"event: {event}\nid: {event_id}\ndata: {body}\n\n".encode()


async def stream_points(
    store: Store,
    request: StreamRequest,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """Yield server-sent events with new points until the duration ends.

    Each ``points`` event holds new points in get_metrics shapes
    (``metrics``) and the cursor to resume from (also its event id). A
    backlog over ``MAX_POINTS_PER_MESSAGE`` points spans several events in
    a row, each with a slice of the points in order; a metric cut between
    two of them continues in the next.
    """
    poller = _Poller(store, request)
    await asyncio.to_thread(poller.prime)
    start = time.monotonic()
    last_sent = start
    yield format_event(
        "ready", {"cursor": str(poller.cursor_us)}, str(poller.cursor_us)
    )
    while time.monotonic() - start < request.duration_s:
        if await is_disconnected():
            return
        messages = await asyncio.to_thread(poller.poll)
        now = time.monotonic()
        for message in messages:
            yield format_event("points", message, message["cursor"])
            last_sent = now
        if not messages and now - last_sent > KEEPALIVE_S:
            yield b": keepalive\n\n"
            last_sent = now
        await asyncio.sleep(POLL_S)

    yield format_event(
        "end", {"cursor": str(poller.cursor_us)}, str(poller.cursor_us)
    )
