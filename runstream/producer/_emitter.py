"""The emitter: log calls append to memory; one thread sends to Kafka.

User threads never wait on the network. A log call validates its input,
then appends to the column lists of an open :class:`_Accumulator` under one
lock. A daemon thread owns an asyncio loop and an ``AIOKafkaProducer``;
every ``linger_ms`` (sooner when a batch fills up, or on ``flush()``) it
takes everything pending, numbers it per writer, encodes it as Avro events
and sends them, keyed by run id so one run's events stay in order.

Order is kept per run handle: points of one metric pile into one event
until a lifecycle event (status, tag, artifact) is queued behind them, so
readers see metrics and lifecycle changes in the order they were made.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from runstream._config import state_dir
from runstream._limits import (
    MAX_EVENT_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_POINTS_PER_EVENT,
)
from runstream._wire.avro import body_type, encode_event
from runstream._wire.spool import Spool, SpooledMessage
from runstream._wire.topics import DEFAULT_EVENTS_TOPIC
from runstream._wire.values import ValueType
from runstream.errors import BrokerError
from runstream.producer._values import Cell

log = structlog.get_logger(component="producer")

# aiokafka logs every failed reconnect at ERROR through the standard library.
# Without a handler of its own, Python's last-resort handler would print
# those to a training script's stderr; the emitter reports broker trouble
# itself, once per failed send. Applications that configure logging still
# receive aiokafka's records through propagation.
logging.getLogger("aiokafka").addHandler(logging.NullHandler())


@attrs.frozen
class EmitterSettings:
    """How one process sends events to Kafka."""

    bootstrap: str
    topic: str = DEFAULT_EVENTS_TOPIC
    #: How long points wait in memory before a send; bounds how stale a
    #: live chart can be.
    linger_ms: int = 100
    max_points_per_event: int = MAX_POINTS_PER_EVENT
    #: Bound on ``close()`` at interpreter exit.
    close_timeout_s: float = 30.0
    request_timeout_ms: int = 30_000
    #: Where events wait while the broker is away (default: the state
    #: directory's ``spool`` folder); ``runstream sync`` sends leftovers.
    spool_dir: str | None = None
    max_spool_bytes: int = 1024**3
    #: ``"drop"``: past ``max_spool_bytes`` the newest events are dropped,
    #: with an error event each. ``"block"``: log calls wait for room, at
    #: most ``max_block_s``, then drop.
    on_spool_full: str = attrs.field(
        default="drop", validator=attrs.validators.in_(("drop", "block"))
    )
    max_block_s: float = 10.0


@attrs.frozen
class WriterInfo:
    """The process that writes, as every event names it."""

    host: str
    pid: int
    rank: int

    @classmethod
    def of_this_process(cls) -> WriterInfo:
        rank = os.environ.get("RANK") or os.environ.get("OMPI_COMM_WORLD_RANK")
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            rank=int(rank) if rank and rank.isdigit() else 0,
        )


#: Most bytes one point takes in an event, besides its text: step and time
#: as varints, the type byte, the double, an int and a column index.
_POINT_BYTES = 40


class _Accumulator:
    """Column lists of one metric's points, waiting to become one event."""

    __slots__ = (
        "name",
        "kind",
        "column_names",
        "_column_index",
        "columns",
        "steps",
        "times_us",
        "value_types",
        "doubles",
        "ints",
        "strings",
        "items",
        "size_bytes",
        "time_us",
    )

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.column_names: list[str] = []
        self._column_index: dict[str, int] = {}
        self.columns: list[int] = []
        self.steps: list[int] = []
        self.times_us: list[int] = []
        self.value_types = bytearray()
        self.doubles: list[float] = []
        self.ints: list[int] = []
        self.strings: list[str] = []
        #: How many accepted calls this event settles.
        self.items = 0
        #: Upper estimate of the encoded size, to keep messages bounded.
        self.size_bytes = len(name) * 4 + 64
        #: When the first of these points was logged: the event's time.
        self.time_us = time.time_ns() // 1000

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, step: int, time_us: int, cell: Cell) -> None:
        self.size_bytes += _POINT_BYTES + cell.text_bytes
        self.steps.append(step)
        self.times_us.append(time_us)
        self.value_types.append(cell.type)
        self.doubles.append(cell.double)
        if cell.type == ValueType.INT:
            self.ints.append(cell.exact_int)  # type: ignore[arg-type]
        elif cell.text is not None:
            self.strings.append(cell.text)

    def add_row(
        self,
        step: int,
        time_us: int,
        names: Sequence[str],
        cells: Sequence[Cell],
    ) -> None:
        index = self._column_index
        for name, cell in zip(names, cells, strict=True):
            column = index.get(name)
            if column is None:
                column = index[name] = len(self.column_names)
                self.column_names.append(name)
                self.size_bytes += len(name) * 4 + 4
            self.columns.append(column)
            self.add(step, time_us, cell)

    def body(self) -> tuple[str, dict[str, Any]]:
        return (
            body_type("MetricPoints"),
            {
                "name": self.name,
                "kind": self.kind,
                "column_names": self.column_names,
                "columns": self.columns,
                "steps": self.steps,
                "times_us": self.times_us,
                "value_types": bytes(self.value_types),
                "doubles": self.doubles,
                "ints": self.ints,
                "strings": self.strings,
            },
        )


