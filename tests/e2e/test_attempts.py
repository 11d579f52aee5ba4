"""A job that resumes a run starts a new attempt; reads prefer the newest."""

from __future__ import annotations

import pytest

from runstream import Experiment, InvalidArgumentError, Run, Workspace

pytestmark = pytest.mark.e2e


def test_resumed_run_replaces_values_step_by_step(
    workspace: Workspace,
) -> None:
    """Attempt 2 re-logs steps 5-14; steps 0-4 keep attempt 1's values."""
    experiment = Experiment(workspace, "resume")
    first = experiment.start_logging()
    for step in range(10):
        first.log("loss", float(step), step=step)
    first.fail("preempted")
    first.get_metrics()

    resumed = experiment.start_logging(run_id=first.id)
    for step in range(5, 15):
        resumed.log("loss", 100.0 + step, step=step)
    resumed.complete()

    newest = resumed.get_metrics()["loss"]
    assert resumed.attempt == 2
    assert newest == [0.0, 1.0, 2.0, 3.0, 4.0] + [
        100.0 + s for s in range(5, 15)
    ]
    assert resumed.get_metrics(attempt=1)["loss"] == [
        float(s) for s in range(10)
    ]
    assert resumed.get_metrics(attempt=2)["loss"] == [
        100.0 + s for s in range(5, 15)
    ]
    assert resumed.get_status() == "Completed"


def test_attached_handles_join_the_newest_attempt(
    workspace: Workspace,
) -> None:
    """Run(experiment, id) logs under the run's newest attempt."""
    experiment = Experiment(workspace, "resume")
    run = experiment.start_logging()
    run.log("x", 1, step=0)
    run.get_metrics()
    resumed = experiment.start_logging(run_id=run.id)
    resumed.log("x", 2, step=0)
    resumed.get_metrics()

    worker = Run(experiment, run.id)
    worker.log("y", 3, step=0)

    assert worker.attempt == 2
    assert worker.get_metrics() == {"x": 2, "y": 3}


def test_get_metrics_refuses_a_bad_attempt(workspace: Workspace) -> None:
    """attempt must be a whole number of at least 1."""
    run = Experiment(workspace, "resume").start_logging()

    with pytest.raises(InvalidArgumentError) as caught:
        run.get_metrics(attempt=0)

    assert caught.value.argument == "attempt"
