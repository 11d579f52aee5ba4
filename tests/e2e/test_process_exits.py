"""However a training process ends, what it logged reaches the store."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from runstream import Experiment, NotFoundError, Run, Workspace
from tests.conftest import run_id_in as _run_id

pytestmark = pytest.mark.e2e


def _script(workspace: Workspace, body: str) -> str:
    e = workspace.endpoints
    prelude = f"""
        import multiprocessing, os, signal, sys
        from runstream import Experiment, NotFoundError, Run, Workspace
        ws = Workspace({e.workspace!r}, kafka_bootstrap={e.kafka_bootstrap!r},
                       server_url={e.server_url!r},
                       artifacts_url={e.artifacts_url!r}, topic={e.topic!r})
    """
    return textwrap.dedent(prelude) + textwrap.dedent(body)


def _wait_for(workspace: Workspace, run_id: str, expected: dict) -> dict:
    """Read another process's run until it matches, for at most ~10 s."""
    metrics: dict = {}
    for _ in range(50):
        try:
            run = Run(Experiment(workspace, "exits"), run_id)
        except NotFoundError:
            time.sleep(0.2)
            continue
        metrics = run.get_metrics()
        if metrics == expected:
            break
        time.sleep(0.2)

    return metrics


@pytest.mark.parametrize(
    "ending",
    ["return", "sys.exit(3)", "raise RuntimeError('boom')", "sigterm"],
)
def test_exit_without_complete_still_delivers(
    workspace: Workspace, ending: str
) -> None:
    """Normal exit, sys.exit, an exception and SIGTERM all flush first."""
    finish = {
        "return": "pass",
        "sigterm": "os.kill(os.getpid(), signal.SIGTERM)",
    }.get(ending, ending)
    script = _script(
        workspace,
        f"""
        run = Experiment(ws, "exits").start_logging()
        print("run_id=" + run.id, flush=True)
        for i in range(20_000):
            run.log("v", i)
        run.log_list("tail", [1, 2, 3])
        {finish}
        """,
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    run_id = _run_id(done.stdout)

    if ending == "sigterm":
        assert done.returncode == 128 + signal.SIGTERM
    expected = {"v": list(range(20_000)), "tail": [1, 2, 3]}
    assert _wait_for(workspace, run_id, expected) == expected


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers_deliver_everything(
    workspace: Workspace, method: str
) -> None:
    """Workers end through os._exit; their points arrive all the same."""
    script = _script(
        workspace,
        f"""
        def work(run_id, k):
            run = Run(Experiment(ws, "exits"), run_id)
            for i in range(10_000):
                run.log(f"w{{k}}", i)

        if __name__ == "__main__":
            multiprocessing.set_start_method({method!r})
            run = Experiment(ws, "exits").start_logging()
            workers = [
                multiprocessing.Process(target=work, args=(run.id, k))
                for k in range(2)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            print("run_id=" + run.id, flush=True)
        """,
    )
    path = workspace.endpoints.artifacts_url + "_script.py"
    with open(path, "w") as file:
        file.write(script)

    done = subprocess.run(
        [sys.executable, path], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    expected = {"w0": list(range(10_000)), "w1": list(range(10_000))}
    assert _wait_for(workspace, _run_id(done.stdout), expected) == expected


def test_delivery_report_shows_every_writer_and_no_gap(
    workspace: Workspace,
) -> None:
    """get_delivery counts calls, sent and stored events per writer."""
    run = Experiment(workspace, "exits").start_logging()
    other = Run(Experiment(workspace, "exits"), run.id)
    for i in range(100):
        run.log("a", i)
        other.log("b", i)

    run.get_metrics()
    report = {w["writer_id"]: w for w in run.get_delivery()}

    assert len(report) == 2
    for writer in report.values():
        assert writer["accepted_calls"] >= 100
        assert writer["events_sent"] >= 1
        assert writer["gap"] == 0
        assert writer["events_stored"] == writer["events_sent"]
