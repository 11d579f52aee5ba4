"""Where runstream's pieces are: settings from arguments, env and files.

Precedence, first found wins, per setting:

1. arguments passed in code (``Workspace(server_url=...)``);
2. environment variables ``RUNSTREAM_*``;
3. the config file named by ``RUNSTREAM_CONFIG``, else the user's
   ``$XDG_CONFIG_HOME/runstream/config.json``;
4. the endpoints file that ``runstream up`` writes into the state directory.

So a script works with no configuration after ``runstream up``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from runstream._wire.topics import DEFAULT_EVENTS_TOPIC
from runstream.errors import InvalidArgumentError, RunstreamError

ENV_PREFIX = "RUNSTREAM_"
ENDPOINTS_FILE = "endpoints.json"
#: URL schemes that name a ClickHouse server rather than the embedded store.
SERVER_SCHEMES = frozenset({"clickhouse", "clickhouses", "http", "https"})
_FIELDS = (
    "workspace",
    "kafka_bootstrap",
    "server_url",
    "artifacts_url",
    "topic",
)


def state_dir() -> Path:
    """Return the directory of ``runstream up``'s broker, store and files."""
    explicit = os.environ.get("RUNSTREAM_HOME")
    if explicit:
        return Path(explicit).expanduser()

    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state"
    return Path(base) / "runstream"


def user_config_path() -> Path:
    """Return the path of the user's runstream config file."""
    explicit = os.environ.get("RUNSTREAM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()

    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "runstream" / "config.json"


@attrs.frozen
class Endpoints:
    """The addresses a workspace talks to."""

    workspace: str
    kafka_bootstrap: str
    server_url: str
    artifacts_url: str
    topic: str = DEFAULT_EVENTS_TOPIC


def read_json(path: Path) -> dict[str, Any]:
    """Read a config or endpoints file, naming it in any error."""
    try:
        with path.open(encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as exc:
        raise RunstreamError(
            f"cannot read runstream config {path}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise RunstreamError(
            f"runstream config {path} must hold a JSON object"
        )

    return data


def _layers(explicit: Mapping[str, str | None]) -> list[Mapping[str, Any]]:
    env = {
        field: os.environ.get(ENV_PREFIX + field.upper()) for field in _FIELDS
    }
    layers: list[Mapping[str, Any]] = [explicit, env]
    user_file = user_config_path()
    if user_file.is_file():
        layers.append(read_json(user_file))
    endpoints = state_dir() / ENDPOINTS_FILE
    if endpoints.is_file():
        layers.append(read_json(endpoints))

    return layers


def resolve_endpoints(**explicit: str | None) -> Endpoints:
    """Return the endpoints to use, following the precedence above."""
    unknown = set(explicit) - set(_FIELDS)
    if unknown:
        raise InvalidArgumentError(
            "resolve_endpoints()",
            sorted(unknown)[0],
            f"is not a setting; use one of {', '.join(_FIELDS)}",
        )

    layers = _layers(explicit)
    found: dict[str, str] = {}
    for field in _FIELDS:
        for layer in layers:
            value = layer.get(field)
            if value:
                found[field] = str(value)
                break

    found.setdefault("workspace", "default")
    found.setdefault("topic", DEFAULT_EVENTS_TOPIC)
    missing = [f for f in _FIELDS if f not in found]
    if missing:
        raise RunstreamError(
            f"no runstream {' or '.join(missing)} configured: run "
            "`runstream up` to start a local broker and server, or set "
            + ", ".join(ENV_PREFIX + m.upper() for m in missing)
        )

    return Endpoints(**found)