class _Lifecycle:
    """A non-metric event body (status, tags, artifact) waiting to be sent."""

    __slots__ = ("branch", "fields", "items", "time_us")

    def __init__(
        self, branch: str, fields: dict[str, Any], time_us: int
    ) -> None:
        self.branch = branch
        self.fields = fields
        self.items = 1
        #: When the call was made, which is the event's time.
        self.time_us = time_us

    def body(self) -> tuple[str, dict[str, Any]]:
        return (body_type(self.branch), self.fields)


_Pending = _Accumulator | _Lifecycle


class RunStream:
    """One run handle's ordered stream of events, with its own writer id.

    All methods are safe to call from any thread and return at once.
    """

    def __init__(
        self, emitter: Emitter, workspace: str, run_id: str, attempt: int
    ) -> None:
        self._emitter = emitter
        self.workspace = workspace
        self.run_id = run_id
        #: Which attempt of the run this writer belongs to (1, 2, ...).
        self.attempt = attempt
        self._next_step: dict[str, int] = {}
        self._start_writer()

    def _start_writer(self) -> None:
        self.writer_id = uuid.uuid4().hex
        self._pending: deque[_Pending] = deque()
        self._open: dict[tuple[str, str], _Accumulator] = {}
        self._next_seq = 1
        #: Highest sequence number Kafka acknowledged for this writer.
        self.delivered_seq = 0
        #: Sequence number of the newest event handed to the producer.
        self.assigned_seq = 0
        #: Log and lifecycle calls this writer accepted.
        self.accepted_calls = 0
        self._emitter.register(self)

    @property
    def emitter(self) -> Emitter:
        """This process's emitter; a forked child gets an emitter of its own.

        A child inherits the parent's queue, which the parent sends itself,
        and must not reuse the parent's writer id and sequence numbers: it
        starts a new writer with an empty queue.
        """
        if self._emitter.pid != os.getpid():
            self._emitter = get_emitter(self._emitter.settings)
            self._start_writer()

        return self._emitter

    def _accumulator(self, name: str, kind: str) -> _Accumulator:
        key = (name, kind)
        acc = self._open.get(key)
        if (
            acc is None
            or len(acc) >= self.emitter.settings.max_points_per_event
            or acc.size_bytes >= MAX_EVENT_BYTES
        ):
            acc = self._open[key] = _Accumulator(name, kind)
            self._pending.append(acc)
            self.emitter.mark_dirty(self)

        return acc

    def _steps(self, name: str, step: int | None, count: int) -> int:
        """Return the first step of ``count`` points (caller holds the lock).

        Without an explicit step a metric counts 0, 1, 2... per run handle;
        an explicit step moves the count on past it.
        """
        first = self._next_step.get(name, 0) if step is None else step
        self._next_step[name] = max(
            self._next_step.get(name, 0), first + count
        )
        return first

    def add_point(
        self, name: str, step: int | None, time_us: int, cell: Cell
    ) -> None:
        """Queue one scalar point (``Run.log``)."""
        emitter = self.emitter
        emitter.wait_for_room()
        with emitter.lock:
            step = self._steps(name, step, 1)
            acc = self._accumulator(name, "SCALAR")
            acc.add(step, time_us, cell)
            acc.items += 1
            self.accepted_calls += 1
            emitter.note_accepted(1)

    def add_points(
        self,
        name: str,
        kind: str,
        time_us: int,
        cells: Sequence[Cell],
    ) -> None:
        """Queue consecutive points of one metric (``Run.log_list``)."""
        if not cells:
            return

        emitter = self.emitter
        emitter.wait_for_room()
        with emitter.lock:
            first_step = self._steps(name, None, len(cells))
            for offset, cell in enumerate(cells):
                acc = self._accumulator(name, kind)
                acc.add(first_step + offset, time_us, cell)
            acc.items += 1
            self.accepted_calls += 1
            emitter.note_accepted(len(cells), calls=1)

    def add_rows(
        self,
        name: str,
        kind: str,
        time_us: int,
        column_names: Sequence[str],
        rows: Sequence[Sequence[Cell]],
    ) -> None:
        """Queue rows of a table metric (``Run.log_row``, ``log_table``)."""
        if not rows:
            return

        emitter = self.emitter
        emitter.wait_for_room()
        with emitter.lock:
            first_step = self._steps(name, None, len(rows))
            for offset, cells in enumerate(rows):
                acc = self._accumulator(name, kind)
                acc.add_row(first_step + offset, time_us, column_names, cells)
            acc.items += 1
            self.accepted_calls += 1
            emitter.note_accepted(len(rows) * len(column_names), calls=1)

    def add_lifecycle(self, branch: str, fields: dict[str, Any]) -> None:
        """Queue a lifecycle event behind everything queued so far."""
        emitter = self.emitter
        emitter.wait_for_room()
        with emitter.lock:
            self._pending.append(
                _Lifecycle(branch, fields, time.time_ns() // 1000)
            )
            emitter.mark_dirty(self)
            # Later points must not join an event queued before this one.
            self._open.clear()
            self.accepted_calls += 1
            emitter.note_accepted(0, calls=1)
        emitter.wake()

    def take_pending(self) -> list[tuple[int, _Pending]]:
        """Number and hand over everything queued (caller holds the lock)."""
        taken = []
        while self._pending:
            taken.append((self._next_seq, self._pending.popleft()))
            self._next_seq += 1
        self._open.clear()
        if taken:
            self.assigned_seq = taken[-1][0]

        return taken


@attrs.frozen
class _Outgoing:
    stream: RunStream
    seq: int
    items: int
    message: bytes


class Emitter:
    """Owns the sender thread and the Kafka producer of one process."""

    def __init__(self, settings: EmitterSettings) -> None:
        self.settings = settings
        self.writer = WriterInfo.of_this_process()
        self.pid = os.getpid()
        self._streams_by_run: dict[str, weakref.WeakSet[RunStream]] = {}
        self.lock = threading.Lock()
        self._delivered = threading.Condition(threading.Lock())
        #: Streams with queued items, in the order they got them.
        self._dirty: dict[RunStream, None] = {}
        #: Events that could never be sent (reported, not retried).
        self.dropped_events = 0
        self._sender_done = False
        self._accepted_calls = 0
        self._settled_calls = 0
        self._buffered_points = 0
        self._wake_pending = False
        self._closing = False
        self._spool = Spool(
            Path(settings.spool_dir or state_dir() / "spool")
            / f"{self.writer.host}-{self.pid}-{uuid.uuid4().hex[:8]}"
        )
        self._spool_full = False
        #: Whether the sender holds a started producer now.
        self._connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main,
            args=(started,),
            name="runstream-emitter",
            daemon=True,
        )
        self._thread.start()
        started.wait()

    def stream(
        self, workspace: str, run_id: str, attempt: int | None = None
    ) -> RunStream:
        """Return a new ordered event stream for one run handle.

        ``attempt`` defaults to ``RUNSTREAM_ATTEMPT`` from the environment
        (a scheduler that restarts jobs can set it), else 1.
        """
        if attempt is None:
            attempt = int(os.environ.get("RUNSTREAM_ATTEMPT") or 1)
        return RunStream(self, workspace, run_id, attempt)

    def register(self, stream: RunStream) -> None:
        """Remember a run handle's writer, for :meth:`watermarks`."""
        with self.lock:
            writers = self._streams_by_run.setdefault(
                stream.run_id, weakref.WeakSet()
            )
            writers.add(stream)

    def watermarks(self, run_id: str) -> dict[str, int]:
        """Return, per writer of ``run_id`` in this process, its last seq.

        A read that waits for these sees everything this process logged to
        the run, through any of its handles.
        """
        with self.lock:
            writers = list(self._streams_by_run.get(run_id, ()))

        return {w.writer_id: w.delivered_seq for w in writers}

    def delivery(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Return, per writer of ``run_id`` in this process, its counts."""
        with self.lock:
            writers = list(self._streams_by_run.get(run_id, ()))
            return {
                w.writer_id: {
                    "host": self.writer.host,
                    "pid": self.writer.pid,
                    "rank": self.writer.rank,
                    "accepted_calls": w.accepted_calls,
                    "events_built": w.assigned_seq,
                    "events_sent": w.delivered_seq,
                }
                for w in writers
            }

    # -- called by user threads, with self.lock held -----------------------

    def wait_for_room(self) -> None:
        """Hold a log call while a full spool has no room (policy "block").

        Waits at most ``max_block_s``; the call then goes ahead, and its
        event is dropped and reported if the spool is still full.
        """
        if not self._spool_full or self.settings.on_spool_full != "block":
            return

        with self._delivered:
            self._delivered.wait_for(
                lambda: not self._spool_full or self._sender_done,
                self.settings.max_block_s,
            )

    def mark_dirty(self, stream: RunStream) -> None:
        self._dirty[stream] = None

    def note_accepted(self, points: int, calls: int = 1) -> None:
        self._accepted_calls += calls
        self._buffered_points += points
        if (
            self._buffered_points >= self.settings.max_points_per_event
            and not self._wake_pending
        ):
            self._wake_pending = True
            self._call_soon(self._set_wake)

    # -- called by user threads, lock not held ----------------------------

    def wake(self) -> None:
        """Ask the sender to send now instead of after ``linger_ms``."""
        self._call_soon(self._set_wake)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every call accepted so far is acknowledged by Kafka.

        Returns whether that happened within ``timeout_s``.
        """
        with self.lock:
            target = self._accepted_calls
        self.wake()
        with self._delivered:
            self._delivered.wait_for(
                lambda: self._settled_calls >= target or self._sender_done,
                timeout_s,
            )
            return self._settled_calls >= target

    def close(self, timeout_s: float | None = None) -> bool:
        """Send what is pending and stop the sender, within a bound.

        With the broker away, pending events go to the spool at once
        instead of waiting out the bound; ``runstream sync`` sends them
        later. Returns whether Kafka took everything.
        """
        bound = (
            self.settings.close_timeout_s if timeout_s is None else timeout_s
        )
        deadline = time.monotonic() + bound
        flushed = self._connected and self.flush(bound)
        with self.lock:
            self._closing = True
        self.wake()
        self._thread.join(max(1.0, deadline - time.monotonic()))
        with self.lock:
            unsent = self._accepted_calls - self._settled_calls
        if not self._spool.is_empty():
            log.error(
                "producer.spool_left",
                spool=str(self._spool.folder),
                spooled_bytes=self._spool.size_bytes(),
                bootstrap=self.settings.bootstrap,
                hint=f"send it with: runstream sync {self._spool.folder}",
            )
        elif unsent:
            log.error(
                "producer.close_timed_out",
                unsent_calls=unsent,
                timeout_s=bound,
                bootstrap=self.settings.bootstrap,
            )

        return flushed and not unsent

    @property
    def is_closed(self) -> bool:
        return not self._thread.is_alive()

    # -- the sender thread ------------------------------------------------

    def _call_soon(self, callback: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:
                # The loop closed between the check and the call: the
                # sender is gone and close() reports what was not sent.
                log.debug("producer.wake_skipped")

    def _set_wake(self) -> None:
        if self._wake_event is not None:
            self._wake_event.set()

    def _thread_main(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake_event = asyncio.Event()
        started.set()
        try:
            loop.run_until_complete(self._sender())
        finally:
            loop.close()
            # Whatever ended the sender, nobody may wait on it any more.
            with self._delivered:
                self._sender_done = True
                self._delivered.notify_all()

    async def _connect(self) -> AIOKafkaProducer | None:
        """Start a producer, or return None if the broker does not answer."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=MAX_MESSAGE_BYTES,
            request_timeout_ms=self.settings.request_timeout_ms,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            log.warning(
                "producer.connect_failed",
                bootstrap=self.settings.bootstrap,
                error=str(exc),
                spooled_bytes=self._spool.size_bytes(),
            )
            return None

        return producer

    async def _sender(self) -> None:
        """Send rounds until closed; spool what the broker does not take.

        Without a producer (the broker does not answer) every round moves
        what is pending to the spool, so memory stays bounded while the
        broker is away. A failed round drops the producer: its idempotence
        state (producer id, per-partition sequences) may no longer match
        the broker's, e.g. after a broker restart, and a new one starts
        clean; events sent twice are stored once.
        """
        assert self._wake_event is not None  # set before the loop runs
        linger_s = self.settings.linger_ms / 1000
        producer: AIOKafkaProducer | None = None
        failures = 0
        next_connect = 0.0
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    # Woken early by a full batch or a flush; else linger.
                    await asyncio.wait_for(self._wake_event.wait(), linger_s)
                self._wake_event.clear()
                with self.lock:
                    self._wake_pending = False
                    closing = self._closing

                if producer is None and time.monotonic() >= next_connect:
                    producer = await self._connect()
                self._connected = producer is not None
                try:
                    if producer is None:
                        self._spool_outgoing(self._take_outgoing())
                        healthy = False
                    else:
                        healthy = await self._send_pending(producer)
                except Exception as exc:  # the sender must outlive any bug
                    log.error("producer.send_round_failed", error=repr(exc))
                    healthy = False
                if closing:
                    break
                if healthy:
                    failures = 0
                    continue

                failures += 1
                next_connect = time.monotonic() + min(5.0, 0.1 * 2**failures)
                if producer is not None:
                    await producer.stop()
                    producer = None
                    self._connected = False
        finally:
            if producer is not None:
                await producer.stop()

    def _take_outgoing(self) -> list[_Outgoing]:
        with self.lock:
            taken = [
                (stream, seq, item)
                for stream in self._dirty
                for seq, item in stream.take_pending()
            ]
            self._dirty.clear()
            self._buffered_points = 0

        outgoing: list[_Outgoing] = []
        for stream, seq, item in taken:
            event = {
                "event_id": str(uuid.uuid4()),
                "workspace": stream.workspace,
                "run_id": stream.run_id,
                "writer": {
                    "writer_id": stream.writer_id,
                    "host": self.writer.host,
                    "pid": self.writer.pid,
                    "rank": self.writer.rank,
                    "attempt": stream.attempt,
                },
                "seq": seq,
                "time_us": item.time_us,
                "body": item.body(),
            }
            try:
                message = encode_event(event)
            except (ValueError, TypeError, OverflowError) as exc:
                # The SDK checks every value before it is queued, so this
                # is a bug; the event is reported and the rest still go.
                self._drop(_Outgoing(stream, seq, item.items, b""), exc)
                with self._delivered:
                    self._settled_calls += item.items
                continue
            outgoing.append(_Outgoing(stream, seq, item.items, message))

        return outgoing

    async def _send_all(
        self, producer: AIOKafkaProducer, outgoing: list[_Outgoing]
    ) -> list[BaseException | None]:
        """Send in order; return per event None (acknowledged) or the error."""
        topic = self.settings.topic
        pending: list[asyncio.Future[Any] | BaseException] = []
        for out in outgoing:
            try:
                pending.append(
                    await producer.send(
                        topic, out.message, key=out.stream.run_id.encode()
                    )
                )
            except KafkaError as exc:
                pending.append(exc)

        results: list[BaseException | None] = []
        for item in pending:
            if isinstance(item, BaseException):
                results.append(item)
                continue
            try:
                await item
                results.append(None)
            except KafkaError as exc:
                results.append(exc)

        return results

    async def _send_pending(self, producer: AIOKafkaProducer) -> bool:
        """Send what is pending; return False if any event failed.

        While the spool holds events, new ones queue behind them on disk,
        so every writer's events reach Kafka in order.
        """
        outgoing = self._take_outgoing()
        if not self._spool.is_empty():
            self._spool_outgoing(outgoing)
            return await self._drain_spool(producer)
        if not outgoing:
            return True

        results = await self._send_all(producer, outgoing)
        settled = 0
        blocked: set[str] = set()
        failed: list[_Outgoing] = []
        errors: list[BaseException] = []
        for out, error in zip(outgoing, results, strict=True):
            if out.stream.writer_id in blocked:
                # Everything behind a failed event of the same writer goes
                # again after it, so Kafka keeps the writer's order.
                failed.append(out)
            elif error is None:
                out.stream.delivered_seq = out.seq
                settled += out.items
            elif isinstance(error, _UNSENDABLE):
                settled += out.items
                self._drop(out, error)
            else:
                blocked.add(out.stream.writer_id)
                errors.append(error)
                failed.append(out)

        if errors:
            log.warning(
                "producer.send_failed",
                events=len(failed),
                topic=self.settings.topic,
                error=str(errors[0]),
            )
        self._settle(settled)
        self._spool_outgoing(failed)
        return not errors

    async def _drain_spool(self, producer: AIOKafkaProducer) -> bool:
        """Send spooled events oldest first; False at the first failure."""
        for segment in self._spool.segments():
            messages = list(self._spool.read_segment(segment))
            pending = []
            for message in messages:
                try:
                    pending.append(
                        await producer.send(
                            message.topic, message.value, key=message.key
                        )
                    )
                except KafkaError:
                    break
            sent = 0
            for future in pending:
                try:
                    await future
                except KafkaError:
                    break
                sent += 1
            self._note_sent_from_spool(messages[:sent])
            if sent < len(messages):
                self._spool.mark_sent(segment, sent)
                return False
            self._spool.finish(segment)

        self._spool_full = False
        log.info("producer.spool_drained", spool=str(self._spool.folder))
        self._spool.remove_if_empty()
        return True

    def _note_sent_from_spool(self, messages: list[SpooledMessage]) -> None:
        with self.lock:
            writers = {
                w.writer_id: w
                for streams in self._streams_by_run.values()
                for w in streams
            }
        for message in messages:
            writer = writers.get(message.writer_id)
            if writer is not None:
                writer.delivered_seq = max(writer.delivered_seq, message.seq)
        self._settle(sum(m.items for m in messages))

    def _settle(self, calls: int) -> None:
        with self._delivered:
            self._settled_calls += calls
            self._delivered.notify_all()

    def _spool_outgoing(self, outgoing: list[_Outgoing]) -> None:
        """Keep events on disk until the broker takes them.

        Past ``max_spool_bytes`` the newest events are dropped and counted
        (``on_spool_full="drop"``), or log calls wait for room
        (``"block"``, bounded by ``max_block_s``).
        """
        if not outgoing:
            return

        room = self.settings.max_spool_bytes - self._spool.size_bytes()
        kept: list[_Outgoing] = []
        for out in outgoing:
            room -= len(out.message)
            if room < 0:
                self._settle(out.items)
                self._drop(out, SpoolFullError(self._spool.folder))
            else:
                kept.append(out)
        self._spool_full = room < 0
        if self._spool.is_empty():
            self._spool.claim(
                {"host": self.writer.host, "pid": self.writer.pid}
            )
        self._spool.append(
            [
                SpooledMessage(
                    topic=self.settings.topic,
                    key=out.stream.run_id.encode(),
                    value=out.message,
                    writer_id=out.stream.writer_id,
                    seq=out.seq,
                    items=out.items,
                )
                for out in kept
            ]
        )

    def _drop(self, out: _Outgoing, error: BaseException) -> None:
        out.stream.delivered_seq = out.seq
        self.dropped_events += 1
        log.error(
            "producer.event_dropped",
            run_id=out.stream.run_id,
            seq=out.seq,
            size_bytes=len(out.message),
            error=str(error),
        )


#: Errors that no retry can cure; the event is dropped and reported.
_UNSENDABLE = (MessageSizeTooLargeError,)


class SpoolFullError(BrokerError):
    """The spool reached ``max_spool_bytes`` while the broker was away."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"the spool {folder} is full; raise max_spool_bytes or bring "
            "the broker back"
        )


_emitters: dict[EmitterSettings, Emitter] = {}
_emitters_lock = threading.Lock()


def get_emitter(settings: EmitterSettings) -> Emitter:
    """Return this process's emitter for ``settings``, starting it once."""
    with _emitters_lock:
        emitter = _emitters.get(settings)
        if emitter is None or emitter.is_closed:
            emitter = _emitters[settings] = Emitter(settings)
            _flush_on_every_exit()

        return emitter


_exit_hooks_pid: int | None = None


def _flush_on_every_exit() -> None:
    """Make the ways a process ends also flush what it logged.

    ``atexit`` covers a normal exit, ``sys.exit`` and uncaught exceptions.
    Two more are common in training jobs: SIGTERM (schedulers, ``kill``,
    container stops), which by default ends the process without running
    ``atexit``, and multiprocessing workers, which leave through
    ``os._exit`` after running multiprocessing's own finalizers.
    """
    global _exit_hooks_pid
    if _exit_hooks_pid == os.getpid():
        return
    _exit_hooks_pid = os.getpid()

    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, close_all, exitpriority=100)

    is_main = threading.current_thread() is threading.main_thread()
    if is_main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        # SIGTERM becomes SystemExit(143): the stack unwinds (``with run:``
        # marks the run Failed), then atexit flushes; the exit status is
        # the one SIGTERM would have given.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def close_all(timeout_s: float | None = None) -> None:
    """Flush and stop every emitter of this process (run at exit)."""
    with _emitters_lock:
        emitters = list(_emitters.values())
        _emitters.clear()
    for emitter in emitters:
        emitter.close(timeout_s)


def _forget_after_fork() -> None:
    # A forked child has no sender thread; it starts emitters of its own.
    global _emitters_lock
    _emitters.clear()
    _emitters_lock = threading.Lock()


atexit.register(close_all)
os.register_at_fork(after_in_child=_forget_after_fork)
