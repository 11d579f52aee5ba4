"""experiment.submit(ScriptRunConfig): script runs on this machine."""

from __future__ import annotations

import textwrap
import time
import zipfile

import pytest

from runstream import (
    Environment,
    Experiment,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    Run,
    RunFailedError,
    ScriptRun,
    ScriptRunConfig,
    Workspace,
)

pytestmark = pytest.mark.e2e


def _env() -> Environment:
    env = Environment("local")
    env.python.user_managed_dependencies = True
    return env


def _source(tmp_path, script: str, **extra: str):
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    (folder / "job.py").write_text(textwrap.dedent(script))
    for name, text in extra.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _submit(workspace, folder, arguments=None) -> ScriptRun:
    config = ScriptRunConfig(
        source_directory=folder,
        script="job.py",
        arguments=arguments,
        environment=_env(),
    )
    return Experiment(workspace, "scripts").submit(config)


def test_script_run_streams_its_log_and_completes(
    workspace: Workspace, tmp_path, capsys
) -> None:
    """Arguments reach the script; its output streams; outputs are kept."""
    folder = _source(
        tmp_path,
        """
        import os, sys
        from runstream import Run
        run = Run.get_context()
        assert run is Run.get_context()
        run.log("args", " ".join(sys.argv[1:]))
        os.makedirs("outputs", exist_ok=True)
        open("outputs/result.txt", "w").write("ok")
        print("hello from the script")
        print("to stderr", file=sys.stderr)
        """,
    )

    run = _submit(workspace, folder, ["--lr", 0.5])
    details = run.wait_for_completion(show_output=True)
    shown = capsys.readouterr().out

    assert isinstance(run, ScriptRun)
    assert details["status"] == "Completed"
    assert f"RunId: {run.id}" in shown
    assert "hello from the script" in shown and "to stderr" in shown
    assert "Execution Summary" in shown
    assert run.get_metrics() == {"args": "--lr 0.5"}
    assert sorted(run.get_file_names()) == [
        "outputs/result.txt",
        "snapshot/source.zip",
        "user_logs/std_log.txt",
    ]
    assert details["runDefinition"]["arguments"] == ["--lr", "0.5"]


def test_failing_script_fails_its_run_with_the_error(
    workspace: Workspace, tmp_path
) -> None:
    """A script that raises makes the run Failed; the wait raises."""
    folder = _source(tmp_path, "raise ValueError('bad data')\n")

    run = _submit(workspace, folder)
    with pytest.raises(RunFailedError, match="bad data") as caught:
        run.wait_for_completion()
    details = run.wait_for_completion(raise_on_error=False)

    assert run.get_status() == "Failed"
    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"] == (
        "User program failed with ValueError: bad data"
    )
    assert caught.value.details["status"] == "Failed"


def test_script_can_fail_its_own_run(workspace: Workspace, tmp_path) -> None:
    """run.fail() inside a script that then exits 0 leaves it Failed."""
    folder = _source(
        tmp_path,
        """
        from runstream import Run
        Run.get_context().fail("gave up")
        """,
    )

    run = _submit(workspace, folder)
    details = run.wait_for_completion(raise_on_error=False)

    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"] == "gave up"


def test_cancel_stops_a_running_script(workspace: Workspace, tmp_path):
    """cancel() kills the script and the run ends Canceled."""
    folder = _source(tmp_path, "import time\nprint('start')\ntime.sleep(60)\n")

    run = _submit(workspace, folder)
    deadline = time.monotonic() + 60
    while run.get_status() != "Running" and time.monotonic() < deadline:
        time.sleep(0.2)
    run.cancel()
    details = run.wait_for_completion()

    assert details["status"] == "Canceled"


def test_snapshot_leaves_out_ignored_files(workspace: Workspace, tmp_path):
    """The zip snapshot skips what .runstreamignore lists."""
    folder = _source(
        tmp_path,
        "print('ok')\n",
        **{
            ".runstreamignore": "data/\n*.log\n",
            "data/big.csv": "x",
            "notes.log": "x",
            "lib/helper.py": "x = 1\n",
        },
    )

    run = _submit(workspace, folder)
    run.wait_for_completion()
    path = run.restore_snapshot(path=tmp_path / "restored")

    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert names == [".runstreamignore", "job.py", "lib/helper.py"]
    assert run.get_properties()["ContentSnapshotId"] == "snapshot/source.zip"


def test_submit_refuses_bad_configurations(workspace: Workspace, tmp_path):
    """A missing folder or script, another target, or no config raise."""
    folder = _source(tmp_path, "print('ok')\n")
    experiment = Experiment(workspace, "scripts")

    with pytest.raises(InvalidArgumentError, match="existing folder"):
        experiment.submit(ScriptRunConfig(tmp_path / "nope", "job.py"))
    with pytest.raises(InvalidArgumentError, match="script"):
        experiment.submit(ScriptRunConfig(folder, "missing.py"))
    with pytest.raises(InvalidArgumentError, match="local"):
        experiment.submit(
            ScriptRunConfig(folder, "job.py", compute_target="gpu-cluster")
        )
    with pytest.raises(InvalidTypeError, match="ScriptRunConfig"):
        experiment.submit("job.py")
    env = _env()
    env.python.interpreter_path = "/no/such/python"
    with pytest.raises(InvalidArgumentError, match="interpreter"):
        experiment.submit(ScriptRunConfig(folder, "job.py", environment=env))

    assert list(experiment.get_runs()) == []


def test_get_context_outside_a_submission(tmp_path, capsys):
    """Offline: prints and records locally, never raises; strict raises."""
    run = Run.get_context()

    run.log("a", 1, step=3)
    run.log("bad", [1, 2])
    run.log_list("l", [1, 2])
    run.child_run("c").log("b", 2)
    run.complete()
    with pytest.raises(NotFoundError, match="allow_offline"):
        Run.get_context(allow_offline=False)

    out = capsys.readouterr()
    assert run.id.startswith("OfflineRun_")
    assert "Attempted to log scalar metric a:" in out.out
    assert "ignored a call" in out.err
    assert not hasattr(run, "get_metrics")
    assert (tmp_path / "logs" / f"{run.id}.jsonl").is_file()
