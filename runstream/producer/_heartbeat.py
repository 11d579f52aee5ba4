"""Heartbeats: proof that the process running a run is alive.

While a run is Running, one daemon thread per process queues a
``Heartbeat`` event for it every interval (``RUNSTREAM_HEARTBEAT_S``,
default 10 s). Reads report a run that is not finished as
``NotResponding`` once it has been silent for four intervals, so a run
whose process died without completing does not stay Running.
"""

from __future__ import annotations

import os
import threading
import time

import structlog

from runstream.producer._emitter import RunStream

log = structlog.get_logger(component="sdk")

DEFAULT_INTERVAL_S = 10.0


def interval_s() -> float:
    """Return the heartbeat interval this process uses."""
    raw = os.environ.get("RUNSTREAM_HEARTBEAT_S", "")
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        log.warning("sdk.heartbeat_interval_ignored", value=raw)
        return DEFAULT_INTERVAL_S

    return value if value > 0 else DEFAULT_INTERVAL_S


class Heartbeats:
    """The runs this process beats for, and the thread that does it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[RunStream, None] = {}
        self._thread: threading.Thread | None = None
        self.interval_s = interval_s()

    def add(self, stream: RunStream) -> None:
        """Beat for ``stream`` from now until :meth:`remove`."""
        with self._lock:
            self._streams[stream] = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._beat_forever,
                    name="runstream-heartbeat",
                    daemon=True,
                )
                self._thread.start()
        self._beat(stream)

    def remove(self, stream: RunStream) -> None:
        with self._lock:
            self._streams.pop(stream, None)

    def _beat(self, stream: RunStream) -> None:
        stream.add_lifecycle(
            "Heartbeat", {"interval_ms": int(self.interval_s * 1000)}
        )

    def _beat_forever(self) -> None:
        while True:
            time.sleep(self.interval_s)
            with self._lock:
                streams = list(self._streams)
            for stream in streams:
                self._beat(stream)


_heartbeats: Heartbeats | None = None
_heartbeats_lock = threading.Lock()


def heartbeats() -> Heartbeats:
    """Return this process's heartbeat thread, starting it once."""
    global _heartbeats
    with _heartbeats_lock:
        if _heartbeats is None:
            _heartbeats = Heartbeats()
        return _heartbeats
