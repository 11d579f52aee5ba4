"""The artifact store: where run files go instead of through Kafka.

A local directory by default, or any fsspec URL (``s3://bucket/prefix``)
for a shared deployment. Artifacts are write-once per run and name; the
event that announces one carries only its reference.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import posixpath
from typing import IO, Any

import attrs
import fsspec

from runstream.errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidTypeError,
)

_CHUNK_BYTES = 1 << 20


@attrs.frozen
class ArtifactRef:
    """What the ArtifactAdded event says about a stored file."""

    name: str
    uri: str
    size_bytes: int
    sha256: str
    content_type: str

    def as_event_fields(self) -> dict[str, Any]:
        return attrs.asdict(self)


def check_artifact_name(call: str, name: object) -> str:
    """Return the run-relative artifact name, or raise naming the rule."""
    if not isinstance(name, str):
        raise InvalidTypeError(call, "name", "must be a str", name)
    cleaned = name.replace("\\", "/")
    if not cleaned.strip("/ "):
        raise InvalidArgumentError(call, "name", "must not be empty", name)
    if any(ord(ch) < 32 for ch in cleaned):
        raise InvalidArgumentError(
            call, "name", "must not contain control characters", name
        )
    is_drive = (
        len(cleaned) >= 2
        and cleaned[0].isalpha()
        and cleaned[1] == ":"
        and (len(cleaned) == 2 or cleaned[2] == "/")
    )
    if cleaned.startswith("/") or is_drive:
        raise InvalidArgumentError(
            call, "name", "must be relative to the run, not absolute", name
        )
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgumentError(
            call,
            "name",
            "must not contain '..' (it would leave the run)",
            name,
        )

    return "/".join(parts)


class ArtifactStore:
    """Write-once file storage addressed by workspace, run and name."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._fs, self._root = fsspec.core.url_to_fs(self.url)

    def _path(self, workspace: str, run_id: str, name: str) -> str:
        return posixpath.join(self._root, workspace, run_id, name)

    def _uri(self, path: str) -> str:
        protocol = self._fs.protocol
        scheme = protocol[0] if isinstance(protocol, tuple) else protocol
        return f"{scheme}://{path}" if scheme != "file" else f"file://{path}"

    def exists(self, workspace: str, run_id: str, name: str) -> bool:
        return bool(self._fs.exists(self._path(workspace, run_id, name)))

    def sha256_of(self, workspace: str, run_id: str, name: str) -> str:
        digest = hashlib.sha256()
        with self._fs.open(self._path(workspace, run_id, name), "rb") as src:
            while chunk := src.read(_CHUNK_BYTES):
                digest.update(chunk)

        return digest.hexdigest()

    def put(
        self, workspace: str, run_id: str, name: str, source: IO[bytes]
    ) -> ArtifactRef:
        """Copy ``source`` under ``name``; raise ConflictError if taken."""
        path = self._path(workspace, run_id, name)
        if self._fs.exists(path):
            raise ConflictError(
                f"artifact {name!r} of run {run_id} already exists; "
                "artifacts are write-once, upload under another name"
            )

        self._fs.makedirs(posixpath.dirname(path), exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with self._fs.open(path, "wb") as dst:
            while chunk := source.read(_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)

        content_type = (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        return ArtifactRef(
            name, self._uri(path), size, digest.hexdigest(), content_type
        )

    def open(self, workspace: str, run_id: str, name: str) -> IO[bytes]:
        """Open a stored artifact for reading."""
        file: IO[bytes] = self._fs.open(
            self._path(workspace, run_id, name), "rb"
        )
        return file


def open_source(call: str, path_or_stream: object) -> IO[bytes]:
    """Open what ``upload_file`` got: a path, or a binary stream."""
    if isinstance(path_or_stream, (str, bytes)) or hasattr(
        path_or_stream, "__fspath__"
    ):
        try:
            # The caller closes the file it gets.
            return open(path_or_stream, "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise InvalidArgumentError(
                call,
                "path_or_stream",
                "must name an existing file",
                path_or_stream,
            ) from exc
        except IsADirectoryError as exc:
            raise InvalidArgumentError(
                call,
                "path_or_stream",
                "must name a file, not a folder; upload a folder with "
                "upload_folder()",
                path_or_stream,
            ) from exc
    if isinstance(path_or_stream, io.IOBase) or hasattr(
        path_or_stream, "read"
    ):
        return path_or_stream  # type: ignore[return-value]

    raise InvalidTypeError(
        call,
        "path_or_stream",
        "must be a file path or a binary stream",
        path_or_stream,
    )
