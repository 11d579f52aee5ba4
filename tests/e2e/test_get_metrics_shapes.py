"""get_metrics shapes for every log kind, through Kafka and ClickHouse."""

from __future__ import annotations

import math

import pytest

from runstream import Experiment, Workspace

pytestmark = pytest.mark.e2e

VALUES = {
    "int": (7, -3, 11),
    "float": (0.5, 0.25, 0.125),
    "str": ("Red", "Grün", "青"),
}


def _start(workspace: Workspace):
    return Experiment(workspace, "shapes").start_logging()


@pytest.mark.parametrize("kind", list(VALUES), ids=list(VALUES))
def test_log_once_reads_bare_and_repeated_reads_list(
    workspace: Workspace, kind: str
) -> None:
    """log() once reads the bare value; three times, a list in log order."""
    a, b, c = VALUES[kind]
    run = _start(workspace)

    run.log("once", a)
    for value in (a, b, c):
        run.log("thrice", value)
    metrics = run.get_metrics()

    assert metrics == {"once": a, "thrice": [a, b, c]}
    assert type(metrics["once"]) is type(a)
    assert [type(v) for v in metrics["thrice"]] == [type(a)] * 3


@pytest.mark.parametrize("kind", list(VALUES), ids=list(VALUES))
def test_log_list_reads_list_and_single_element_reads_bare(
    workspace: Workspace, kind: str
) -> None:
    """log_list() appends across calls; a single element reads bare."""
    a, b, c = VALUES[kind]
    run = _start(workspace)

    run.log_list("many", [a, b])
    run.log_list("many", [c])
    run.log_list("single", [a])
    run.log_list("empty", [])
    metrics = run.get_metrics()

    assert metrics == {"many": [a, b, c], "single": a}


@pytest.mark.parametrize("kind", list(VALUES), ids=list(VALUES))
def test_log_row_reads_dict_of_values_then_dict_of_lists(
    workspace: Workspace, kind: str
) -> None:
    """log_row() once reads {col: v}; several rows read {col: [v...]}."""
    a, b, c = VALUES[kind]
    run = _start(workspace)

    run.log_row("one row", x=a, y=b)
    run.log_row("rows", x=a, y=b)
    run.log_row("rows", x=c, y=a)
    metrics = run.get_metrics()

    assert metrics == {
        "one row": {"x": a, "y": b},
        "rows": {"x": [a, c], "y": [b, a]},
    }


@pytest.mark.parametrize("kind", list(VALUES), ids=list(VALUES))
def test_log_table_reads_columns(workspace: Workspace, kind: str) -> None:
    """log_table() reads back its columns; a one-row table reads bare."""
    a, b, c = VALUES[kind]
    run = _start(workspace)

    run.log_table("table", {"x": [a, b, c], "y": [c, b, a]})
    run.log_table("one", {"x": [a], "y": [b]})
    run.log_table("scalars", {"x": a, "y": b})
    metrics = run.get_metrics()

    assert metrics == {
        "table": {"x": [a, b, c], "y": [c, b, a]},
        "one": {"x": a, "y": b},
        "scalars": {"x": a, "y": b},
    }


def test_log_list_of_ints_and_floats_reads_floats(
    workspace: Workspace,
) -> None:
    """As in Azure ML, log_list([1, 2.5]) reads [1.0, 2.5]."""
    run = _start(workspace)

    run.log_list("mixed", [1, 2.5])
    mixed = run.get_metrics()["mixed"]

    assert mixed == [1.0, 2.5]
    assert all(type(v) is float for v in mixed)


def test_awkward_values_are_kept_faithfully(workspace: Workspace) -> None:
    """NaN, infinities, -0.0, bools, None, numpy scalars and big ints."""
    np = pytest.importorskip("numpy")
    run = _start(workspace)

    run.log_list(
        "floats", [float("nan"), float("inf"), float("-inf"), -0.0, 1e308]
    )
    run.log("np_int", np.int64(7))
    run.log("np_float", np.float32(0.25))
    run.log("flag", True)
    run.log("nothing", None)
    run.log("huge", 2**80)
    metrics = run.get_metrics()

    nan, inf, ninf, nzero, big = metrics["floats"]
    assert math.isnan(nan) and inf == math.inf and ninf == -math.inf
    assert nzero == 0.0 and math.copysign(1, nzero) == -1
    assert big == 1e308
    assert metrics["np_int"] == 7 and type(metrics["np_int"]) is int
    assert metrics["np_float"] == 0.25
    assert metrics["flag"] is True
    assert metrics["nothing"] is None
    assert metrics["huge"] == 2**80


def test_get_metrics_by_name_and_of_empty_run(workspace: Workspace) -> None:
    """get_metrics(name) returns one entry or {}; no metrics reads {}."""
    run = _start(workspace)
    assert run.get_metrics() == {}

    run.log("a", 1)
    run.log("b", 2)

    assert run.get_metrics(name="a") == {"a": 1}
    assert run.get_metrics(name="missing") == {}


def test_explicit_steps_order_values(workspace: Workspace) -> None:
    """Values logged with explicit steps read back in step order."""
    run = _start(workspace)

    run.log("late", 3.0, step=3)
    run.log("late", 1.0, step=1)
    run.log("late", 2.0, step=2)

    assert run.get_metrics() == {"late": [1.0, 2.0, 3.0]}


def test_tags_status_and_files_read_back(
    workspace: Workspace, tmp_path
) -> None:
    """tag(), upload_file() and complete() are visible through the API."""
    run = _start(workspace)
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00weights")

    run.tag("selected", "yes")
    run.tag("bare")
    run.tag("rank", 1)
    run.upload_file("outputs/model.bin", str(model))
    assert run.get_status() == "Running"
    run.complete()

    assert run.get_tags() == {"selected": "yes", "bare": None, "rank": "1"}
    assert run.get_file_names() == ["outputs/model.bin"]
    assert run.get_status() == "Completed"
    details = run.get_details()
    assert details["experiment"] == "shapes"
    assert details["endTimeUtc"] >= details["startTimeUtc"]
