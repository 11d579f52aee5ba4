"""A local model registry: ``Run.register_model`` and ``Model``.

A registered model is a name, a version, the run it came from and the run
files it is (one file or a folder of them). Registering sends a
``ModelRegistered`` event on the run's stream; the store numbers the
versions of each name 1, 2, 3... per workspace, in the order the consumer
stored the registrations, so two processes registering one name at once
get two different versions.

Unlike Azure ML, nothing is copied: the model's bytes stay the run's
artifacts, and ``Model.download`` reads them from the artifact store.
There is no deployment, no framework or dataset metadata and no model
deletion.
"""

from __future__ import annotations

import builtins
import os
import posixpath
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runstream.errors import (
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    ServerError,
)
from runstream.producer import _files
from runstream.producer._artifacts import check_artifact_name

if TYPE_CHECKING:
    from runstream.producer._run import Run
    from runstream.producer._workspace import Workspace

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def _check_model_name(call: str, name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidTypeError(call, "model_name", "must be a str", name)
    if not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            call,
            "model_name",
            "must be 1-255 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit",
            name,
        )
    return name


def _check_model_path(call: str, path: Any) -> str:
    try:
        return check_artifact_name(call, path)
    except InvalidArgumentError as exc:
        kind = type(exc)
        raise kind(call, "model_path", exc.rule, path) from None


