"""``runstream sync``: send the spools that exited processes left behind.

A training process whose broker was away when it ended keeps its unsent
events in a spool folder (see ``runstream._wire.spool``). Syncing sends
them, oldest first, with an idempotent producer, and deletes each segment
once Kafka has acknowledged all of it. Events carry their writer and
sequence number, so an event that also arrived some other way is stored
once.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import attrs
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from runstream._config import read_json
from runstream._limits import MAX_MESSAGE_BYTES
from runstream._wire.spool import OWNER_FILE, Spool, find_spools
from runstream.errors import BrokerError

log = structlog.get_logger(component="sync")


@attrs.frozen
class SyncReport:
    """What one spool folder gave."""

    spool: Path
    sent: int
    skipped_reason: str | None = None


def owner_is_alive(spool: Spool) -> bool:
    """Whether the process that writes ``spool`` still runs on this host."""
    owner_file = spool.folder / OWNER_FILE
    if not owner_file.is_file():
        return False
    owner = read_json(owner_file)
    if owner.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError):
        return False
    except PermissionError:
        return True

    return True


async def sync_spools(
    root: Path, bootstrap: str, *, force: bool = False
) -> list[SyncReport]:
    """Send every spool under ``root``; skip those a live process owns."""
    reports: list[SyncReport] = []
    spools = find_spools(root)
    if not spools:
        return reports

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES,
    )
    try:
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        raise BrokerError(
            f"runstream sync: Kafka at {bootstrap} does not answer ({exc}); "
            "the spools stay where they are"
        ) from exc

    try:
        for spool in spools:
            if not force and owner_is_alive(spool):
                reports.append(
                    SyncReport(spool.folder, 0, "its process still runs")
                )
                continue
            reports.append(
                SyncReport(spool.folder, await _send_spool(producer, spool))
            )
    finally:
        await producer.stop()

    return reports


async def _send_spool(producer: AIOKafkaProducer, spool: Spool) -> int:
    sent = 0
    for segment in spool.segments():
        count = 0
        for message in spool.read_segment(segment):
            try:
                await producer.send_and_wait(
                    message.topic, message.value, key=message.key
                )
            except KafkaError as exc:
                spool.mark_sent(segment, count)
                raise BrokerError(
                    f"runstream sync: Kafka stopped taking events from "
                    f"{segment} ({exc}); run sync again to send the rest"
                ) from exc
            count += 1
        spool.finish(segment)
        sent += count
        log.info("sync.segment_sent", segment=str(segment), events=count)

    spool.remove_if_empty()
    return sent
