"""Tests for where settings come from and how ``from_config`` finds them."""

from __future__ import annotations

import json
import os

import pytest

from runstream import Workspace
from runstream._config import ENDPOINTS_FILE, resolve_endpoints
from runstream._wire.topics import DEFAULT_EVENTS_TOPIC
from runstream.errors import (
    InvalidArgumentError,
    NotFoundError,
    RunstreamError,
)

FULL = {
    "workspace": "ws-file",
    "kafka_bootstrap": "127.0.0.1:9092",
    "server_url": "http://127.0.0.1:8765",
    "artifacts_url": "/tmp/artifacts",
    "topic": "events-file",
}


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Point every settings source at empty places inside tmp_path."""
    for key in list(os.environ):
        if key.startswith("RUNSTREAM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RUNSTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNSTREAM_CONFIG", str(tmp_path / "user.json"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _layer(tag):
    return {
        "workspace": f"ws-{tag}",
        "kafka_bootstrap": f"{tag}:9092",
        "server_url": f"http://{tag}:8765",
        "artifacts_url": f"/artifacts/{tag}",
        "topic": f"events-{tag}",
    }


def _set_env(monkeypatch, values):
    for key, value in values.items():
        monkeypatch.setenv("RUNSTREAM_" + key.upper(), value)


# -- resolve_endpoints -------------------------------------------------------


def test_resolve_endpoints_raises_when_nothing_is_configured():
    """With no setting anywhere the error says to run `runstream up`."""

    with pytest.raises(RunstreamError) as caught:
        resolve_endpoints()

    message = str(caught.value)
    assert "runstream up" in message
    assert "RUNSTREAM_KAFKA_BOOTSTRAP" in message
    assert "RUNSTREAM_SERVER_URL" in message
    assert "RUNSTREAM_ARTIFACTS_URL" in message


def test_resolve_endpoints_reads_endpoints_file_of_runstream_up(tmp_path):
    """What `runstream up` wrote is used when nothing else is set."""
    _write(tmp_path / "home" / ENDPOINTS_FILE, _layer("up"))

    endpoints = resolve_endpoints()

    assert endpoints.kafka_bootstrap == "up:9092"
    assert endpoints.server_url == "http://up:8765"
    assert endpoints.artifacts_url == "/artifacts/up"


def test_resolve_endpoints_prefers_user_file_to_endpoints_file(tmp_path):
    """The user's config file wins over the endpoints of `runstream up`."""
    _write(tmp_path / "home" / ENDPOINTS_FILE, _layer("up"))
    _write(tmp_path / "user.json", {"server_url": "http://user:1"})

    endpoints = resolve_endpoints()

    assert endpoints.server_url == "http://user:1"
    assert endpoints.kafka_bootstrap == "up:9092"


def test_resolve_endpoints_prefers_env_to_files(tmp_path, monkeypatch):
    """RUNSTREAM_* variables win over both files."""
    _write(tmp_path / "home" / ENDPOINTS_FILE, _layer("up"))
    _write(tmp_path / "user.json", _layer("user"))
    _set_env(monkeypatch, {"kafka_bootstrap": "env:1", "topic": "t-env"})

    endpoints = resolve_endpoints()

    assert endpoints.kafka_bootstrap == "env:1"
    assert endpoints.topic == "t-env"
    assert endpoints.server_url == "http://user:8765"


def test_resolve_endpoints_prefers_arguments_to_everything(
    tmp_path, monkeypatch
):
    """An argument passed in code wins over env and files."""
    _write(tmp_path / "home" / ENDPOINTS_FILE, _layer("up"))
    _write(tmp_path / "user.json", _layer("user"))
    _set_env(monkeypatch, _layer("env"))

    endpoints = resolve_endpoints(**_layer("arg"))

    assert endpoints.workspace == "ws-arg"
    assert endpoints.kafka_bootstrap == "arg:9092"
    assert endpoints.server_url == "http://arg:8765"
    assert endpoints.artifacts_url == "/artifacts/arg"
    assert endpoints.topic == "events-arg"


def test_resolve_endpoints_merges_layers_per_setting(tmp_path, monkeypatch):
    """Each setting comes from the first layer that has it."""
    _write(tmp_path / "home" / ENDPOINTS_FILE, {"artifacts_url": "/up"})
    _write(tmp_path / "user.json", {"server_url": "http://user:1"})
    _set_env(monkeypatch, {"kafka_bootstrap": "env:1"})

    endpoints = resolve_endpoints(workspace="arg")

    assert endpoints == type(endpoints)(
        workspace="arg",
        kafka_bootstrap="env:1",
        server_url="http://user:1",
        artifacts_url="/up",
        topic=DEFAULT_EVENTS_TOPIC,
    )


def test_resolve_endpoints_defaults_workspace_and_topic(monkeypatch):
    """Workspace and topic have defaults; the addresses do not."""
    _set_env(
        monkeypatch,
        {"kafka_bootstrap": "k:1", "server_url": "s", "artifacts_url": "a"},
    )

    endpoints = resolve_endpoints()

    assert endpoints.workspace == "default"
    assert endpoints.topic == DEFAULT_EVENTS_TOPIC


def test_resolve_endpoints_names_only_missing_settings(monkeypatch):
    """The error lists exactly the settings that are still missing."""
    _set_env(monkeypatch, {"kafka_bootstrap": "k:1", "artifacts_url": "a"})

    with pytest.raises(RunstreamError) as caught:
        resolve_endpoints()

    message = str(caught.value)
    assert "RUNSTREAM_SERVER_URL" in message
    assert "RUNSTREAM_KAFKA_BOOTSTRAP" not in message


