"""Images and files of a run: upload, list, download, and their errors."""

from __future__ import annotations

import io

import pytest

from runstream import (
    ConflictError,
    Experiment,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    Workspace,
)

pytestmark = pytest.mark.e2e

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
    b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f"
    b"\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _start(workspace: Workspace):
    return Experiment(workspace, "files").start_logging()


def test_log_image_from_file_and_plot_reads_as_artifact_uri(
    workspace: Workspace, tmp_path
) -> None:
    """An image file and a matplotlib figure become artifacts and URIs."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = _start(workspace)
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "roc.png").write_bytes(PNG)
    figure = plt.figure()
    plt.plot([1, 2, 3])

    run.log_image("roc", path="plots/roc.png")
    run.log_image("curve", plot=figure)
    plt.close(figure)
    metrics = run.get_metrics()
    populated = run.get_metrics(name="roc", populate=True)

    prefix = f"aml://artifactId/ExperimentRun/dcid.{run.id}/"
    assert metrics["roc"] == prefix + "plots/roc.png"
    assert metrics["curve"].startswith(prefix + "curve_")
    curve_file = metrics["curve"].removeprefix(prefix)
    assert sorted(run.get_file_names()) == sorted(
        [curve_file, "plots/roc.png"]
    )
    assert populated["roc"].data == PNG
    assert populated["roc"].path == "plots/roc.png"


def test_log_image_refuses_neither_both_and_non_images(
    workspace: Workspace, tmp_path
) -> None:
    """Neither or both of path/plot, a text file, or a missing file fail."""
    run = _start(workspace)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    image = tmp_path / "ok.png"
    image.write_bytes(PNG)

    with pytest.raises(InvalidArgumentError, match="not both"):
        run.log_image("img")
    with pytest.raises(InvalidArgumentError, match="not both"):
        run.log_image("img", path=str(image), plot=object())
    with pytest.raises(InvalidArgumentError, match="must be an image"):
        run.log_image("img", path=str(text))
    with pytest.raises(InvalidArgumentError, match="existing image"):
        run.log_image("img", path=str(tmp_path / "missing.png"))
    with pytest.raises(InvalidTypeError, match="savefig"):
        run.log_image("img", plot=object())

    assert run.get_metrics() == {}
    assert run.get_file_names() == []


def test_upload_file_names_are_run_relative_and_write_once(
    workspace: Workspace, tmp_path
) -> None:
    """Bad names and a second upload of a name fail with clear errors."""
    run = _start(workspace)
    source = tmp_path / "a.txt"
    source.write_text("a")

    run.upload_file("dir/a.txt", str(source))
    run.upload_file("stream.bin", io.BytesIO(b"bytes"))
    for bad in ("../escape.txt", "/abs.txt", "", "a/../../b"):
        with pytest.raises(InvalidArgumentError, match="name"):
            run.upload_file(bad, str(source))
    with pytest.raises(InvalidTypeError, match="path_or_stream"):
        run.upload_file("x.txt", 123)
    with pytest.raises(InvalidArgumentError, match="existing file"):
        run.upload_file("x.txt", str(tmp_path / "missing"))
    with pytest.raises(ConflictError, match="write-once"):
        run.upload_file("dir/a.txt", str(source))

    assert run.get_file_names() == ["dir/a.txt", "stream.bin"]


def test_upload_files_checks_everything_before_uploading(
    workspace: Workspace, tmp_path
) -> None:
    """upload_files uploads all or, on a bad call, nothing."""
    run = _start(workspace)
    paths = []
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(name)
        paths.append(str(tmp_path / name))

    refs = run.upload_files(["f/a", "f/b"], paths[:2])
    with pytest.raises(TypeError, match="one path per name"):
        run.upload_files(["x"], [])
    with pytest.raises(InvalidArgumentError, match="twice"):
        run.upload_files(["y", "y"], paths[:2])
    with pytest.raises(ConflictError, match="nothing was uploaded"):
        run.upload_files(["f/c", "f/a"], [paths[2], paths[0]])
    by_name, _ = run.upload_files(["g"], [paths[2]], return_artifacts=True)

    assert [r.name for r in refs] == ["f/a", "f/b"]
    assert by_name["g"].size_bytes == 1
    assert run.get_file_names() == ["f/a", "f/b", "g"]


def test_upload_folder_keeps_relative_paths(
    workspace: Workspace, tmp_path
) -> None:
    """dir/a/b.txt is stored as name/a/b.txt, with or without a slash."""
    run = _start(workspace)
    (tmp_path / "dir" / "a").mkdir(parents=True)
    (tmp_path / "dir" / "a" / "b.txt").write_text("b")
    (tmp_path / "dir" / "top.txt").write_text("t")

    run.upload_folder("n", str(tmp_path / "dir"))
    run.upload_folder("m", str(tmp_path / "dir") + "/")
    with pytest.raises(InvalidArgumentError, match="existing folder"):
        run.upload_folder("x", str(tmp_path / "missing"))

    assert run.get_file_names() == [
        "m/a/b.txt",
        "m/top.txt",
        "n/a/b.txt",
        "n/top.txt",
    ]


def test_download_file_and_files(workspace: Workspace, tmp_path) -> None:
    """Files come back to the default, a folder, or a prefix tree."""
    run = _start(workspace)
    run.upload_file("outputs/m.pkl", io.BytesIO(b"model"))
    run.upload_file("outputs/sub/n.txt", io.BytesIO(b"n"))
    run.upload_file("other.txt", io.BytesIO(b"o"))
    (tmp_path / "into").mkdir()

    run.download_file("outputs/m.pkl")
    run.download_file("outputs/m.pkl", tmp_path / "into")
    run.download_file("other.txt", tmp_path / "deep" / "o.txt")
    written = run.download_files(prefix="outputs", output_directory="tree")
    flat = run.download_files(
        prefix="outputs/", output_directory="flat", append_prefix=False
    )
    with pytest.raises(NotFoundError, match="outputs/m.pkl"):
        run.download_file("missing.txt")

    assert (tmp_path / "m.pkl").read_bytes() == b"model"
    assert (tmp_path / "into" / "m.pkl").read_bytes() == b"model"
    assert (tmp_path / "deep" / "o.txt").read_bytes() == b"o"
    assert sorted(p.as_posix() for p in written) == [
        "tree/outputs/m.pkl",
        "tree/outputs/sub/n.txt",
    ]
    assert (tmp_path / "flat" / "sub" / "n.txt").read_bytes() == b"n"
    assert len(flat) == 2


def test_outputs_folder_is_captured_when_the_run_ends(
    workspace: Workspace, tmp_path
) -> None:
    """Files under ./outputs appear as outputs/<path>; identical re-uploads
    are skipped; outputs=False captures nothing."""
    experiment = Experiment(workspace, "files")
    run = experiment.start_logging()
    (tmp_path / "outputs" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp_path / "outputs" / "model.pkl").write_bytes(b"m")
    (tmp_path / "outputs" / "sub" / "x.txt").write_text("x")
    run.upload_file("outputs/model.pkl", "outputs/model.pkl")
    quiet = experiment.start_logging(outputs=False)

    run.complete()
    quiet.complete()

    assert run.get_file_names() == ["outputs/model.pkl", "outputs/sub/x.txt"]
    assert quiet.get_file_names() == []
