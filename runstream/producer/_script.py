"""Script runs: ``ScriptRunConfig``, ``Environment`` and ``submit``.

``experiment.submit(config)`` checks the configuration, zips the source
folder (the snapshot), creates the run, unpacks the snapshot into
``<tempdir>/runstream_runs/<run_id>`` and starts a supervisor process
(:mod:`runstream.producer._supervisor`) that runs the script there, streams
its output to the run's driver log and sets the run's status. ``submit``
returns at once; ``run.wait_for_completion()`` follows the run.

runstream runs scripts on this machine only, with an interpreter that is
already set up: it builds no conda or Docker environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from runstream.errors import InvalidArgumentError, InvalidTypeError
from runstream.producer._run import (
    READ_FLUSH_TIMEOUT_S,
    SCRIPT_RUN_TYPE,
    Run,
)
from runstream.producer._snapshot import (
    SNAPSHOT_ARTIFACT,
    snapshot_files,
    write_snapshot,
)

if TYPE_CHECKING:
    from runstream.producer._experiment import Experiment

#: Azure ML's default bound on a run's duration: 30 days.
DEFAULT_MAX_RUN_DURATION_S = 2_592_000
CANCEL_FILE = "cancel"
#: Left in the control folder by a script that failed its own run, so the
#: supervisor need not wait for the store to tell it.
FAILED_FILE = "failed"


class PythonSection:
    """How a script's Python is found (``Environment.python``)."""

    __slots__ = (
        "user_managed_dependencies",
        "interpreter_path",
        "conda_dependencies",
    )

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        #: ``"python"`` means the interpreter that submits the run.
        self.interpreter_path = "python"
        self.conda_dependencies: Any = None


class DockerSection:
    """Docker settings (``Environment.docker``); runstream runs no Docker."""

    __slots__ = ("enabled", "base_image")

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = None


class Environment:
    """Where a submitted script runs: a named Python setup on this machine.

    runstream builds no environment: the script runs with
    ``python.interpreter_path`` (by default the interpreter that submits
    it) whatever ``user_managed_dependencies`` says.
    """

    __slots__ = ("name", "python", "docker", "environment_variables")

    def __init__(self, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise InvalidTypeError(
                "Environment()", "name", "must be a str or None", name
            )
        self.name = name
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Environment(Name: {self.name})"


class RunConfiguration:
    """What a script run executes, and where (``run_config``)."""

    __slots__ = (
        "script",
        "arguments",
        "target",
        "environment",
        "max_run_duration_seconds",
    )

    def __init__(self) -> None:
        self.script: str | None = None
        self.arguments: list[Any] = []
        self.target = "local"
        self.environment = Environment("default-environment")
        self.max_run_duration_seconds = DEFAULT_MAX_RUN_DURATION_S


class ScriptRunConfig:
    """A script in a source folder, its arguments and its environment."""

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        script: str | None = None,
        arguments: list[Any] | None = None,
        run_config: RunConfiguration | None = None,
        compute_target: str | None = None,
        environment: Environment | None = None,
        max_run_duration_seconds: int = DEFAULT_MAX_RUN_DURATION_S,
        **_ignored: Any,
    ) -> None:
        call = "ScriptRunConfig()"
        if arguments is not None and not isinstance(arguments, (list, tuple)):
            raise InvalidTypeError(
                call, "arguments", "must be a list", arguments
            )
        if environment is not None and not isinstance(
            environment, Environment
        ):
            raise InvalidTypeError(
                call, "environment", "must be an Environment", environment
            )
        self.source_directory = os.fspath(source_directory)
        self.run_config = run_config or RunConfiguration()
        if run_config is None:
            self.run_config.target = compute_target or "local"
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
            if environment is not None:
                self.run_config.environment = environment
        self.script = script if script is not None else self.run_config.script
        self.arguments = list(
            arguments if arguments is not None else self.run_config.arguments
        )
        self.run_config.script = self.script
        self.run_config.arguments = self.arguments

    def __repr__(self) -> str:
        return (
            f"ScriptRunConfig(source_directory={self.source_directory!r}, "
            f"script={self.script!r})"
        )


def runs_root() -> Path:
    """Return the folder where submitted scripts run."""
    return Path(tempfile.gettempdir()) / "runstream_runs"


class ScriptRun(Run):
    """A run made by ``experiment.submit()``; it can be canceled."""

    def cancel(self) -> None:
        """Stop the script (its supervisor kills it) and mark it Canceled."""
        control = runs_root() / f"{self.id}.control"
        if control.is_dir():
            (control / CANCEL_FILE).touch()
        self._set_status("Canceled")
        self.flush(READ_FLUSH_TIMEOUT_S)


