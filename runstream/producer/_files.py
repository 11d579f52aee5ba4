"""Checks and paths of the run file calls: upload several, download.

Everything here runs before a byte moves, so a bad call uploads or writes
nothing.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runstream.errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
)
from runstream.producer._artifacts import ArtifactStore, check_artifact_name

#: How Azure ML names a file that a metric points at; runstream keeps the
#: form so code that parses it works unchanged.
ARTIFACT_URI_PREFIX = "aml://artifactId/ExperimentRun/dcid."


def artifact_uri(run_id: str, name: str) -> str:
    """Return the URI a file-backed metric (an image) reads as."""
    return f"{ARTIFACT_URI_PREFIX}{run_id}/{name}"


def check_upload_batch(
    call: str, names: Any, paths: Any
) -> list[tuple[str, Any]]:
    """Return (name, path) pairs of an ``upload_files`` call, checked."""
    for argument, value in (("names", names), ("paths", paths)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise InvalidTypeError(call, argument, "must be a list", value)
    if len(names) != len(paths):
        raise InvalidTypeError(
            call,
            "paths",
            f"must have one path per name ({len(names)} names)",
            f"{len(paths)} paths",
        )

    checked = [check_artifact_name(call, name) for name in names]
    seen: set[str] = set()
    for name in checked:
        if name in seen:
            raise InvalidArgumentError(
                call, "names", "must not name a file twice", name
            )
        seen.add(name)
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidTypeError(call, "paths", "must hold file paths", path)
        if not Path(path).is_file():
            raise InvalidArgumentError(
                call, "paths", "must name existing files", str(path)
            )

    return list(zip(checked, paths, strict=True))


def refuse_taken(
    call: str,
    store: ArtifactStore,
    workspace: str,
    run_id: str,
    names: Sequence[str],
) -> None:
    """Raise ConflictError if any name already holds a file of the run."""
    taken = [n for n in names if store.exists(workspace, run_id, n)]
    if taken:
        raise ConflictError(
            f"{call}: run {run_id} already has {taken[:5]}; artifacts are "
            "write-once, upload under other names (nothing was uploaded)"
        )


def folder_files(
    call: str, name: str, path: Any
) -> tuple[list[str], list[Path]]:
    """Return artifact names and paths of every file under a folder.

    A file ``<path>/a/b.txt`` becomes ``<name>/a/b.txt``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(call, "path", "must be a folder path", path)
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidArgumentError(
            call, "path", "must name an existing folder", str(path)
        )

    prefix = check_artifact_name(call, name)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    names = [f"{prefix}/{p.relative_to(folder).as_posix()}" for p in files]
    return names, files


def download_target(name: str, output_file_path: Any) -> Path:
    """Return where ``download_file`` writes ``name``, parents created.

    Default: the name's base name in the current folder; into an existing
    folder: that folder, under the base name.
    """
    base = posixpath.basename(name)
    target = Path(output_file_path) if output_file_path else Path(base)
    if target.is_dir():
        target = target / base
    target.parent.mkdir(parents=True, exist_ok=True)

    return target


def copy_artifact(
    store: ArtifactStore,
    workspace: str,
    run_id: str,
    name: str,
    target: Path,
) -> None:
    """Copy one stored file to ``target``."""
    try:
        with (
            store.open(workspace, run_id, name) as src,
            target.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"run {run_id} lists {name!r} but the artifact store at "
            f"{store.url} does not hold it; check RUNSTREAM_ARTIFACTS_URL"
        ) from exc


def select_downloads(
    call: str,
    files: list[str],
    prefix: str | None,
    append_prefix: bool,
) -> list[tuple[str, str]]:
    """Return (artifact name, local relative path) pairs to download."""
    folder = ""
    if prefix is not None:
        folder = prefix.replace("\\", "/").strip("/")
    chosen = [
        f
        for f in files
        if not folder or f == folder or f.startswith(folder + "/")
    ]

    pairs = []
    for name in chosen:
        # A name from the store is checked again before it becomes a path.
        local = check_artifact_name(call, name)
        if folder and not append_prefix and local.startswith(folder + "/"):
            local = local[len(folder) + 1 :]
        pairs.append((name, local))

    return pairs
