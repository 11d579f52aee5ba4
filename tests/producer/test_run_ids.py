"""Run ids keep to a safe alphabet: they name folders and URL paths."""

from __future__ import annotations

import pytest

from runstream import Experiment, InvalidArgumentError, Workspace


@pytest.mark.parametrize(
    "run_id",
    ["../../escape", "a/b", "a\\b", ".hidden", "x" * 257, "tab\there"],
    ids=["traversal", "slash", "backslash", "dot-first", "long", "control"],
)
def test_start_logging_refuses_unsafe_run_id(tmp_path, run_id: str) -> None:
    """An unsafe run id is refused before anything is sent or stored."""
    ws = Workspace(
        "w",
        kafka_bootstrap="127.0.0.1:9",
        server_url="http://127.0.0.1:9",
        artifacts_url=str(tmp_path / "artifacts"),
    )

    with pytest.raises(InvalidArgumentError) as caught:
        Experiment(ws, "e").start_logging(run_id=run_id)

    assert caught.value.argument == "run_id"
    assert not (tmp_path / "artifacts").exists()