def _interpreter(call: str, environment: Environment) -> str:
    path = environment.python.interpreter_path
    if not path or path == "python":
        return sys.executable
    found = shutil.which(path)
    if found is None:
        raise InvalidArgumentError(
            call,
            "environment.python.interpreter_path",
            "must name an interpreter on this machine",
            path,
        )
    return found


def _check(config: Any) -> tuple[Path, str, str]:
    """Return source folder, script and interpreter of a submission."""
    call = "Experiment.submit()"
    if not isinstance(config, ScriptRunConfig):
        raise InvalidTypeError(
            call, "config", "must be a ScriptRunConfig", config
        )
    source = Path(config.source_directory)
    if not source.is_dir():
        raise InvalidArgumentError(
            call, "source_directory", "must be an existing folder", str(source)
        )
    script = config.script
    if not isinstance(script, str) or not (source / script).is_file():
        raise InvalidArgumentError(
            call,
            "script",
            f"must name a file inside {source}",
            script,
        )
    target = config.run_config.target
    if target not in (None, "local"):
        raise InvalidArgumentError(
            call,
            "compute_target",
            "must be 'local': runstream runs scripts on this machine",
            target,
        )

    return source, script, _interpreter(call, config.run_config.environment)


def _definition(config: ScriptRunConfig, interpreter: str) -> str:
    environment = config.run_config.environment
    return json.dumps(
        {
            "target": "local",
            "script": config.script,
            "arguments": [str(a) for a in config.arguments],
            "environment": {
                "name": environment.name,
                "userManagedDependencies": (
                    environment.python.user_managed_dependencies
                ),
                "interpreterPath": interpreter,
            },
            "maxRunDurationSeconds": (
                config.run_config.max_run_duration_seconds
            ),
        }
    )


def submit(
    experiment: Experiment,
    config: ScriptRunConfig,
    tags: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> ScriptRun:
    """Start ``config``'s script as a new run; see the module docstring."""
    source, script, interpreter = _check(config)
    files = snapshot_files("Experiment.submit()", source)
    if not config.run_config.environment.python.user_managed_dependencies:
        warnings.warn(
            "Experiment.submit(): runstream builds no environment; the "
            f"script runs with {interpreter}",
            UserWarning,
            stacklevel=3,
        )

    run_id = (
        run_id
        or f"{experiment.name}_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    )
    root = runs_root()
    control = root / f"{run_id}.control"
    control.mkdir(parents=True)
    snapshot = control / "source.zip"
    write_snapshot(source, files, snapshot)

    run = cast(
        ScriptRun,
        ScriptRun._start(
            experiment,
            run_id=run_id,
            outputs=False,
            run_type=SCRIPT_RUN_TYPE,
            definition=_definition(config, interpreter),
            tags=tags,
            status="NotStarted",
        ),
    )
    run.upload_file(SNAPSHOT_ARTIFACT, snapshot)
    run.add_properties({"ContentSnapshotId": SNAPSHOT_ARTIFACT})
    workdir = root / run_id
    with zipfile.ZipFile(snapshot) as archive:
        archive.extractall(workdir)
    _launch(experiment, config, run, interpreter, script, workdir, control)

    return run


def _launch(
    experiment: Experiment,
    config: ScriptRunConfig,
    run: ScriptRun,
    interpreter: str,
    script: str,
    workdir: Path,
    control: Path,
) -> None:
    endpoints = experiment.workspace.endpoints
    spec = {
        "workspace": endpoints.workspace,
        "kafka_bootstrap": endpoints.kafka_bootstrap,
        "server_url": endpoints.server_url,
        "artifacts_url": endpoints.artifacts_url,
        "topic": endpoints.topic,
        "experiment": experiment.name,
        "run_id": run.id,
        "command": [interpreter, script, *map(str, config.arguments)],
        "workdir": str(workdir),
        "environment_variables": dict(
            config.run_config.environment.environment_variables
        ),
        "max_run_duration_s": config.run_config.max_run_duration_seconds,
    }
    spec_path = control / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    run._set_status("Starting")
    run.flush(READ_FLUSH_TIMEOUT_S)

    with (control / "supervisor.log").open("ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runstream.producer._supervisor",
                str(spec_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
    # Reaps the supervisor when it exits; the script goes on if this
    # process ends first.
    threading.Thread(
        target=process.wait, name="runstream-supervisor-reaper", daemon=True
    ).start()
