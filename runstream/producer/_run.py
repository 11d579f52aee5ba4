"""``Run``: one execution of training code, and everything it logs.

The log calls check their input, then queue it and return; nothing waits
on the network. Reads (``get_metrics``, ``get_status``, ``get_file_names``)
first flush what this process logged, so a read sees every earlier write.

Statuses follow Azure ML: an interactive run goes ``Running`` →
``Completed`` / ``Failed`` / ``Canceled``; a script run goes
``NotStarted`` → ``Starting`` → ``Preparing`` → ``Running`` →
``Finalizing`` → ``Completed`` / ``Failed`` (or ``Canceled``). A run whose
process stopped sending heartbeats reads as ``NotResponding``.
"""

from __future__ import annotations

import builtins
import getpass
import io
import os
import re
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import attrs
import structlog

from runstream._limits import MAX_ERROR_MESSAGE_CHARS, MAX_TAG_VALUE_CHARS
from runstream.errors import (
    BrokerError,
    ConflictError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    ServerError,
)
from runstream.producer import _files, _snapshot
from runstream.producer._artifacts import (
    ArtifactRef,
    check_artifact_name,
    open_source,
)
from runstream.producer._children import child_tags, tag_keys
from runstream.producer._heartbeat import heartbeats
from runstream.producer._images import image_from_path, image_from_plot
from runstream.producer._json_metrics import (
    JSON_KINDS,
    ArtifactData,
    JsonArtifact,
    json_payload,
    metric_type,
)
from runstream.producer._values import (
    check_name,
    to_cell,
    to_list_cells,
    to_row_cells,
    to_scalar_cell,
    to_table_columns,
)

if TYPE_CHECKING:
    from runstream.producer._experiment import Experiment
    from runstream.producer._models import Model

log = structlog.get_logger(component="sdk")

#: How long a read waits for this process's events to reach Kafka.
READ_FLUSH_TIMEOUT_S = 60.0
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled"})
#: Every status a run can have, in the order a script run passes them.
STATUSES = (
    "NotStarted",
    "Starting",
    "Queued",
    "Preparing",
    "Running",
    "Finalizing",
    "Completed",
    "Failed",
    "Canceled",
    "NotResponding",
)
#: The log a script run's output goes to, as Azure ML names it.
DRIVER_LOG = "user_logs/std_log.txt"
SCRIPT_RUN_TYPE = "azureml.scriptrun"


