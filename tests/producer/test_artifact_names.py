"""Tests for artifact names and the write-once artifact store."""

from __future__ import annotations

import hashlib
import io

import pytest

from runstream.errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidTypeError,
    RunstreamError,
)
from runstream.producer._artifacts import (
    ArtifactStore,
    check_artifact_name,
    open_source,
)

CALL = "Run.upload_file()"


@pytest.fixture(name="artifact_store")
def _artifact_store(tmp_path):
    """Give an artifact store kept in this test's temporary folder."""
    return ArtifactStore(str(tmp_path / "artifacts"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("model.pkl", "model.pkl", id="plain"),
        pytest.param("outputs/model.pkl", "outputs/model.pkl", id="nested"),
        pytest.param("./a/./b", "a/b", id="dot-segments"),
        pytest.param("a//b/", "a/b", id="doubled-and-trailing-slash"),
        pytest.param("a\\b\\c.txt", "a/b/c.txt", id="backslashes"),
        pytest.param("a/..b/c..", "a/..b/c..", id="dots-inside-a-part"),
        pytest.param("日本/ü.txt", "日本/ü.txt", id="unicode"),
    ],
)
def test_check_artifact_name_returns_normalised_name(name, expected):
    """A run-relative name comes back with '/' separators and no dots."""

    checked = check_artifact_name(CALL, name)

    assert checked == expected


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("/", "must not be empty", id="only-slash"),
        pytest.param("  ", "must not be empty", id="blank"),
        pytest.param("/etc/passwd", "not absolute", id="absolute"),
        pytest.param("C:/temp/x", "not absolute", id="drive-slash"),
        pytest.param("C:\\temp\\x", "not absolute", id="drive-backslash"),
        pytest.param("\\\\host\\share\\x", "not absolute", id="unc-path"),
        pytest.param("../x", "must not contain '..'", id="parent"),
        pytest.param("a/../../x", "must not contain '..'", id="deep-parent"),
        pytest.param("a/../b", "must not contain '..'", id="inner-parent"),
        pytest.param("..\\x", "must not contain '..'", id="parent-backslash"),
        pytest.param("./..", "must not contain '..'", id="dot-parent"),
    ],
)
def test_check_artifact_name_raises_when_name_leaves_the_run(name, rule):
    """A name that is empty, absolute or climbs out of the run is refused."""

    with pytest.raises(InvalidArgumentError) as caught:
        check_artifact_name(CALL, name)

    error = caught.value
    assert isinstance(error, ValueError)
    assert error.argument == "name"
    assert error.value == name
    assert rule in error.rule
    assert str(error).startswith(f"{CALL}: 'name' ")


@pytest.mark.parametrize(
    "name",
    [pytest.param(None, id="none"), pytest.param(b"a.txt", id="bytes")],
)
def test_check_artifact_name_raises_invalid_type_when_not_a_str(name):
    """A name that is not a str is refused as a type error."""

    with pytest.raises(InvalidTypeError) as caught:
        check_artifact_name(CALL, name)

    assert isinstance(caught.value, TypeError)
    assert caught.value.rule == "must be a str"


def test_check_artifact_name_raises_when_name_has_nul():
    """A name with a NUL byte is refused at the call."""

    with pytest.raises(InvalidArgumentError):
        check_artifact_name(CALL, "a\x00b.txt")


def test_put_returns_reference_with_size_and_sha256(artifact_store):
    """A stored file's reference has its byte count and SHA-256."""
    data = b"weights" * 1000

    ref = artifact_store.put(
        "ws", "run-1", "outputs/model.bin", io.BytesIO(data)
    )

    assert ref.name == "outputs/model.bin"
    assert ref.size_bytes == len(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.content_type == "application/octet-stream"
    assert ref.uri.startswith("file://")
    assert ref.uri.endswith("/ws/run-1/outputs/model.bin")


def test_put_stores_bytes_that_open_reads_back(artifact_store):
    """What put() stores, open() returns unchanged."""
    data = bytes(range(256)) * 10

    artifact_store.put("ws", "run-1", "raw.bin", io.BytesIO(data))

    with artifact_store.open("ws", "run-1", "raw.bin") as file:
        assert file.read() == data
    assert artifact_store.exists("ws", "run-1", "raw.bin")
    assert artifact_store.sha256_of("ws", "run-1", "raw.bin") == (
        hashlib.sha256(data).hexdigest()
    )


def test_put_handles_empty_file(artifact_store):
    """An empty file is stored with size 0 and the SHA-256 of nothing."""

    ref = artifact_store.put("ws", "run-1", "empty.txt", io.BytesIO(b""))

    assert ref.size_bytes == 0
    assert ref.sha256 == hashlib.sha256(b"").hexdigest()
    assert ref.content_type == "text/plain"


def test_put_raises_conflict_when_name_is_taken(artifact_store):
    """A second put under the same run and name is refused."""
    artifact_store.put("ws", "run-1", "a.txt", io.BytesIO(b"first"))

    with pytest.raises(ConflictError) as caught:
        artifact_store.put("ws", "run-1", "a.txt", io.BytesIO(b"second"))

    assert isinstance(caught.value, RunstreamError)
    assert "'a.txt'" in str(caught.value)
    assert "write-once" in str(caught.value)
    with artifact_store.open("ws", "run-1", "a.txt") as file:
        assert file.read() == b"first"


def test_put_keeps_runs_apart(artifact_store):
    """The same name in two runs is two artifacts."""
    artifact_store.put("ws", "run-1", "a.txt", io.BytesIO(b"one"))

    ref = artifact_store.put("ws", "run-2", "a.txt", io.BytesIO(b"two"))

    assert ref.size_bytes == 3
    with artifact_store.open("ws", "run-1", "a.txt") as file:
        assert file.read() == b"one"


def test_open_source_refuses_a_folder(tmp_path):
    """upload_file() of a folder says to use upload_folder()."""

    with pytest.raises(InvalidArgumentError) as caught:
        open_source("Run.upload_file()", str(tmp_path))

    assert caught.value.argument == "path_or_stream"
    assert "upload_folder()" in caught.value.rule
