"""Script run configuration, snapshots and image sniffing, without a broker."""

from __future__ import annotations

import pytest

from runstream import Environment, InvalidTypeError, ScriptRunConfig
from runstream.producer._images import sniff_image
from runstream.producer._snapshot import _rules, is_ignored
from runstream.query._runs import effective_status


def test_environment_defaults_and_refuses_unknown_attributes():
    """Environment('e') is not user-managed until set; typos raise."""
    env = Environment("e")

    assert env.python.user_managed_dependencies is False
    assert env.python.interpreter_path == "python"
    env.python.user_managed_dependencies = True
    assert env.python.user_managed_dependencies is True
    with pytest.raises(AttributeError):
        env.python.no_such_field = True  # type: ignore[attr-defined]
    with pytest.raises(InvalidTypeError):
        Environment(3)  # type: ignore[arg-type]


def test_script_run_config_defaults_and_swappable_environment():
    """The run_config is local, 30 days long, and its environment mutable."""
    config = ScriptRunConfig(".", "train.py")
    env = Environment("other")

    config.run_config.environment = env

    assert config.run_config.target == "local"
    assert config.run_config.max_run_duration_seconds == 2_592_000
    assert config.run_config.environment is env
    with pytest.raises(InvalidTypeError):
        ScriptRunConfig(".", "train.py", arguments="--x")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"GIF89a", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBP", "image/webp"),
        (b"hello world", None),
    ],
    ids=["png", "jpeg", "gif", "webp", "text"],
)
def test_sniff_image_reads_the_first_bytes(head, expected):
    """The image type comes from the file's signature, not its name."""
    assert sniff_image(head) == expected


def test_ignore_rules_follow_gitignore(tmp_path):
    """Folder rules, anchored rules, globs and ! re-includes."""
    (tmp_path / ".runstreamignore").write_text(
        "# comment\ndata/\n/top.txt\n*.log\n!keep.log\n"
    )
    rules = _rules(tmp_path)

    assert is_ignored(rules, "data/x.csv", False)
    assert is_ignored(rules, "sub/data/x.csv", False)
    assert is_ignored(rules, "top.txt", False)
    assert not is_ignored(rules, "sub/top.txt", False)
    assert is_ignored(rules, "a/b.log", False)
    assert not is_ignored(rules, "keep.log", False)
    assert is_ignored(rules, ".git/config", False)
    assert not is_ignored(rules, "train.py", False)


@pytest.mark.parametrize(
    ("status", "silent_ms", "expected"),
    [
        ("Running", 1_000, "Running"),
        ("Running", 50_000, "NotResponding"),
        ("Completed", 50_000, "Completed"),
        ("Running", None, "Running"),
    ],
    ids=["alive", "silent", "finished", "never-beat"],
)
def test_silent_unfinished_runs_read_not_responding(
    status, silent_ms, expected
):
    """Four missed 10 s heartbeats make a running run NotResponding."""
    assert effective_status(status, silent_ms, 10_000) == expected
