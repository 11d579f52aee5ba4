"""The exceptions runstream raises, one tree under :class:`RunstreamError`.

::

    RunstreamError
    ├── InvalidArgumentError (also ValueError)
    │   └── InvalidTypeError (also TypeError)
    ├── ConflictError            an artifact name already taken
    ├── NotFoundError            no such run, metric or file
    ├── SchemaError              an event that breaks the Avro contract
    ├── RunFailedError           wait_for_completion() on a failed run
    └── BackendError             Kafka, ClickHouse or the server failed
        ├── BrokerError          (retriable)
        ├── StoreError
        └── ServerError

Caller mistakes are raised before anything is queued, so nothing that was
already accepted is lost. ``argument`` and ``value`` stay readable as
attributes.
"""

from __future__ import annotations

from typing import Any


class RunstreamError(Exception):
    """Root of every error runstream raises on purpose."""


class InvalidArgumentError(RunstreamError, ValueError):
    """A call got an argument that breaks a stated rule."""

    def __init__(
        self, call: str, argument: str, rule: str, value: Any = None
    ) -> None:
        self.call = call
        self.argument = argument
        self.rule = rule
        self.value = value
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{call}: {argument!r} {rule} (got {shown})")


class InvalidTypeError(InvalidArgumentError, TypeError):
    """A call got an argument of a type it does not accept."""


class ConflictError(RunstreamError):
    """Something write-once (an artifact name) already exists."""


class NotFoundError(RunstreamError, LookupError):
    """The named run, experiment or file does not exist."""


class SchemaError(RunstreamError):
    """An event does not follow the Avro contract in ``schemas/``."""


class RunFailedError(RunstreamError):
    """A run that was waited for ended Failed; ``details`` is its record."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        self.details = details
        super().__init__(message)


class BackendError(RunstreamError):
    """Infrastructure failed; ``retriable`` says whether trying again helps."""

    retriable = False


class BrokerError(BackendError):
    """Kafka could not take or give events."""

    retriable = True


class StoreError(BackendError):
    """ClickHouse rejected or failed a statement."""


class ServerError(BackendError):
    """The runstream server answered with an error or not at all."""

    retriable = True

    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)
