"""The run-history calls added for Azure ML parity, end to end: tag
removal, batch children, snapshots, JSON metrics and the model registry."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from runstream import (
    ConflictError,
    Experiment,
    InvalidArgumentError,
    InvalidTypeError,
    Model,
    NotFoundError,
    Run,
    Workspace,
)
from runstream.producer._json_metrics import JsonArtifact

pytestmark = pytest.mark.e2e

CONFUSION = {
    "schema_type": "confusion_matrix",
    "schema_version": "1.0.0",
    "data": {"class_labels": ["0", "1"], "matrix": [[3, 1], [0, 4]]},
}


def _start(workspace: Workspace, name: str = "history") -> Run:
    return Experiment(workspace, name).start_logging(outputs=False)


# -- remove_tags -------------------------------------------------------------


def test_remove_tags_deletes_named_keys_only(workspace: Workspace):
    """remove_tags drops the keys listed; a key set again comes back."""
    run = _start(workspace)
    run.set_tags({"a": "1", "b": None, "c": "3"})

    run.remove_tags(["a", "b", "never-set"])
    run.remove_tags([])

    assert run.get_tags() == {"c": "3"}
    run.tag("a", "again")
    assert run.get_tags() == {"a": "again", "c": "3"}


@pytest.mark.parametrize(
    ("tags", "error", "rule"),
    [
        pytest.param("a", InvalidTypeError, "must be a list", id="str"),
        pytest.param(None, InvalidTypeError, "must be a list", id="none"),
        pytest.param([1], InvalidTypeError, "must be a str", id="int-key"),
        pytest.param([""], InvalidArgumentError, "not be empty", id="empty"),
    ],
)
def test_remove_tags_refuses_what_is_not_a_list_of_keys(
    workspace: Workspace, tags, error, rule
):
    """Anything but a list of tag keys raises, naming 'tags'."""
    run = _start(workspace)
    run.tag("keep", "v")

    with pytest.raises(error, match=rule) as caught:
        run.remove_tags(tags)

    assert caught.value.argument == "tags"
    assert run.get_tags() == {"keep": "v"}


# -- create_children ---------------------------------------------------------


def test_create_children_by_count_numbers_them(workspace: Workspace):
    """count=n starts n Running children tagged 0..n-1."""
    parent = _start(workspace)

    children = parent.create_children(count=3)

    assert [c.get_status() for c in children] == ["Running"] * 3
    numbers = sorted(
        c.get_tags()["azureml.batch_child_number"] for c in children
    )
    assert numbers == ["0", "1", "2"]
    assert {c.id for c in parent.get_children()} == {c.id for c in children}
    assert all(c.parent.id == parent.id for c in children)
    assert parent.create_children(count=0) == []


def test_create_children_by_tag_values(workspace: Workspace):
    """tag_key with tag_values makes one child per value, tagged with it."""
    parent = _start(workspace)

    children = parent.create_children(tag_key="lr", tag_values=[0.1, 0.01])

    assert [c.get_tags() for c in children] == [
        {"lr": "0.1"},
        {"lr": "0.01"},
    ]


@pytest.mark.parametrize(
    ("kwargs", "argument", "rule"),
    [
        pytest.param({}, "count", "must be given", id="neither"),
        pytest.param(
            {"count": 2, "tag_key": "k", "tag_values": ["a"]},
            "count",
            "not be given together",
            id="both",
        ),
        pytest.param({"count": 101}, "count", "0 to 100", id="too-many"),
        pytest.param({"count": -1}, "count", "0 to 100", id="negative"),
        pytest.param({"count": 2.0}, "count", "must be an int", id="float"),
        pytest.param({"tag_key": "k"}, "tag_values", "the other", id="key"),
        pytest.param(
            {"tag_key": "k", "tag_values": "abc"},
            "tag_values",
            "must be a list",
            id="str-values",
        ),
        pytest.param(
            {"tag_key": "k", "tag_values": list(range(101))},
            "tag_values",
            "0 to 100",
            id="too-many-values",
        ),
        pytest.param(
            {"tag_key": "k", "tag_values": ["a", "x" * 5001]},
            "tags['k']",
            "at most",
            id="long-value",
        ),
    ],
)
def test_create_children_refuses_bad_arguments_before_any_child(
    workspace: Workspace, kwargs, argument, rule
):
    """A bad call raises naming the argument and creates no child."""
    parent = _start(workspace)

    with pytest.raises(InvalidArgumentError, match=rule) as caught:
        parent.create_children(**kwargs)

    assert caught.value.argument == argument
    assert list(parent.get_children()) == []


# -- snapshots ---------------------------------------------------------------


def test_take_and_restore_snapshot(workspace: Workspace, tmp_path):
    """take_snapshot zips a folder (ignore file honoured); restore gives
    the zip back; a run keeps one snapshot."""
    source = tmp_path / "project"
    (source / "lib").mkdir(parents=True)
    (source / "train.py").write_text("print(1)\n")
    (source / "lib" / "util.py").write_text("x = 1\n")
    (source / "big.bin").write_bytes(b"0" * 10)
    (source / ".amlignore").write_text("*.bin\n")
    run = _start(workspace)

    snapshot_id = run.take_snapshot(source)
    path = run.restore_snapshot(path=tmp_path / "restored")

    assert snapshot_id == run.get_snapshot_id() == "snapshot/source.zip"
    assert run.get_properties()["ContentSnapshotId"] == snapshot_id
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [
            ".amlignore",
            "lib/util.py",
            "train.py",
        ]
    assert run.restore_snapshot(snapshot_id, tmp_path / "again.zip").endswith(
        "again.zip"
    )
    with pytest.raises(ConflictError, match="one snapshot"):
        run.take_snapshot(source)


def test_snapshot_of_one_file(workspace: Workspace, tmp_path):
    """A file path makes a snapshot holding that file alone."""
    script = tmp_path / "solo.py"
    script.write_text("print('solo')\n")
    run = _start(workspace)

    run.take_snapshot(str(script))
    path = run.restore_snapshot()

    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["solo.py"]


def test_snapshot_calls_refuse_bad_arguments(workspace: Workspace, tmp_path):
    """Missing paths, non-paths, a foreign snapshot id and a run without a
    snapshot each raise a clear error."""
    run = _start(workspace)

    with pytest.raises(NotFoundError, match="no snapshot"):
        run.restore_snapshot()
    with pytest.raises(InvalidArgumentError, match="existing") as caught:
        run.take_snapshot(tmp_path / "missing")
    assert caught.value.argument == "file_or_folder_path"
    with pytest.raises(InvalidTypeError, match="must be a path"):
        run.take_snapshot(42)
    assert run.get_snapshot_id() is None

    run.take_snapshot(tmp_path)
    with pytest.raises(InvalidArgumentError, match="this run's") as caught:
        run.restore_snapshot(snapshot_id="other/source.zip")
    assert caught.value.argument == "snapshot_id"


# -- JSON metrics ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("log_confusion_matrix", "confusion_matrix"),
        ("log_accuracy_table", "accuracy_table"),
        ("log_residuals", "residuals"),
        ("log_predictions", "predictions"),
    ],
)
def test_json_metric_reads_as_uri_and_populates(
    workspace: Workspace, method, kind
):
    """Each JSON kind stores file <name> and reads as its aml:// URI; with
    populate=True, convert_to_object() gives the dict back."""
    run = _start(workspace)

    getattr(run, method)("cm", CONFUSION)
    getattr(run, method)("from_text", json.dumps(CONFUSION), "a description")

    metrics = run.get_metrics()
    assert metrics["cm"] == (
        f"aml://artifactId/ExperimentRun/dcid.{run.id}/cm"
    )
    assert {"cm", "from_text"} <= set(run.get_file_names())
    populated = run.get_metrics(populate=True)
    for name in ("cm", "from_text"):
        artifact = populated[name]
        assert isinstance(artifact, JsonArtifact)
        assert artifact.convert_to_object() == CONFUSION
        assert artifact.metric_type == f"azureml.v2.{kind}"
        assert artifact.path == name
        assert artifact.data_location == metrics[name]


def test_json_metric_takes_numpy_arrays(workspace: Workspace):
    """numpy arrays inside the dict are stored as lists of numbers."""
    run = _start(workspace)
    matrix = np.array([[3, 1], [0, 4]], dtype=np.int64)

    run.log_confusion_matrix(
        "cm", {"data": {"matrix": matrix, "n": np.float32(0.5)}}
    )

    stored = run.get_metrics(populate=True)["cm"].convert_to_object()
    assert stored == {"data": {"matrix": [[3, 1], [0, 4]], "n": 0.5}}


@pytest.mark.parametrize(
    ("value", "error", "rule"),
    [
        pytest.param(
            "{bad json", InvalidArgumentError, "valid JSON", id="json"
        ),
        pytest.param("[1, 2]", InvalidArgumentError, "JSON object", id="arr"),
        pytest.param([1, 2], InvalidTypeError, "dict or a str", id="list"),
        pytest.param(None, InvalidTypeError, "dict or a str", id="none"),
        pytest.param({"s": {1}}, InvalidTypeError, "JSON values", id="set"),
    ],
)
def test_json_metric_refuses_bad_values(
    workspace: Workspace, value, error, rule
):
    """Bad JSON, non-objects and unserializable values raise naming
    'value', and nothing is stored."""
    run = _start(workspace)

    with pytest.raises(error, match=rule) as caught:
        run.log_residuals("res", value)

    assert caught.value.argument == "value"
    assert run.get_metrics() == {}
    assert run.get_file_names() == []


def test_json_metric_name_is_write_once(workspace: Workspace):
    """A second JSON metric of one name collides with the file, as in
    Azure ML; the first one stays."""
    run = _start(workspace)
    run.log_predictions("pred", {"data": {"bin_counts": [1]}})

    with pytest.raises(ConflictError, match="write-once"):
        run.log_predictions("pred", {"data": {"bin_counts": [2]}})
    with pytest.raises(InvalidArgumentError, match="'..'"):
        run.log_predictions("../escape", {})

    assert run.get_metrics(populate=True)["pred"].convert_to_object() == {
        "data": {"bin_counts": [1]}
    }


def test_image_logged_twice_reads_its_first_uri(
    workspace: Workspace, tmp_path
):
    """As in Azure ML, a file-backed metric reads as its first value."""
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    (tmp_path / "a.png").write_bytes(png)
    (tmp_path / "b.png").write_bytes(png)
    run = _start(workspace)

    run.log_image("img", path="a.png")
    run.log_image("img", path="b.png")

    assert run.get_metrics()["img"].endswith(f"dcid.{run.id}/a.png")
    assert run.get_metrics(populate=True)["img"].path == "a.png"


# -- model registry ----------------------------------------------------------


def test_register_model_counts_versions_per_name(workspace: Workspace):
    """Each registration of a name is the next version; Model reads them."""
    run = _start(workspace)
    run.upload_file("outputs/model.pkl", _bytes(b"v1"))
    run.upload_file("outputs/other/weights.bin", _bytes(b"w"))

    first = run.register_model("ridge", "./outputs/model.pkl", tags={"a": 1})
    second = run.register_model(
        model_name="ridge",
        model_path="outputs/model.pkl",
        description="again",
        properties={"mse": 0.5},
    )
    folder = run.register_model("weights", "outputs/other")

    assert (first.version, second.version, folder.version) == (1, 2, 1)
    assert first.id == "ridge:1"
    assert (first.run_id, first.path, first.tags) == (
        run.id,
        "outputs/model.pkl",
        {"a": "1"},
    )
    assert (second.description, second.properties) == ("again", {"mse": "0.5"})
    assert folder.files == ["outputs/other/weights.bin"]
    assert Model(workspace, "ridge").version == 2
    assert Model(workspace, "ridge", version=1).description is None
    assert Model(workspace, id="ridge:1").tags == {"a": "1"}
    assert [m.id for m in Model.list(workspace)] == [
        "ridge:2",
        "ridge:1",
        "weights:1",
    ]
    assert [m.id for m in Model.list(workspace, latest=True)] == [
        "ridge:2",
        "weights:1",
    ]
    assert [m.id for m in Model.list(workspace, tags=["a"])] == ["ridge:1"]


def test_model_download_writes_the_run_files(workspace: Workspace, tmp_path):
    """download() copies a file model, or a folder model's tree."""
    run = _start(workspace)
    run.upload_file("outputs/model.pkl", _bytes(b"bytes"))
    run.upload_file("outputs/dir/a/b.txt", _bytes(b"b"))
    model = run.register_model("m", "outputs/model.pkl")
    tree = run.register_model("tree", "outputs/dir")

    path = model.download(tmp_path / "dl")
    folder = tree.download(tmp_path / "dl")

    with open(path, "rb") as file:
        assert file.read() == b"bytes"
    assert (tmp_path / "dl" / "dir" / "a" / "b.txt").read_bytes() == b"b"
    assert folder.endswith("dir")
    with pytest.raises(InvalidArgumentError, match="exist_ok") as caught:
        model.download(tmp_path / "dl")
    assert caught.value.argument == "target_dir"
    model.download(tmp_path / "dl", exist_ok=True)


