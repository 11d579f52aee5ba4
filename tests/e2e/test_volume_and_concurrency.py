"""Many points, many writers: nothing lost, nothing mixed, order kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from runstream import Experiment, Run, Workspace
from tests.conftest import run_id_in

pytestmark = pytest.mark.e2e


def test_100k_points_on_one_metric_read_back_complete_and_in_order(
    workspace: Workspace,
) -> None:
    """A tight loop of 100,000 run.log calls reads back whole, in order."""
    run = Experiment(workspace, "volume").start_logging()

    for i in range(100_000):
        run.log("loss", i * 0.5)
    loss = run.get_metrics(name="loss")["loss"]

    assert len(loss) == 100_000
    assert loss == [i * 0.5 for i in range(100_000)]


def test_two_runs_in_two_threads_do_not_mix(workspace: Workspace) -> None:
    """Two runs logging at once from two threads keep their own points."""
    experiment = Experiment(workspace, "threads")
    runs = [experiment.start_logging() for _ in range(2)]

    def log_all(run: Run, sign: int) -> None:
        for i in range(5_000):
            run.log("x", sign * i)
            run.log_row("pairs", i=i, sign=sign)

    threads = [
        threading.Thread(target=log_all, args=(run, sign))
        for run, sign in zip(runs, (1, -1), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for run, sign in zip(runs, (1, -1), strict=True):
        metrics = run.get_metrics()
        assert metrics["x"] == [sign * i for i in range(5_000)]
        assert metrics["pairs"]["sign"] == [sign] * 5_000


def test_two_processes_logging_concurrently_do_not_mix(
    workspace: Workspace,
) -> None:
    """Two training processes, each with its own run, at the same time."""
    endpoints = workspace.endpoints
    script = textwrap.dedent(
        f"""
        import sys
        from runstream import Experiment, Workspace
        ws = Workspace({endpoints.workspace!r},
                       kafka_bootstrap={endpoints.kafka_bootstrap!r},
                       server_url={endpoints.server_url!r},
                       artifacts_url={endpoints.artifacts_url!r},
                       topic={endpoints.topic!r})
        run = Experiment(ws, "processes").start_logging()
        offset = int(sys.argv[1])
        for i in range(20_000):
            run.log("value", offset + i)
        run.log_list("list", [offset] * 3)
        run.complete()
        # Reads wait for this process's own writes, so once this returns
        # the store holds everything the process logged.
        assert run.get_details()["status"] == "Completed"
        print("run_id=" + run.id)
        """
    )

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(offset)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for offset in (0, 1_000_000)
    ]
    run_ids = [run_id_in(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    experiment = Experiment(workspace, "processes")

    for run_id, offset in zip(run_ids, (0, 1_000_000), strict=True):
        metrics = Run(experiment, run_id).get_metrics()
        assert metrics["value"] == [offset + i for i in range(20_000)]
        assert metrics["list"] == [offset] * 3