def test_resolve_endpoints_raises_when_setting_is_unknown():
    """An argument that is not a setting is refused, naming it."""

    with pytest.raises(InvalidArgumentError) as caught:
        resolve_endpoints(server="x")

    assert caught.value.argument == "server"
    assert "is not a setting" in caught.value.rule


def test_resolve_endpoints_raises_when_user_file_is_not_json(tmp_path):
    """A broken config file is reported with its path."""
    bad = tmp_path / "user.json"
    bad.write_text("{not json", encoding="utf-8")

    with pytest.raises(RunstreamError) as caught:
        resolve_endpoints()

    assert str(bad) in str(caught.value)


def test_resolve_endpoints_raises_when_user_file_is_not_an_object(tmp_path):
    """A config file that holds a list is refused, naming the file."""
    _write(tmp_path / "user.json", ["server_url"])

    with pytest.raises(RunstreamError) as caught:
        resolve_endpoints()

    assert "must hold a JSON object" in str(caught.value)


def test_workspace_uses_resolved_endpoints(monkeypatch):
    """Workspace() with keywords builds its endpoints without any I/O."""
    _set_env(monkeypatch, _layer("env"))

    workspace = Workspace("mine", server_url="http://arg:1")

    assert workspace.name == "mine"
    assert workspace.endpoints.server_url == "http://arg:1"
    assert workspace.endpoints.kafka_bootstrap == "env:9092"


# -- Workspace.from_config ---------------------------------------------------


@pytest.mark.parametrize(
    "file_name",
    [
        pytest.param(".runstream/config.json", id="dot-runstream"),
        pytest.param("runstream.json", id="runstream-json"),
    ],
)
def test_from_config_finds_file_in_cwd(tmp_path, file_name):
    """A config file in the current folder is found by each of its names."""
    _write(tmp_path / file_name, FULL)

    workspace = Workspace.from_config()

    assert workspace.name == "ws-file"
    assert workspace.endpoints.topic == "events-file"


def test_from_config_finds_file_in_a_parent(tmp_path, monkeypatch):
    """The search walks up from the current folder."""
    _write(tmp_path / "runstream.json", FULL)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)

    workspace = Workspace.from_config()

    assert workspace.endpoints.server_url == FULL["server_url"]


def test_from_config_reads_explicit_file(tmp_path):
    """A path to a file is read as it is, whatever its name."""
    path = _write(tmp_path / "elsewhere" / "team.json", FULL)

    workspace = Workspace.from_config(path)

    assert workspace.name == "ws-file"


def test_from_config_searches_from_explicit_folder(tmp_path):
    """A path to a folder starts the search there instead of the cwd."""
    _write(tmp_path / "project" / ".runstream" / "config.json", FULL)
    start = tmp_path / "project" / "src"
    start.mkdir(parents=True)

    workspace = Workspace.from_config(str(start))

    assert workspace.name == "ws-file"


def test_from_config_fills_missing_keys_from_env(tmp_path, monkeypatch):
    """A partial file takes the other settings from env."""
    _write(tmp_path / "runstream.json", {"workspace": "partial"})
    _set_env(monkeypatch, _layer("env"))

    workspace = Workspace.from_config()

    assert workspace.name == "partial"
    assert workspace.endpoints.server_url == "http://env:8765"


def test_from_config_raises_not_found_when_no_file(tmp_path):
    """With no config file up to the root, the error says how to write one."""
    start = tmp_path / "empty"
    start.mkdir()

    with pytest.raises(NotFoundError) as caught:
        Workspace.from_config(start)

    message = str(caught.value)
    assert "runstream.json" in message
    assert "write_config()" in message


def test_from_config_raises_when_file_has_unknown_keys(tmp_path):
    """A config file with keys that are not settings is refused."""
    path = _write(tmp_path / "runstream.json", {**FULL, "subscription": "x"})

    with pytest.raises(InvalidArgumentError) as caught:
        Workspace.from_config()

    error = caught.value
    assert error.argument == "path"
    assert "subscription" in error.rule
    assert str(path) in error.rule


def test_write_config_round_trips_through_from_config(tmp_path):
    """What write_config writes, from_config reads back."""
    original = Workspace(
        "ws-w",
        kafka_bootstrap="127.0.0.1:9092",
        server_url="http://127.0.0.1:8765",
        artifacts_url=str(tmp_path / "artifacts"),
        topic="events-w",
    )

    written = original.write_config(tmp_path)
    restored = Workspace.from_config()

    assert written == tmp_path / "runstream.json"
    assert restored.endpoints == original.endpoints


def test_from_config_prefers_nearest_folder(tmp_path, monkeypatch):
    """A config file in the current folder beats one in a parent."""
    _write(tmp_path / ".runstream" / "config.json", _layer("parent"))
    project = tmp_path / "project"
    _write(project / "runstream.json", _layer("near"))
    monkeypatch.chdir(project)

    workspace = Workspace.from_config()

    assert workspace.name == "ws-near"


def test_from_config_prefers_runstream_json_within_a_folder(tmp_path):
    """In one folder, runstream.json comes before .runstream/config.json."""
    _write(tmp_path / ".runstream" / "config.json", _layer("dot"))
    _write(tmp_path / "runstream.json", _layer("plain"))

    workspace = Workspace.from_config()

    assert workspace.name == "ws-plain"


def test_from_config_ignores_generic_config_json(tmp_path):
    """A plain config.json (another tool's) is not taken for runstream's."""
    _write(tmp_path / "config.json", FULL)

    with pytest.raises(NotFoundError):
        Workspace.from_config(tmp_path)


def test_from_config_raises_not_found_when_explicit_file_is_missing(
    tmp_path,
):
    """A path to a file that does not exist is an error, not a search."""
    _write(tmp_path / "runstream.json", FULL)

    with pytest.raises(NotFoundError):
        Workspace.from_config(tmp_path / "typo.json")