class Run:
    """A run of an experiment: log metrics, tag it, attach files, read back.

    ``Run(experiment, run_id)`` attaches to an existing run (it raises
    :class:`NotFoundError` if there is none); new runs come from
    ``experiment.start_logging()``, ``run.child_run()`` and
    ``experiment.submit()``.
    """

    _status: str | None
    _run_type: str | None

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        outputs: str | os.PathLike[str] | None = None,
        **_ignored: Any,
    ) -> None:
        self._attach(experiment, run_id, outputs)
        record = self._read_run()
        if record["experiment"] != experiment.name:
            raise NotFoundError(
                f"Run(): run {run_id} belongs to experiment "
                f"{record['experiment']!r}, not {experiment.name!r}"
            )
        self._status = record["status"]
        if "RUNSTREAM_ATTEMPT" not in os.environ:
            self._stream.attempt = self._newest_attempt()

    def _newest_attempt(self) -> int:
        """Return the highest attempt any writer of this run logged under."""
        writers = self._workspace._query.get_writers(
            self._workspace.name, self.id
        )
        return max((int(w.get("attempt") or 1) for w in writers), default=1)

    def _resumed_attempt(self) -> int:
        try:
            writers = self._workspace._query.get_writers(
                self._workspace.name, self.id
            )
        except NotFoundError:
            return 1
        except ServerError:
            log.warning(
                "sdk.attempt_unknown",
                run_id=self.id,
                reason="the server did not answer; logging as attempt 1",
            )
            return 1
        if not writers:
            return 1
        return 1 + max(int(w.get("attempt") or 1) for w in writers)

    @property
    def attempt(self) -> int:
        """Which attempt of the run this handle logs under (1, 2, ...)."""
        return self._stream.attempt

    def _attach(
        self,
        experiment: Experiment,
        run_id: Any,
        outputs: str | os.PathLike[str] | None,
    ) -> None:
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            # Run ids name folders in the artifact store and paths in the
            # API, so they keep to a safe alphabet.
            raise InvalidArgumentError(
                "Run()",
                "run_id",
                "must be 1-256 letters, digits, '_', '-' or '.', not "
                "starting with '.'",
                run_id,
            )
        self.experiment = experiment
        self.id = run_id
        self._workspace = experiment.workspace
        self._stream = self._workspace._emitter().stream(
            self._workspace.name, run_id
        )
        self._outputs = Path(outputs).resolve() if outputs else None
        self._status = None
        self._run_type = None
        self._warned_after_end = False

    @classmethod
    def _attached(
        cls,
        experiment: Experiment,
        run_id: str,
        outputs: str | os.PathLike[str] | None = None,
        run_type: str | None = None,
    ) -> Run:
        """Return a handle on a run without reading it first."""
        run = cls.__new__(cls)
        run._attach(experiment, run_id, outputs)
        run._run_type = run_type
        return run

    @classmethod
    def _from_record(
        cls, experiment: Experiment, record: dict[str, Any]
    ) -> Run:
        """Return a handle (a ScriptRun for script runs) on a listed run."""
        kind: builtins.type[Run] = cls
        if record.get("runType") == SCRIPT_RUN_TYPE:
            from runstream.producer._script import ScriptRun

            kind = ScriptRun
        run = kind._attached(experiment, record["runId"])
        run._run_type = record.get("runType")
        run._status = record["status"]
        return run

    @classmethod
    def _start(
        cls,
        experiment: Experiment,
        *,
        run_id: str | None = None,
        outputs: str | bool | None = None,
        parent_run_id: str | None = None,
        **fields: Any,
    ) -> Run:
        """Create a run and send its RunStarted and first status.

        ``fields``: ``display_name``, ``description``, ``tags``,
        ``run_type`` (default interactive), ``definition`` and ``status``
        (default Running, which also starts its heartbeats).
        """
        if outputs is None or outputs is True or outputs == "":
            outputs = "outputs"
        folder = None if outputs is False else Path(str(outputs))
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

        run_type = fields.get("run_type") or "interactive"
        run = cls._attached(
            experiment, run_id or str(uuid.uuid4()), folder, run_type
        )
        if run_id and "RUNSTREAM_ATTEMPT" not in os.environ:
            # Starting a run id that already has writers resumes it: a new
            # attempt, whose values replace the earlier ones step by step.
            run._stream.attempt = run._resumed_attempt()
        _check_text(
            "start_logging()", "display_name", fields.get("display_name")
        )
        _check_text(
            "start_logging()", "description", fields.get("description")
        )
        if fields.get("tags") is not None:
            run._check_tags("start_logging()", fields["tags"])
        run._stream.add_lifecycle(
            "RunStarted",
            {
                "experiment": experiment.name,
                "parent_run_id": parent_run_id,
                "display_name": fields.get("display_name"),
                "run_type": run_type,
                "description": fields.get("description"),
                "submitted_by": _user(),
                "definition": fields.get("definition"),
            },
        )
        if fields.get("tags"):
            run.set_tags(fields["tags"])
        run._set_status(fields.get("status") or "Running")
        return run

    def __repr__(self) -> str:
        return (
            f"Run(Experiment: {self.experiment.name},\n"
            f"Id: {self.id},\n"
            f"Type: {self._run_type or 'interactive'},\n"
            f"Status: {self._status or 'unknown'})"
        )

    # -- attributes ------------------------------------------------------

    @property
    def type(self) -> str | None:
        """The run type: ``interactive`` or ``azureml.scriptrun``."""
        if self._run_type is None:
            self._run_type = str(self._read_run()["runType"])
        return self._run_type

    @property
    def status(self) -> str | None:
        """The status last read or set by this handle (no round trip)."""
        return self._status

    @property
    def display_name(self) -> str | None:
        """The run's display name; setting it renames the run."""
        name: str | None = self._read_run()["displayName"]
        return name

    @display_name.setter
    def display_name(self, value: str) -> None:
        _check_text("Run.display_name", "value", value, allow_none=False)
        self._stream.add_lifecycle(
            "RunDetailsSet", {"display_name": value, "description": None}
        )

    @property
    def description(self) -> str | None:
        """The run's description; setting it replaces it."""
        text: str | None = self._read_run()["description"]
        return text

    @description.setter
    def description(self, value: str) -> None:
        _check_text("Run.description", "value", value, allow_none=False)
        self._stream.add_lifecycle(
            "RunDetailsSet", {"display_name": None, "description": value}
        )

    @property
    def tags(self) -> dict[str, str | None]:
        """The run's tags, read now."""
        return self.get_tags()

    @property
    def properties(self) -> dict[str, str]:
        """The run's properties, read now."""
        return self.get_properties()

    @property
    def parent(self) -> Run | None:
        """The run this one is a child of, or None for a top-level run."""
        parent_id = self._read_run()["parentRunId"]
        if parent_id is None:
            return None
        return Run._from_record(
            self.experiment,
            self._workspace._query.get_run_details(
                self._workspace.name, parent_id
            ),
        )

    def get_portal_url(self) -> str:
        """Return the URL of this run's page on the runstream server."""
        server = self._workspace.endpoints.server_url.rstrip("/")
        workspace = quote(self._workspace.name, safe="")
        return f"{server}/runs/{quote(self.id, safe='')}?workspace={workspace}"

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

    def log_image(
        self,
        name: str,
        path: str | os.PathLike[str] | None = None,
        plot: Any = None,
        description: str = "",
    ) -> None:
        """Store an image file or a plot and log it as metric ``name``.

        Give exactly one of ``path`` (an image file) and ``plot``
        (``matplotlib.pyplot`` or a Figure, saved as
        ``<name>_<unix seconds>.png``). The metric reads as the image's
        ``aml://artifactId/...`` URI, as in Azure ML.
        """
        call = "Run.log_image()"
        check_name(call, "name", name)
        if (path is None) == (plot is None):
            raise InvalidArgumentError(
                call,
                "path",
                "or 'plot' must be given, not both and not neither",
                {"path": path, "plot": plot},
            )
        if path is not None:
            artifact, data, content_type = image_from_path(call, path)
        else:
            artifact, data, content_type = image_from_plot(call, name, plot)

        ref = self._put(call, artifact, io.BytesIO(data), content_type)
        uri = to_cell(call, "value", _files.artifact_uri(self.id, ref.name))
        self._note_if_ended(call)
        self._stream.add_points(name, "IMAGE", time.time_ns() // 1000, [uri])

    def _log_json(self, method: str, name: str, value: Any) -> None:
        call = f"Run.{method}()"
        check_name(call, "name", name)
        artifact = check_artifact_name(call, name)
        data = json_payload(call, value)
        ref = self._put(call, artifact, io.BytesIO(data), "application/json")
        uri = to_cell(call, "value", _files.artifact_uri(self.id, ref.name))
        self._note_if_ended(call)
        self._stream.add_points(
            name, JSON_KINDS[method], time.time_ns() // 1000, [uri]
        )

    def log_confusion_matrix(
        self, name: str, value: Any, description: str = ""
    ) -> None:
        """Store a confusion matrix (a dict, or a str of JSON) as metric
        ``name``.

        The JSON goes to the run file ``name`` (write-once: a second call
        with the name raises :class:`ConflictError`); the metric reads as
        that file's ``aml://`` URI, and ``get_metrics(populate=True)``
        gives an object whose ``convert_to_object()`` returns the dict.
        numpy arrays inside the dict are stored as lists.
        """
        self._log_json("log_confusion_matrix", name, value)

    def log_accuracy_table(
        self, name: str, value: Any, description: str = ""
    ) -> None:
        """Store an accuracy table as metric ``name``; see
        :meth:`log_confusion_matrix`."""
        self._log_json("log_accuracy_table", name, value)

    def log_residuals(
        self, name: str, value: Any, description: str = ""
    ) -> None:
        """Store regression residuals as metric ``name``; see
        :meth:`log_confusion_matrix`."""
        self._log_json("log_residuals", name, value)

    def log_predictions(
        self, name: str, value: Any, description: str = ""
    ) -> None:
        """Store binned predictions as metric ``name``; see
        :meth:`log_confusion_matrix`."""
        self._log_json("log_predictions", name, value)

    # -- tags and properties ----------------------------------------------

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag; a tag without a value reads back as ``None``."""
        self.set_tags({key: value})

    def _check_tags(self, call: str, tags: Any) -> dict[str, str | None]:
        if not isinstance(tags, Mapping):
            raise InvalidTypeError(call, "tags", "must be a dict", tags)
        return {
            check_name(call, "tags key", key): _tag_value(call, key, v)
            for key, v in tags.items()
        }

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags; tags not named keep their values."""
        checked = self._check_tags("Run.set_tags()", tags)
        if checked:
            self._stream.add_lifecycle("TagsSet", {"tags": checked})

    def get_tags(self) -> dict[str, str | None]:
        """Return the run's tags, including those set just now."""
        tags: dict[str, str | None] = self._read_run()["tags"]
        return tags

    def remove_tags(self, tags: Sequence[str]) -> None:
        """Delete the tags named in a list; keys the run lacks are skipped.

        A tag set again later comes back.
        """
        keys = tag_keys("Run.remove_tags()", tags)
        if keys:
            self._stream.add_lifecycle("TagsRemoved", {"keys": keys})

    def add_properties(self, properties: Mapping[str, Any] | None) -> None:
        """Add properties: write-once values, unlike tags.

        Values that are not strings are stored as ``str(value)``. Adding a
        key again with the value it has is a no-op.

        Raises:
            ConflictError: a key already has another value; nothing of the
                call is stored.
        """
        call = "Run.add_properties()"
        if properties is None:
            return
        if not isinstance(properties, Mapping):
            raise InvalidTypeError(
                call, "properties", "must be a dict", properties
            )
        checked = {
            check_name(call, "properties key", key): _property_value(
                call, key, v
            )
            for key, v in properties.items()
        }
        if not checked:
            return

        current = self.get_properties()
        clashes = {
            k: (current[k], v)
            for k, v in checked.items()
            if k in current and current[k] != v
        }
        if clashes:
            key, (old, new) = next(iter(clashes.items()))
            raise ConflictError(
                f"{call}: property {key!r} of run {self.id} is already "
                f"{old!r} (got {new!r}); properties are write-once, use a "
                "tag for a value that changes"
            )
        fresh = {k: v for k, v in checked.items() if k not in current}
        if fresh:
            self._stream.add_lifecycle(
                "PropertiesAdded", {"properties": fresh}
            )

    def get_properties(self) -> dict[str, str]:
        """Return the run's properties, including those added just now."""
        properties: dict[str, str] = self._read_run()["properties"]
        return properties

    # -- files -----------------------------------------------------------

    def _put(
        self,
        call: str,
        name: str,
        source: IO[bytes],
        content_type: str | None = None,
    ) -> ArtifactRef:
        ref = self._workspace._artifacts.put(
            self._workspace.name, self.id, name, source
        )
        if content_type is not None:
            ref = attrs.evolve(ref, content_type=content_type)
        self._stream.add_lifecycle("ArtifactAdded", ref.as_event_fields())
        return ref

    def upload_file(
        self,
        name: str,
        path_or_stream: str | os.PathLike[str] | IO[bytes],
        datastore_name: str | None = None,
    ) -> ArtifactRef:
        """Store a file as an artifact of the run under ``name``.

        Raises:
            ConflictError: the run already has an artifact of that name.
        """
        call = "Run.upload_file()"
        name = check_artifact_name(call, name)
        source = open_source(call, path_or_stream)
        try:
            return self._put(call, name, source)
        finally:
            if source is not path_or_stream:
                source.close()

    def upload_files(
        self,
        names: Sequence[str],
        paths: Sequence[str | os.PathLike[str]],
        return_artifacts: bool = False,
        timeout_seconds: float | None = None,
        datastore_name: str | None = None,
    ) -> Any:
        """Store several files; all names are checked before any upload.

        Returns the list of stored references, or ``(by_name, list)`` with
        ``return_artifacts=True``.

        Raises:
            ConflictError: a name is taken; nothing was uploaded.
        """
        call = "Run.upload_files()"
        pairs = _files.check_upload_batch(call, names, paths)
        _files.refuse_taken(
            call,
            self._workspace._artifacts,
            self._workspace.name,
            self.id,
            [name for name, _ in pairs],
        )
        refs = [self.upload_file(name, path) for name, path in pairs]
        if return_artifacts:
            return {ref.name: ref for ref in refs}, refs

        return refs

    def upload_folder(
        self,
        name: str,
        path: str | os.PathLike[str],
        datastore_name: str | None = None,
    ) -> list[ArtifactRef]:
        """Store every file under a folder as ``<name>/<relative path>``."""
        names, files = _files.folder_files("Run.upload_folder()", name, path)
        refs: list[ArtifactRef] = self.upload_files(names, files)
        return refs

    def get_file_names(self) -> list[str]:
        """Return the names of the run's artifacts."""
        files: list[str] = self._read_run()["files"]
        return files

    def download_file(
        self,
        name: str,
        output_file_path: str | os.PathLike[str] | None = None,
        _validate_checksum: bool = False,
    ) -> None:
        """Write one of the run's files to disk.

        Default destination: the file's base name in the current folder;
        an existing folder as destination receives it under that name.

        Raises:
            NotFoundError: the run has no file of that name.
        """
        call = "Run.download_file()"
        name = check_artifact_name(call, name)
        files = self.get_file_names()
        if name not in files:
            raise NotFoundError(
                f"{call}: run {self.id} has no file {name!r}; it has "
                f"{files[:20]}"
            )
        target = _files.download_target(name, output_file_path)
        _files.copy_artifact(
            self._workspace._artifacts,
            self._workspace.name,
            self.id,
            name,
            target,
        )

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        output_paths: Sequence[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: float | None = None,
    ) -> list[Path]:
        """Write the run's files under ``prefix`` (all, by default) to disk.

        Each goes to its artifact path under ``output_directory`` (default:
        the current folder), or to the matching entry of ``output_paths``.
        Returns the paths written.
        """
        call = "Run.download_files()"
        pairs = _files.select_downloads(
            call, self.get_file_names(), prefix, append_prefix
        )
        base = Path(output_directory) if output_directory else Path.cwd()
        targets = [base / local for _, local in pairs]
        if output_paths is not None:
            if len(output_paths) != len(pairs) or len(
                set(output_paths)
            ) != len(output_paths):
                raise InvalidArgumentError(
                    call,
                    "output_paths",
                    f"must hold {len(pairs)} distinct paths, one per file",
                    output_paths,
                )
            targets = [Path(p) for p in output_paths]

        for (name, _), target in zip(pairs, targets, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            _files.copy_artifact(
                self._workspace._artifacts,
                self._workspace.name,
                self.id,
                name,
                target,
            )

        return targets

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
        if status == "Running":
            heartbeats().add(self._stream)
        elif status in TERMINAL_STATUSES:
            heartbeats().remove(self._stream)

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

    def fail(
        self,
        error_details: str | BaseException | None = None,
        error_code: str | None = None,
    ) -> None:
        """Capture outputs and mark the run Failed with the error given.

        The error reads as ``{"code": error_code or "UserError",
        "message": ...}`` in ``get_details()["error"]["error"]``.
        """
        message = error_message("Run.fail()", error_details)
        self._finish(
            "Failed",
            error_code=error_code or "UserError",
            error_message=message,
        )

    def cancel(self) -> None:
        """Mark the run Canceled."""
        self._finish("Canceled")

    def get_status(self) -> str:
        """Return the run's status as the store has it."""
        if self._status is not None and self._status in TERMINAL_STATUSES:
            return self._status
        status: str = self._read_run()["status"]
        self._status = status
        return status

    def get_detailed_status(self) -> dict[str, Any]:
        """Return ``{"status": ..., "details": None}``."""
        return {"status": self.get_status(), "details": None}

    def get_details(self) -> dict[str, Any]:
        """Return the run's record in Azure ML's ``get_details`` keys.

        ``runId``, ``status``, ``startTimeUtc``, ``endTimeUtc`` (once it
        ended), ``properties``, ``runDefinition``, ``logFiles``,
        ``submittedBy``, ``error`` (when failed), plus runstream's
        ``experiment``, ``displayName``, ``description``, ``tags`` and
        ``files``.
        """
        record = self._read_run()
        server = self._workspace.endpoints.server_url.rstrip("/")
        workspace = quote(self._workspace.name, safe="")
        record["logFiles"] = {
            name: f"{server}/api/v1/workspaces/{workspace}/{path}"
            for name, path in record["logFiles"].items()
        }
        record.pop("complete", None)
        return record

    def get_details_with_logs(self) -> dict[str, Any]:
        """Return ``get_details()`` with each log's text instead of its URL."""
        record = self.get_details()
        record["logFiles"] = {
            name: self._workspace._query.get_log(
                self._workspace.name, self.id, name
            )["text"]
            for name in record["logFiles"]
        }
        return record

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
    ) -> dict[str, Any]:
        """Wait until the run ends; return its details.

        ``show_output`` prints the run's driver log as it is written, then
        an execution summary.

        Raises:
            RunFailedError: the run ended Failed (with ``raise_on_error``).
        """
        from runstream.producer._waiting import wait_for_run

        return wait_for_run(self, show_output, raise_on_error)

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

    def get_delivery(self) -> list[dict[str, Any]]:
        """Return, per writer of this run, what it logged and what arrived.

        A writer is one run handle in one process. For this process's
        writers the entry has ``accepted_calls`` (log and lifecycle calls
        taken), ``events_built`` and ``events_sent`` (acknowledged by
        Kafka); for every writer the store knows, ``events_stored``.
        ``gap`` is ``events_sent - events_stored``: events on their way,
        or lost. It neither flushes nor waits.
        """
        stored = {
            w["writer_id"]: w
            for w in self._workspace._query.get_writers(
                self._workspace.name, self.id
            )
        }
        local = self._stream.emitter.delivery(self.id)
        report = []
        for writer_id in {**stored, **local}:
            entry: dict[str, Any] = {"writer_id": writer_id}
            entry.update(stored.get(writer_id, {}))
            entry.update(local.get(writer_id, {}))
            entry.setdefault("events_stored", 0)
            if "events_sent" in entry:
                entry["gap"] = entry["events_sent"] - entry["events_stored"]
            report.append(entry)

        return report

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Complete the run, or fail it with the exception (which goes on).

        As in Azure ML, ``sys.exit(0)`` inside the block is swallowed; the
        run completes.
        """
        clean_exit = isinstance(exc, SystemExit) and exc.code in (None, 0)
        if exc is None or clean_exit:
            self.complete()
        else:
            self.fail(exc)

        return clean_exit

    @classmethod
    def get_context(cls, allow_offline: bool = True, **_ignored: Any) -> Any:
        """Return the run this process was submitted for.

        Inside a script that ``experiment.submit()`` started: that run
        (the same object on every call). Elsewhere: an offline run that
        prints what it is given and writes it to ``logs/<id>.jsonl``, or,
        with ``allow_offline=False``, :class:`NotFoundError`.
        """
        from runstream.producer._context import get_context

        return get_context(allow_offline)

    # -- children ---------------------------------------------------------

    def child_run(
        self,
        name: str | None = None,
        run_id: str | None = None,
        outputs: str | None = None,
    ) -> Run:
        """Start a child run (status Running) under this one.

        ``name`` becomes its display name; it tracks an outputs folder only
        if ``outputs`` is given.
        """
        return Run._start(
            self.experiment,
            run_id=run_id,
            outputs=outputs if outputs else False,
            parent_run_id=self.id,
            display_name=name,
        )

    def create_children(
        self,
        count: int | None = None,
        tag_key: str | None = None,
        tag_values: Sequence[Any] | None = None,
    ) -> list[Run]:
        """Start several children (status Running) at once; return them.

        ``count=n`` makes n children tagged ``azureml.batch_child_number``
        0 to n-1; ``tag_key`` with ``tag_values`` makes one child per
        value, tagged ``{tag_key: value}``. At most 100 per call. Every
        argument is checked before the first child is made.
        """
        call = "Run.create_children()"
        tag_sets = [
            self._check_tags(call, tags)
            for tags in child_tags(call, count, tag_key, tag_values)
        ]
        return [
            Run._start(
                self.experiment,
                outputs=False,
                parent_run_id=self.id,
                tags=tags,
            )
            for tags in tag_sets
        ]

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: str | None = None,  # noqa: A002 (Azure ML's parameter name)
        status: str | None = None,
    ) -> Iterator[Run]:
        """Yield this run's children, newest first (the subtree if recursive).

        ``tags`` / ``properties``: a key, a list of keys, or a dict of
        values the runs must have.
        """
        self._flush_for_read("Run.get_children()")
        records = self._workspace._query.list_children(
            self._workspace.name,
            self.id,
            {
                "recursive": recursive,
                "tags": tags,
                "properties": properties,
                "run_type": type,
                "status": status,
            },
        )
        for record in records:
            yield Run._from_record(self.experiment, record)

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
        return emitter.watermarks(self.id)

    def _read_run(self) -> dict[str, Any]:
        wait_for = self._flush_for_read("Run read")
        return self._workspace._query.get_run_details(
            self._workspace.name, self.id, wait_for
        )

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
        attempt: int | None = None,
    ) -> dict[str, Any]:
        """Return the run's metrics in Azure ML's shapes.

        A metric logged once reads as its bare value, several times as a
        list in step order (logging order, unless steps were given); a row
        or table metric reads as ``{column: value}`` with one row,
        ``{column: [values]}`` with more; an image as its URI (its bytes,
        as :class:`ArtifactData`, with ``populate=True``).

        ``recursive=True`` returns ``{run_id: metrics}`` for this run and
        every descendant that has metrics (of ``run_type``, if given).

        A run resumed by a later job (``start_logging(run_id=...)`` on an
        existing run) has several attempts: each step shows the newest
        attempt's values, and ``attempt=N`` reads attempt N alone.
        """
        if attempt is not None and (
            isinstance(attempt, bool)
            or not isinstance(attempt, int)
            or attempt < 1
        ):
            raise InvalidArgumentError(
                "Run.get_metrics()",
                "attempt",
                "must be a whole number >= 1",
                attempt,
            )
        if recursive:
            runs = [self, *self.get_children(recursive=True, type=run_type)]
            found = {
                run.id: run.get_metrics(name, populate=populate)
                for run in runs
            }
            return {run_id: m for run_id, m in found.items() if m}

        wait_for = self._flush_for_read("Run.get_metrics()")
        metrics = self._workspace._query.get_metrics(
            self._workspace.name, self.id, name, wait_for, attempt
        )
        if populate:
            metrics = self._populated(metrics)
        return metrics

    def _populated(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Replace each file-backed metric's URI by the file it names."""
        prefix = f"{_files.ARTIFACT_URI_PREFIX}{self.id}/"
        files = {
            key: value[len(prefix) :]
            for key, value in metrics.items()
            if isinstance(value, str) and value.startswith(prefix)
        }
        if not files:
            return metrics

        kinds = self._workspace._query.get_metric_kinds(
            self._workspace.name, self.id
        )
        populated = dict(metrics)
        for key, name in files.items():
            kind = kinds.get(key, "image")
            if kind not in (
                "image",
                *(k.lower() for k in JSON_KINDS.values()),
            ):
                continue
            with self._workspace._artifacts.open(
                self._workspace.name, self.id, name
            ) as source:
                data = source.read()
            artifact = ArtifactData if kind == "image" else JsonArtifact
            populated[key] = artifact(
                name, data, metric_type(kind), metrics[key]
            )

        return populated

    def get_snapshot_id(self) -> str | None:
        """Return the run's snapshot id (``ContentSnapshotId``), if any."""
        return self.get_properties().get("ContentSnapshotId")

    def take_snapshot(
        self, file_or_folder_path: str | os.PathLike[str]
    ) -> str:
        """Store a zip of a folder (or one file) as the run's snapshot.

        The folder's ``.runstreamignore`` (else ``.amlignore``, else
        ``.gitignore``) applies, as for ``experiment.submit()``. Returns
        the snapshot id that ``restore_snapshot`` takes.

        Raises:
            ConflictError: the run already has a snapshot (a run has one).
        """
        call = "Run.take_snapshot()"
        argument = "file_or_folder_path"
        if not isinstance(file_or_folder_path, (str, os.PathLike)):
            raise InvalidTypeError(
                call, argument, "must be a path", file_or_folder_path
            )
        source = Path(file_or_folder_path)
        if not source.exists():
            raise InvalidArgumentError(
                call,
                argument,
                "must name an existing file or folder",
                str(source),
            )
        taken = self.get_snapshot_id()
        if taken is not None:
            raise ConflictError(
                f"{call}: run {self.id} already has snapshot {taken!r}; a "
                "run keeps one snapshot"
            )

        if source.is_dir():
            folder, files = (
                source,
                _snapshot.snapshot_files(call, source, argument),
            )
        else:
            folder, files = source.parent, [source]
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "source.zip"
            _snapshot.write_snapshot(folder, files, archive)
            self.upload_file(_snapshot.SNAPSHOT_ARTIFACT, archive)
        self.add_properties({"ContentSnapshotId": _snapshot.SNAPSHOT_ARTIFACT})

        return _snapshot.SNAPSHOT_ARTIFACT

    def restore_snapshot(
        self,
        snapshot_id: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> str:
        """Write the run's snapshot (a zip) to ``path``; return its path.

        ``path``: a folder (default: the current one; the zip is named
        ``<run id>.zip``) or a file name ending in ``.zip``.
        ``snapshot_id``, if given, must be this run's.
        """
        call = "Run.restore_snapshot()"
        snapshot = self.get_snapshot_id()
        if snapshot is None:
            raise NotFoundError(
                f"{call}: run {self.id} has no snapshot; runs from "
                "experiment.submit() have one, others get one from "
                "take_snapshot()"
            )
        if snapshot_id is not None and snapshot_id != snapshot:
            raise InvalidArgumentError(
                call,
                "snapshot_id",
                f"must be this run's snapshot id {snapshot!r} or None; "
                "runstream keeps snapshots per run",
                snapshot_id,
            )
        target = Path(path) if path else Path.cwd()
        if target.is_dir() or not target.suffix:
            target = target / f"{self.id}.zip"
        self.download_file(snapshot, target)
        return str(target)

    # -- models ------------------------------------------------------------

    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        **_ignored: Any,
    ) -> Model:
        """Register run files as the next version of ``model_name``.

        ``model_path`` names a file or folder of the run (default:
        ``model_name``), e.g. ``outputs/model.pkl``. Versions count 1, 2,
        3... per workspace and name. The model stays the run's files; see
        :class:`runstream.Model` for how this differs from Azure ML.

        Raises:
            NotFoundError: the run has no file or folder ``model_path``.
        """
        from runstream.producer._models import register

        return register(
            self, model_name, model_path, tags, properties, description
        )


def error_message(call: str, error_details: Any) -> str | None:
    """Return the message a failed run records for ``error_details``."""
    if error_details is not None and not isinstance(
        error_details, (str, BaseException)
    ):
        raise InvalidTypeError(
            call,
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

    return message


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No user name in this environment (a container without passwd).
        return None


def _check_text(
    call: str, argument: str, value: Any, *, allow_none: bool = True
) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise InvalidTypeError(call, argument, "must be a str", value)
    if len(value) > MAX_TAG_VALUE_CHARS:
        raise InvalidArgumentError(
            call,
            argument,
            f"must be at most {MAX_TAG_VALUE_CHARS} characters",
            value,
        )


def _property_value(call: str, key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    _check_text(call, f"properties[{key!r}]", text)
    return text


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


_RUN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,255}")


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