def _text_map(call: str, argument: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidTypeError(call, argument, "must be a dict", value)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def register(
    run: Run,
    model_name: Any,
    model_path: Any,
    tags: Any,
    properties: Any,
    description: Any,
) -> Model:
    """Register run files as a new version of ``model_name``."""
    call = "Run.register_model()"
    name = _check_model_name(call, model_name)
    path = _check_model_path(
        call, model_path if model_path is not None else name
    )
    if description is not None and not isinstance(description, str):
        raise InvalidTypeError(
            call, "description", "must be a str or None", description
        )
    fields = {
        "tags": _text_map(call, "tags", tags),
        "properties": _text_map(call, "properties", properties),
    }
    files = run.get_file_names()
    chosen = [f for f in files if f == path or f.startswith(path + "/")]
    if not chosen:
        raise NotFoundError(
            f"{call}: 'model_path' must name a file or folder of run "
            f"{run.id} (got {path!r}); upload it first, or pick one of "
            f"{files[:20]}"
        )

    registration = str(uuid.uuid4())
    run._stream.add_lifecycle(
        "ModelRegistered",
        {
            "registration_id": registration,
            "name": name,
            "path": path,
            "files": chosen,
            "experiment": run.experiment.name,
            "description": description,
            **fields,
        },
    )
    # Reading the run waits until the store holds this process's events,
    # the registration included.
    run._read_run()
    for record in _records(run._workspace, name):
        if record["registrationId"] == registration:
            return Model._from_record(run._workspace, record)

    raise ServerError(
        f"{call}: model {name!r} was sent but the server at "
        f"{run._workspace.endpoints.server_url} did not store it in time "
        "(its consumer lags); Model.list() will show it once stored"
    )


def _records(workspace: Workspace, name: str | None) -> list[dict[str, Any]]:
    return workspace._query.list_models(workspace.name, name)


class Model:
    """A registered model: a version of a name, made of a run's files.

    ``Model(workspace, name)`` is the newest version of ``name``; pass
    ``version`` for another one, or ``id="<name>:<version>"``.

    Raises:
        NotFoundError: no such model or version.
    """

    workspace: Workspace
    name: str
    version: int
    run_id: str
    experiment_name: str
    path: str
    files: builtins.list[str]
    description: str | None
    tags: dict[str, str]
    properties: dict[str, str]
    created_time: str | None

    def __init__(
        self,
        workspace: Workspace,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 (Azure ML's parameter name)
        tags: Any = None,
        properties: Any = None,
        version: int | None = None,
        run_id: str | None = None,
        **_ignored: Any,
    ) -> None:
        call = "Model()"
        if id is not None:
            if not isinstance(id, str) or ":" not in id:
                raise InvalidArgumentError(
                    call, "id", "must read '<name>:<version>'", id
                )
            name, _, number = id.rpartition(":")
            if not number.isdigit():
                raise InvalidArgumentError(
                    call, "id", "must end in a version number", id
                )
            version = int(number)
        if name is None:
            raise InvalidArgumentError(call, "name", "or 'id' must be given")

        found = Model.list(
            workspace, _check_model_name(call, name), tags, properties, run_id
        )
        if version is not None:
            found = [m for m in found if m.version == version]
        if not found:
            wanted = name if version is None else f"{name}:{version}"
            raise NotFoundError(
                f"{call}: workspace {workspace.name!r} has no model "
                f"{wanted!r}; Model.list(workspace) shows what it has"
            )
        self.__dict__.update(found[0].__dict__)

    @classmethod
    def _from_record(
        cls, workspace: Workspace, record: Mapping[str, Any]
    ) -> Model:
        model = cls.__new__(cls)
        model.workspace = workspace
        model.name = record["name"]
        model.version = int(record["version"])
        model.run_id = record["runId"]
        model.experiment_name = record["experiment"]
        model.path = record["path"]
        model.files = list(record["files"])
        model.description = record["description"]
        model.tags = dict(record["tags"])
        model.properties = dict(record["properties"])
        model.created_time = record["createdTimeUtc"]
        return model

    @property
    def id(self) -> str:
        """``<name>:<version>``, as Azure ML spells a model id."""
        return f"{self.name}:{self.version}"

    @staticmethod
    def list(
        workspace: Workspace,
        name: str | None = None,
        tags: Any = None,
        properties: Any = None,
        run_id: str | None = None,
        latest: bool = False,
        **_ignored: Any,
    ) -> builtins.list[Model]:
        """Return the workspace's models, by name, newest version first.

        ``tags`` / ``properties``: a key, a list of keys, or a dict of
        values the models must have; ``latest``: only each name's newest.
        """
        models = [
            Model._from_record(workspace, r) for r in _records(workspace, name)
        ]
        models = [
            m
            for m in models
            if _has(m.tags, tags)
            and _has(m.properties, properties)
            and (run_id is None or m.run_id == run_id)
        ]
        if latest:
            newest: dict[str, Model] = {}
            for model in models:
                newest.setdefault(model.name, model)
            models = builtins.list(newest.values())

        return models

    def download(
        self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False
    ) -> str:
        """Write the model's files under ``target_dir``; return its path.

        A one-file model lands as ``<target_dir>/<file name>``; a folder
        model as ``<target_dir>/<folder name>/...``.
        """
        call = "Model.download()"
        base = posixpath.basename(self.path)
        root = Path(target_dir) / base
        if root.exists() and not exist_ok:
            raise InvalidArgumentError(
                call,
                "target_dir",
                f"must not hold {base!r} already; pass exist_ok=True to "
                "overwrite",
                str(target_dir),
            )

        store = self.workspace._artifacts
        for name in self.files:
            relative = name[len(self.path) :].lstrip("/")
            target = root / relative if relative else root
            target.parent.mkdir(parents=True, exist_ok=True)
            _files.copy_artifact(
                store, self.workspace.name, self.run_id, name, target
            )

        return str(root)

    def __repr__(self) -> str:
        return (
            f"Model(workspace={self.workspace.name!r}, name={self.name!r}, "
            f"id={self.id!r}, version={self.version}, tags={self.tags}, "
            f"properties={self.properties})"
        )


def _has(found: Mapping[str, str], wanted: Any) -> bool:
    """Whether ``found`` has a key, keys, or key-value pairs."""
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return wanted in found
    if isinstance(wanted, Mapping):
        return all(found.get(k) == str(v) for k, v in wanted.items())
    return all(key in found for key in wanted)
