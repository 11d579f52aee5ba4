"""The on-disk spool: Kafka messages that wait for the broker to return.

A spool is a folder of Avro object container files (``000001.avro``,
``000002.avro``, ...), each holding :class:`SpooledMessage` records in the
order they were meant to be sent. The writer appends to the newest segment
and starts a new one past a size; the reader sends segments oldest first
and deletes each once Kafka has acknowledged all of it. A file
``.sent-<segment>`` remembers how many records of a segment were sent, so a
resumed reader skips them (sending one twice would be harmless: the store
keeps one copy of each event).

The training process writes a spool while its broker is away;
``runstream sync`` sends a spool that a process left behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import fastavro

from runstream._resources import schemas_dir

SEGMENT_SUFFIX = ".avro"
#: Past this size a spool starts a new segment file.
SEGMENT_BYTES = 16 * 1024 * 1024
OWNER_FILE = "owner.json"


@cache
def _schema() -> Any:
    path = schemas_dir() / "runstream.spool.v1.avsc"
    with path.open(encoding="utf-8") as file:
        return fastavro.parse_schema(json.load(file))


@attrs.frozen
class SpooledMessage:
    """One message as the spool keeps it."""

    topic: str
    key: bytes
    value: bytes
    writer_id: str
    seq: int
    items: int


class Spool:
    """Append-only, segment-wise FIFO of Kafka messages in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def segments(self) -> list[Path]:
        """Return the segment files, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"*{SEGMENT_SUFFIX}"))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.segments())

    def is_empty(self) -> bool:
        return not self.segments()

    def claim(self, owner: dict[str, Any]) -> None:
        """Record which process writes this spool (for ``runstream sync``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / OWNER_FILE).write_text(json.dumps(owner) + "\n")

    def append(self, messages: list[SpooledMessage]) -> None:
        """Append messages after everything already spooled, durably."""
        if not messages:
            return

        self.folder.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        target = existing[-1] if existing else None
        if target is None or target.stat().st_size >= SEGMENT_BYTES:
            number = int(target.stem) + 1 if target is not None else 1
            target = self.folder / f"{number:06d}{SEGMENT_SUFFIX}"
        records = [attrs.asdict(m) for m in messages]
        mode = "a+b" if target.exists() else "wb"
        with target.open(mode) as file:
            fastavro.writer(file, _schema(), records)
            file.flush()
            os.fsync(file.fileno())

    def read_segment(self, segment: Path) -> Iterator[SpooledMessage]:
        """Yield a segment's messages that were not sent yet, in order."""
        skip = self._sent_count(segment)
        with segment.open("rb") as file:
            for index, record in enumerate(fastavro.reader(file)):
                if index >= skip:
                    yield SpooledMessage(**record)  # type: ignore[arg-type]

    def mark_sent(self, segment: Path, count: int) -> None:
        """Remember that the first ``count`` records of a segment went out."""
        marker = self._marker(segment)
        scratch = marker.with_suffix(".tmp")
        scratch.write_text(str(self._sent_count(segment) + count))
        scratch.replace(marker)

    def finish(self, segment: Path) -> None:
        """Delete a segment that was sent whole."""
        segment.unlink(missing_ok=True)
        self._marker(segment).unlink(missing_ok=True)

    def remove_if_empty(self) -> None:
        """Delete the spool folder once nothing is left in it."""
        if self.is_empty():
            (self.folder / OWNER_FILE).unlink(missing_ok=True)
            try:
                self.folder.rmdir()
            except OSError:
                # Something else (a marker of a segment being written, a
                # user's file) is still there; the folder stays.
                return

    def _marker(self, segment: Path) -> Path:
        return segment.with_name(f".sent-{segment.stem}")

    def _sent_count(self, segment: Path) -> int:
        try:
            return int(self._marker(segment).read_text())
        except (OSError, ValueError):
            return 0


def find_spools(root: Path) -> list[Spool]:
    """Return the spools under ``root`` (itself one, or its subfolders)."""
    if any(root.glob(f"*{SEGMENT_SUFFIX}")):
        return [Spool(root)]
    if not root.is_dir():
        return []
    return [Spool(p) for p in sorted(root.iterdir()) if p.is_dir()]
