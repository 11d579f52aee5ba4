"""``Run.get_context()``: the submitted run, or an offline stand-in.

``experiment.submit()`` starts a script with ``RUNSTREAM_RUN_ID`` and
``RUNSTREAM_EXPERIMENT`` set beside the endpoint variables; here they
become a :class:`SubmittedRun`. Without them the script runs offline: an
:class:`OfflineRun` prints each call, appends it to
``logs/<run id>.jsonl`` and never raises, so the script also runs with
plain ``python train.py``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from runstream.errors import NotFoundError, RunstreamError
from runstream.producer._run import Run, error_message

log = structlog.get_logger(component="sdk")

RUN_ID_VARIABLE = "RUNSTREAM_RUN_ID"
EXPERIMENT_VARIABLE = "RUNSTREAM_EXPERIMENT"

_submitted: dict[str, SubmittedRun] = {}
_submitted_lock = threading.Lock()


class SubmittedRun(Run):
    """The run a submitted script logs to.

    The process that started the script owns the status: ``complete()``
    captures ``./outputs`` and sends everything without ending the run;
    ``fail()`` marks it Failed, and ``cancel()`` only warns.
    """

    def complete(self) -> None:
        """Capture ./outputs and send all; the run ends with its script."""
        self._capture_outputs()
        self.flush()

    def fail(
        self,
        error_details: str | BaseException | None = None,
        error_code: str | None = None,
    ) -> None:
        """Mark the run Failed with the error given."""
        message = error_message("Run.fail()", error_details)
        error = {
            "error_code": error_code or "UserError",
            "error_message": message,
        }
        self._capture_outputs()
        self._set_status("Failed", **error)
        self.flush()
        # The supervisor marks the run Finalizing after the script exits,
        # then sets this error again as the last word.
        from runstream.producer._script import FAILED_FILE, runs_root

        control = runs_root() / f"{self.id}.control"
        if control.is_dir():
            (control / FAILED_FILE).write_text(
                json.dumps(error), encoding="utf-8"
            )

    def cancel(self) -> None:
        """Warn: a submitted script cannot cancel its own run."""
        warnings.warn(
            "Run.cancel(): a submitted script cannot cancel its own run; "
            "cancel it from the process that submitted it",
            RuntimeWarning,
            stacklevel=2,
        )


def get_context(allow_offline: bool) -> Any:
    """Return the submitted run of this process, or an offline run."""
    run_id = os.environ.get(RUN_ID_VARIABLE)
    experiment_name = os.environ.get(EXPERIMENT_VARIABLE)
    if not run_id or not experiment_name:
        if not allow_offline:
            raise NotFoundError(
                "Run.get_context(): this process was not started by "
                f"experiment.submit() ({RUN_ID_VARIABLE} is not set); pass "
                "allow_offline=True to log to the console instead"
            )
        return OfflineRun()

    with _submitted_lock:
        run = _submitted.get(run_id)
        if run is None:
            from runstream.producer._experiment import Experiment
            from runstream.producer._workspace import Workspace

            experiment = Experiment(Workspace(), experiment_name)
            run = SubmittedRun.__new__(SubmittedRun)
            run._attach(experiment, run_id, "outputs")
            run._run_type = "azureml.scriptrun"
            run._status = "Running"
            _submitted[run_id] = run

        return run


class OfflineRun:
    """A run outside any submission: prints and records calls locally.

    It has the logging, tagging and upload calls of :class:`Run` but no
    reads (``get_metrics`` and the like do not exist on it, as in Azure
    ML). A call with bad arguments prints why instead of raising.
    """

    def __init__(self, run_id: str | None = None) -> None:
        self.id = run_id or f"OfflineRun_{uuid.uuid4()}"
        self._file = Path("logs") / f"{self.id}.jsonl"

    def __repr__(self) -> str:
        return f"OfflineRun(Id: {self.id})"

    def _record(self, call: str, heading: str, value: Any = None) -> None:
        print(heading)
        if value is not None:
            print(value)
        entry = {"time": time.time(), "call": call, "value": repr(value)}
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            with self._file.open("a", encoding="utf-8") as file:
                file.write(json.dumps(entry) + "\n")
        except OSError as exc:
            # Offline logging must never stop the script; the console
            # already has the value.
            log.debug("sdk.offline_record_failed", error=str(exc))

    def _checked(self, check: Any, *args: Any) -> bool:
        try:
            check(*args)
        except RunstreamError as exc:
            print(
                f"Offline run {self.id} ignored a call: {exc}", file=sys.stderr
            )
            return False
        return True

    def log(
        self,
        name: str,
        value: Any,
        description: str = "",
        step: int | None = None,
    ) -> None:
        """Print a scalar metric (``step`` is accepted and printed)."""
        from runstream.producer._values import check_name, to_scalar_cell

        if self._checked(
            check_name, "Run.log()", "name", name
        ) and self._checked(to_scalar_cell, "Run.log()", value):
            shown = value if step is None else f"{value} (step {step})"
            self._record(
                "log", f"Attempted to log scalar metric {name}:", shown
            )

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Print a list metric."""
        values = list(value) if not isinstance(value, (str, bytes)) else value
        self._record(
            "log_list", f"Attempted to log list metric {name}:", values
        )

    def log_row(
        self, name: str, description: str | None = None, **kwargs: Any
    ) -> None:
        """Print a row of a table metric."""
        self._record("log_row", f"Attempted to log row metric {name}:", kwargs)

    def log_table(self, name: str, value: Any, description: str = "") -> None:
        """Print a table metric."""
        self._record(
            "log_table", f"Attempted to log table metric {name}:", value
        )

    def log_image(
        self,
        name: str,
        path: Any = None,
        plot: Any = None,
        description: str = "",
    ) -> None:
        """Print that an image would have been logged."""
        shown = path if path is not None else type(plot).__name__
        self._record(
            "log_image", f"Attempted to log image metric {name}:", shown
        )

    def upload_file(self, name: str, path_or_stream: Any, **_: Any) -> None:
        """Print that a file would have been uploaded."""
        self._record("upload_file", f"Attempted to upload file {name}")

    def upload_files(self, names: Any, paths: Any, **_: Any) -> None:
        """Print that files would have been uploaded."""
        self._record(
            "upload_files", f"Attempted to upload files {list(names)}"
        )

    def upload_folder(self, name: str, path: Any, **_: Any) -> None:
        """Print that a folder would have been uploaded."""
        self._record("upload_folder", f"Attempted to upload folder {name}")

    def tag(self, key: str, value: Any = None) -> None:
        """Print a tag."""
        self._record("tag", f"Attempted to set tag {key} to {value}")

    def set_tags(self, tags: Any) -> None:
        """Print tags."""
        self._record("set_tags", f"Attempted to set tags {tags}")

    def add_properties(self, properties: Any) -> None:
        """Print properties."""
        self._record(
            "add_properties", f"Attempted to add properties {properties}"
        )

    def flush(self, timeout_seconds: float = 300) -> None:
        """Nothing to send offline."""

    def complete(self) -> None:
        """Print that the run completed."""
        self._record("complete", f"[STOP] OfflineRun {self.id} completed")

    def fail(
        self, error_details: Any = None, error_code: str | None = None
    ) -> None:
        """Print the error."""
        self._record(
            "fail", f"[STOP] OfflineRun {self.id} failed: {error_details}"
        )

    def cancel(self) -> None:
        """Print that the run was canceled."""
        self._record("cancel", f"[STOP] OfflineRun {self.id} canceled")

    def child_run(
        self,
        name: str | None = None,
        run_id: str | None = None,
        outputs: Any = None,
    ) -> OfflineRun:
        """Return an offline child whose id is ``<id>.<name>``."""
        return OfflineRun(run_id or f"{self.id}.{name or uuid.uuid4()}")

    def __enter__(self) -> OfflineRun:
        print(f"[START] OfflineRun {self.id}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        print(f"[STOP] OfflineRun {self.id}")