def test_register_model_refuses_bad_arguments(workspace: Workspace):
    """Bad names, paths the run lacks and non-dict tags raise clearly;
    nothing is registered."""
    run = _start(workspace)
    run.upload_file("outputs/model.pkl", _bytes(b"x"))

    with pytest.raises(NotFoundError, match="'model_path'"):
        run.register_model("m", "outputs/missing.pkl")
    with pytest.raises(NotFoundError, match="'model_path'"):
        run.register_model("nothing")
    with pytest.raises(InvalidArgumentError, match="letters") as caught:
        run.register_model("bad name", "outputs/model.pkl")
    assert caught.value.argument == "model_name"
    with pytest.raises(InvalidArgumentError, match="'..'") as caught:
        run.register_model("m", "../model.pkl")
    assert caught.value.argument == "model_path"
    with pytest.raises(InvalidTypeError, match="dict") as caught:
        run.register_model("m", "outputs/model.pkl", tags=["a"])
    assert caught.value.argument == "tags"
    with pytest.raises(InvalidTypeError, match="str or None"):
        run.register_model("m", "outputs/model.pkl", description=3)

    assert Model.list(workspace) == []
    with pytest.raises(NotFoundError, match="no model 'm'"):
        Model(workspace, "m")
    with pytest.raises(InvalidArgumentError, match="<name>:<version>"):
        Model(workspace, id="m")


# -- details -----------------------------------------------------------------


def test_detailed_status_and_details_with_logs(workspace: Workspace):
    """get_detailed_status() pairs status and details; an interactive run's
    get_details_with_logs() has no logs."""
    run = _start(workspace)

    assert run.get_detailed_status() == {"status": "Running", "details": None}
    run.complete()

    details = run.get_details_with_logs()
    assert details["status"] == "Completed"
    assert details["logFiles"] == {}
    assert run.get_detailed_status()["status"] == "Completed"


def _bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
