"""Tests for the ``runstream`` command line, without starting anything."""

from __future__ import annotations

import pytest
import structlog
from click.testing import CliRunner

from runstream.cli import main


@pytest.fixture(autouse=True)
def _restore_structlog():
    """Undo the logging setup that commands do, so no test inherits it."""
    saved = structlog.get_config()
    yield
    structlog.reset_defaults()
    structlog.configure(**saved)


@pytest.fixture(name="runner")
def _runner(monkeypatch):
    """Give a CLI runner with no runstream settings in its environment."""
    monkeypatch.delenv("RUNSTREAM_KAFKA_BOOTSTRAP", raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    ("command", "summary"),
    [
        pytest.param("up", "Start a local Kafka broker", id="up"),
        pytest.param("down", "Stop the server and the broker", id="down"),
        pytest.param(
            "server", "Run the consumer and the HTTP query API", id="server"
        ),
        pytest.param("consume", "Run only the consumer", id="consume"),
    ],
)
def test_help_says_what_command_does(runner, command, summary):
    """Each command's --help exits 0 and opens with what it does."""

    result = runner.invoke(main, [command, "--help"])

    assert result.exit_code == 0, result.output
    assert summary in " ".join(result.output.split())


def test_main_help_lists_every_command(runner):
    """`runstream --help` names each command."""

    result = runner.invoke(main, ["--help"])

    assert result.exit_code == 0
    for command in ("up", "down", "server", "consume"):
        assert command in result.output


@pytest.mark.parametrize(
    "store",
    [
        pytest.param("chdb:///x", id="chdb-url"),
        pytest.param("file:///x", id="file-url"),
        pytest.param("/var/lib/runstream", id="absolute-path"),
        pytest.param("relative/dir", id="relative-path"),
    ],
)
def test_consume_refuses_embedded_store(runner, store):
    """`runstream consume` with the embedded store fails and says why."""

    result = runner.invoke(
        main,
        ["consume", "--store", store, "--kafka-bootstrap", "127.0.0.1:1"],
    )

    assert result.exit_code == 2
    assert "--store" in result.output
    assert "embedded store belongs to one process" in result.output
    assert "runstream server" in result.output


def test_consume_requires_kafka_bootstrap(runner):
    """Without a bootstrap address the command names the missing option."""

    result = runner.invoke(main, ["consume", "--store", "http://127.0.0.1:1"])

    assert result.exit_code == 2
    assert "--kafka-bootstrap" in result.output
