"""``Run``: one execution of training code, and everything it logs.

The log calls check their input, then queue it and return; nothing waits
on the network. Reads (``get_metrics``, ``get_status``, ``get_file_names``)
first flush what this process logged, so a read sees every earlier write.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import structlog

from runstream._limits import MAX_ERROR_MESSAGE_CHARS, MAX_TAG_VALUE_CHARS
from runstream.errors import (
    BrokerError,
    ConflictError,
    InvalidArgumentError,
    InvalidTypeError,
)
from runstream.producer._artifacts import (
    ArtifactRef,
    check_artifact_name,
    open_source,
)
from runstream.producer._values import (
    check_name,
    to_list_cells,
    to_row_cells,
    to_scalar_cell,
    to_table_columns,
)

if TYPE_CHECKING:
    from runstream.producer._experiment import Experiment

log = structlog.get_logger(component="sdk")

#: How long a read waits for this process's events to reach Kafka.
READ_FLUSH_TIMEOUT_S = 60.0
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled"})


class Run:
    """A run of an experiment: log metrics, tag it, attach files, read back.

    ``Run(experiment, run_id)`` attaches to an existing run; new runs come
    from ``experiment.start_logging()``.
    """

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        outputs: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidArgumentError(
                "Run()", "run_id", "must be a non-empty str", run_id
            )
        self.experiment = experiment
        self.id = run_id
        self._workspace = experiment.workspace
        self._stream = self._workspace._emitter().stream(
            self._workspace.name, run_id
        )
        self._outputs = Path(outputs).resolve() if outputs else None
        self._status: str | None = None
        self._warned_after_end = False

    @classmethod
    def _start(
        cls,
        experiment: Experiment,
        run_id: str | None = None,
        display_name: str | None = None,
        outputs: str | bool | None = None,
    ) -> Run:
        if outputs is None or outputs is True or outputs == "":
            outputs = "outputs"
        folder = None if outputs is False else Path(str(outputs))
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

        run = cls(experiment, run_id or str(uuid.uuid4()), outputs=folder)
        run._stream.add_lifecycle(
            "RunStarted",
            {
                "experiment": experiment.name,
                "parent_run_id": None,
                "display_name": display_name,
                "run_type": "interactive",
            },
        )
        run._set_status("Running")
        return run

    def __repr__(self) -> str:
        return (
            f"Run(Experiment: {self.experiment.name},\n"
            f"Id: {self.id},\n"
            f"Type: interactive,\n"
            f"Status: {self._status or 'unknown'})"
        )

    # -- logging ----------------------------------------------------------

    def _note_if_ended(self, call: str) -> None:
        if self._status in TERMINAL_STATUSES and not self._warned_after_end:
            self._warned_after_end = True
            warnings.warn(
                f"{call}: run {self.id} is already {self._status}; the value "
                "is stored all the same",
                RuntimeWarning,
                stacklevel=3,
            )

    def log(
        self,
        name: str,
        value: Any,
        description: str = "",
        step: int | None = None,
    ) -> None:
        """Log one value of a metric; repeated calls make it a series.

        ``step`` places the value (default: one past this metric's last
        step). ``description`` is accepted for compatibility and not stored.
        """
        call = "Run.log()"
        check_name(call, "name", name)
        cell = to_scalar_cell(call, value)
        if step is not None:
            step = _check_step(call, step)
        self._note_if_ended(call)
        self._stream.add_point(name, step, time.time_ns() // 1000, cell)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Log a list of values of a metric; an empty list logs nothing."""
        call = "Run.log_list()"
        check_name(call, "name", name)
        cells = to_list_cells(call, value)
        self._note_if_ended(call)
        self._stream.add_points(name, "LIST", time.time_ns() // 1000, cells)

    def log_row(
        self, name: str, description: str | None = None, **kwargs: Any
    ) -> None:
        """Log one row of a table metric: each keyword is a column."""
        call = "Run.log_row()"
        check_name(call, "name", name)
        columns, cells = to_row_cells(call, kwargs)
        if not columns:
            return
        self._note_if_ended(call)
        self._stream.add_rows(
            name, "ROW", time.time_ns() // 1000, columns, [cells]
        )

    def log_table(
        self, name: str, value: Mapping[str, Any], description: str = ""
    ) -> None:
        """Log a table metric given as ``{column: [values]}``."""
        call = "Run.log_table()"
        check_name(call, "name", name)
        columns, rows = to_table_columns(call, value)
        self._note_if_ended(call)
        self._stream.add_rows(
            name, "TABLE", time.time_ns() // 1000, columns, rows
        )

    # -- tags ------------------------------------------------------------

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag; a tag without a value reads back as ``None``."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags; tags not named keep their values."""
        call = "Run.set_tags()"
        if not isinstance(tags, Mapping):
            raise InvalidTypeError(call, "tags", "must be a dict", tags)
        checked = {
            check_name(call, "tags key", key): _tag_value(call, key, v)
            for key, v in tags.items()
        }
        if checked:
            self._stream.add_lifecycle("TagsSet", {"tags": checked})

    def get_tags(self) -> dict[str, str | None]:
        """Return the run's tags, including those set just now."""
        tags: dict[str, str | None] = self._read_run()["tags"]
        return tags

    # -- files -----------------------------------------------------------

    def upload_file(
        self, name: str, path_or_stream: str | os.PathLike[str] | IO[bytes]
    ) -> ArtifactRef:
        """Store a file as an artifact of the run under ``name``.

        Raises:
            ConflictError: the run already has an artifact of that name.
        """
        call = "Run.upload_file()"
        name = check_artifact_name(call, name)
        source = open_source(call, path_or_stream)
        try:
            ref = self._workspace._artifacts.put(
                self._workspace.name, self.id, name, source
            )
        finally:
            if source is not path_or_stream:
                source.close()
        self._stream.add_lifecycle("ArtifactAdded", ref.as_event_fields())
        return ref

    def get_file_names(self) -> list[str]:
        """Return the names of the run's artifacts."""
        files: list[str] = self._read_run()["files"]
        return files

    def _capture_outputs(self) -> None:
        """Store each file of the outputs folder as ``outputs/<path>``.

        A file already uploaded under the same name with the same bytes is
        skipped; one with other bytes keeps the first upload, with a warning.
        """
        folder = self._outputs
        if folder is None or not folder.is_dir():
            return

        store = self._workspace._artifacts
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = "outputs/" + path.relative_to(folder).as_posix()
            try:
                self.upload_file(name, path)
            except ConflictError:
                ws = self._workspace.name
                if store.sha256_of(ws, self.id, name) != _sha256(path):
                    log.warning(
                        "sdk.output_not_captured",
                        run_id=self.id,
                        artifact=name,
                        reason="an artifact of that name with other bytes "
                        "was uploaded before",
                    )

    # -- lifecycle ---------------------------------------------------------

    def _set_status(
        self,
        status: str,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        self._status = status
        self._stream.add_lifecycle(
            "RunStatusChanged",
            {
                "status": status,
                "error_code": error_code,
                "error_message": error_message,
            },
        )

    def _finish(self, status: str, **error: str | None) -> None:
        self._capture_outputs()
        self._set_status(status, **error)
        emitter = self._stream.emitter
        if not emitter.flush(READ_FLUSH_TIMEOUT_S):
            log.warning(
                "sdk.flush_timed_out",
                run_id=self.id,
                timeout_s=READ_FLUSH_TIMEOUT_S,
                bootstrap=emitter.settings.bootstrap,
            )

    def complete(self) -> None:
        """Capture outputs, mark the run Completed, and send everything."""
        self._finish("Completed")

    def fail(self, error_details: str | BaseException | None = None) -> None:
        """Capture outputs and mark the run Failed with the error given."""
        if error_details is not None and not isinstance(
            error_details, (str, BaseException)
        ):
            raise InvalidTypeError(
                "Run.fail()",
                "error_details",
                "must be a str, an exception or None",
                error_details,
            )
        message: str | None = None
        if isinstance(error_details, str):
            message = error_details
        elif isinstance(error_details, BaseException):
            message = (
                f"User program failed with {type(error_details).__name__}: "
                f"{error_details}"
            )
        if message is not None and len(message) > MAX_ERROR_MESSAGE_CHARS:
            cut = len(message) - MAX_ERROR_MESSAGE_CHARS
            message = (
                message[:MAX_ERROR_MESSAGE_CHARS] + f" [{cut} characters cut]"
            )
        self._finish("Failed", error_code="UserError", error_message=message)

    def cancel(self) -> None:
        """Mark the run Canceled."""
        self._finish("Canceled")

    def get_status(self) -> str:
        """Return the run's status as the store has it."""
        if self._status in TERMINAL_STATUSES:
            return self._status
        status: str = self._read_run()["status"]
        self._status = status
        return status

    def get_details(self) -> dict[str, Any]:
        """Return the run's record: id, status, times, error if any."""
        return self._read_run()

    def flush(self, timeout_seconds: float = 300) -> None:
        """Wait until Kafka has everything this run handle logged so far.

        Raises:
            BrokerError: the broker did not take it within the timeout;
                nothing is dropped, the events stay queued.
        """
        if not self._stream.emitter.flush(timeout_seconds):
            raise BrokerError(
                f"Run.flush(): Kafka at "
                f"{self._stream.emitter.settings.bootstrap} did not take the "
                f"logged events within {timeout_seconds:g} s; they stay queued"
            )

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or (
            isinstance(exc, SystemExit) and exc.code in (None, 0)
        ):
            self.complete()
        else:
            self.fail(exc)

    # -- reads -----------------------------------------------------------

    def _flush_for_read(self, call: str) -> dict[str, int]:
        emitter = self._stream.emitter
        if not emitter.flush(READ_FLUSH_TIMEOUT_S):
            warnings.warn(
                f"{call}: Kafka did not take this run's latest events within "
                f"{READ_FLUSH_TIMEOUT_S:g} s; the answer may miss them",
                RuntimeWarning,
                stacklevel=3,
            )
        return {self._stream.writer_id: self._stream.delivered_seq}

    def _read_run(self) -> dict[str, Any]:
        wait_for = self._flush_for_read("Run read")
        return self._workspace._query.get_run(
            self._workspace.name, self.id, wait_for
        )

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        """Return the run's metrics in Azure ML's shapes.

        A metric logged once reads as its bare value, several times as a
        list in step order (logging order, unless steps were given); a row or table metric reads as
        ``{column: value}`` with one row, ``{column: [values]}`` with
        more.
        """
        wait_for = self._flush_for_read("Run.get_metrics()")
        return self._workspace._query.get_metrics(
            self._workspace.name, self.id, name, wait_for
        )


def _tag_value(call: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if len(text) > MAX_TAG_VALUE_CHARS:
        raise InvalidArgumentError(
            call,
            f"tags[{key!r}]",
            f"must be at most {MAX_TAG_VALUE_CHARS} characters "
            f"(it has {len(text)})",
            text,
        )

    return text


def _check_step(call: str, step: Any) -> int:
    if hasattr(step, "item") and not isinstance(step, bool):
        step = step.item()
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidTypeError(call, "step", "must be an int", step)
    if not 0 <= step < 2**63:
        raise InvalidArgumentError(
            call, "step", "must be between 0 and 2**63 - 1", step
        )

    return step


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)

    return digest.hexdigest()
