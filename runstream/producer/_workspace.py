"""``Workspace``: where a user's runs go and where they are read from."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from runstream._config import Endpoints, read_json, resolve_endpoints
from runstream.errors import InvalidArgumentError, NotFoundError
from runstream.producer._artifacts import ArtifactStore
from runstream.producer._emitter import Emitter, EmitterSettings, get_emitter
from runstream.query.client import QueryClient

#: Files ``Workspace.from_config`` looks for in each folder, nearest folder
#: first, and in this order within a folder.
CONFIG_FILE_NAMES = ("runstream.json", ".runstream/config.json")


class Workspace:
    """A namespace of experiments, and the endpoints that serve it.

    ``Workspace()`` with no arguments is the local default: settings come
    from ``RUNSTREAM_*`` environment variables, the user's config file, or
    what ``runstream up`` started, in that order.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        kafka_bootstrap: str | None = None,
        server_url: str | None = None,
        artifacts_url: str | None = None,
        topic: str | None = None,
    ) -> None:
        self.endpoints: Endpoints = resolve_endpoints(
            workspace=name,
            kafka_bootstrap=kafka_bootstrap,
            server_url=server_url,
            artifacts_url=artifacts_url,
            topic=topic,
        )

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> Workspace:
        """Return the workspace a config file describes.

        ``path`` may name the file itself; otherwise the search starts in
        ``path`` (default: the current folder) and walks up to the root,
        trying each of :data:`CONFIG_FILE_NAMES` in each folder.

        Raises:
            NotFoundError: no config file was found.
        """
        found = _find_config(Path(path) if path is not None else Path.cwd())
        data = read_json(found)
        known = {
            "workspace",
            "kafka_bootstrap",
            "server_url",
            "artifacts_url",
            "topic",
        }
        unknown = set(data) - known
        if unknown:
            raise InvalidArgumentError(
                "Workspace.from_config()",
                "path",
                f"must name a file whose keys are among {sorted(known)}; "
                f"{found} has {sorted(unknown)}",
                str(found),
            )

        return cls(
            data.get("workspace"),
            kafka_bootstrap=data.get("kafka_bootstrap"),
            server_url=data.get("server_url"),
            artifacts_url=data.get("artifacts_url"),
            topic=data.get("topic"),
        )

    @property
    def name(self) -> str:
        return self.endpoints.workspace

    @cached_property
    def _query(self) -> QueryClient:
        return QueryClient(self.endpoints.server_url)

    @cached_property
    def _artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.endpoints.artifacts_url)

    def _emitter(self) -> Emitter:
        return get_emitter(
            EmitterSettings(
                bootstrap=self.endpoints.kafka_bootstrap,
                topic=self.endpoints.topic,
            )
        )

    def close(self) -> None:
        """Close the HTTP connections of reads (the emitter closes at exit)."""
        if "_query" in self.__dict__:
            self._query.close()
            del self.__dict__["_query"]

    def __repr__(self) -> str:
        return (
            f"Workspace(name={self.name!r}, "
            f"server_url={self.endpoints.server_url!r})"
        )

    def write_config(self, path: str | Path) -> Path:
        """Write this workspace's settings where ``from_config`` finds them."""
        target = Path(path)
        if target.is_dir():
            target = target / "runstream.json"
        fields = {
            "workspace": self.name,
            "kafka_bootstrap": self.endpoints.kafka_bootstrap,
            "server_url": self.endpoints.server_url,
            "artifacts_url": self.endpoints.artifacts_url,
            "topic": self.endpoints.topic,
        }
        target.write_text(
            json.dumps(fields, indent=2) + "\n", encoding="utf-8"
        )
        return target


def _find_config(start: Path) -> Path:
    if start.is_file():
        return start
    if not start.exists():
        raise NotFoundError(
            f"Workspace.from_config(): {start} does not exist; pass a "
            "config file or a folder to search from"
        )

    start = start.resolve()
    for folder in (start, *start.parents):
        for name in CONFIG_FILE_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate

    raise NotFoundError(
        f"Workspace.from_config(): no {' or '.join(CONFIG_FILE_NAMES)} in "
        f"{start} or any parent; write one with Workspace().write_config() "
        "or pass its path"
    )
