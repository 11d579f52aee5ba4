"""Run lifecycle, tags, properties, names and retrieval, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

from runstream import (
    ConflictError,
    Experiment,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    Run,
    Workspace,
)
from tests.conftest import run_id_in as _run_id

pytestmark = pytest.mark.e2e


def _start(workspace: Workspace, **kwargs):
    return Experiment(workspace, "life").start_logging(**kwargs)


def test_tags_set_overwrite_and_refuse_non_dicts(workspace: Workspace):
    """tag/set_tags overwrite named keys only; set_tags('x') raises."""
    run = _start(workspace, tags={"origin": "test"})

    run.tag("k", "v1")
    run.tag("k", "v2")
    run.tag("bare")
    run.set_tags({"rank": 1})
    with pytest.raises(InvalidTypeError, match="dict"):
        run.set_tags("x")

    assert run.get_tags() == {
        "origin": "test",
        "k": "v2",
        "bare": None,
        "rank": "1",
    }


def test_properties_are_write_once(workspace: Workspace):
    """add_properties adds; the same value again is fine, another raises."""
    run = _start(workspace)

    run.add_properties({"author": "u", "n": 1})
    run.add_properties({"author": "u"})
    run.add_properties({})
    run.add_properties(None)
    with pytest.raises(ConflictError, match="write-once"):
        run.add_properties({"author": "other", "new": "x"})
    with pytest.raises(InvalidTypeError, match="dict"):
        run.add_properties(["author"])

    assert run.get_properties() == {"author": "u", "n": "1"}
    assert run.properties == {"author": "u", "n": "1"}


def test_display_name_and_description(workspace: Workspace):
    """Both are stored at start and can be changed later."""
    run = _start(workspace, display_name="first", description="about")

    assert run.display_name == "first"
    assert run.description == "about"
    run.display_name = "second"
    run.description = "more"
    with pytest.raises(InvalidTypeError):
        run.display_name = 3

    details = run.get_details()
    assert (details["displayName"], details["description"]) == (
        "second",
        "more",
    )


def test_complete_fail_cancel_and_details(workspace: Workspace):
    """Each ending sets its status; endTimeUtc appears only once ended."""
    done, failed, canceled = (_start(workspace) for _ in range(3))
    assert done.get_status() == "Running"
    assert "endTimeUtc" not in done.get_details()

    done.complete()
    failed.fail("boom")
    canceled.cancel()
    with pytest.raises(TypeError, match="error_details"):
        _start(workspace).fail(123)

    assert done.get_status() == "Completed"
    assert "endTimeUtc" in done.get_details()
    assert failed.get_status() == "Failed"
    assert failed.get_details()["error"] == {
        "error": {"code": "UserError", "message": "boom"}
    }
    assert canceled.get_status() == "Canceled"
    assert done.get_detailed_status() == {
        "status": "Completed",
        "details": None,
    }


def test_with_statement_completes_or_fails(workspace: Workspace):
    """Normal exit and sys.exit(0) complete; an exception or exit(1) fails."""
    experiment = Experiment(workspace, "life")
    with experiment.start_logging() as ok:
        ok.log("a", 1)
    with pytest.raises(ValueError), experiment.start_logging() as bad:
        raise ValueError("broken")
    with experiment.start_logging() as zero:
        sys.exit(0)
    with pytest.raises(SystemExit), experiment.start_logging() as one:
        sys.exit(1)

    assert ok.get_status() == "Completed"
    assert bad.get_status() == "Failed"
    assert bad.get_details()["error"]["error"]["message"] == (
        "User program failed with ValueError: broken"
    )
    assert zero.get_status() == "Completed"
    assert one.get_status() == "Failed"


def test_logging_after_complete_warns_once_and_is_kept(workspace: Workspace):
    """As in Azure ML, values logged after complete() are stored."""
    run = _start(workspace)
    run.log("a", 1)
    run.complete()

    with pytest.warns(RuntimeWarning, match="already Completed"):
        run.log("a", 2)
    run.log("late", 3)

    assert run.get_metrics() == {"a": [1, 2], "late": 3}


def test_dead_process_reads_not_responding(workspace: Workspace, tmp_path):
    """A run whose process died without ending stops reading Running."""
    ep = workspace.endpoints
    code = textwrap.dedent(
        f"""
        import os
        from runstream import Experiment, Workspace
        ws = Workspace(
            {ep.workspace!r},
            kafka_bootstrap={ep.kafka_bootstrap!r},
            server_url={ep.server_url!r},
            artifacts_url={ep.artifacts_url!r},
            topic={ep.topic!r},
        )
        run = Experiment(ws, "life").start_logging()
        run.flush()
        print("run_id=" + run.id, flush=True)
        os._exit(1)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUNSTREAM_HEARTBEAT_S": "0.3"},
        check=False,
    )
    run = Run(Experiment(workspace, "life"), _run_id(result.stdout))

    deadline = time.monotonic() + 30
    while run.get_status() == "Running" and time.monotonic() < deadline:
        time.sleep(0.3)

    assert run.get_status() == "NotResponding"


def test_run_lookup_and_listing(workspace: Workspace):
    """Run(), get_runs() newest first with filters, and Experiment.list."""
    experiment = Experiment(workspace, "listing")
    first = experiment.start_logging(tags={"kind": "a"})
    first.add_properties({"owner": "me"})
    first.complete()
    second = experiment.start_logging(tags={"kind": "b"})
    child = second.child_run()
    Experiment(workspace, "other").start_logging()

    assert Run(experiment, first.id).get_status() == "Completed"
    with pytest.raises(NotFoundError):
        Run(experiment, "no-such-run")
    with pytest.raises(NotFoundError, match="belongs to experiment"):
        Run(Experiment(workspace, "other"), first.id)
    with pytest.raises(InvalidArgumentError):
        Run(experiment, "")
    ids = [r.id for r in experiment.get_runs()]
    assert ids == [second.id, first.id]
    assert [r.id for r in experiment.get_runs(tags={"kind": "a"})] == [
        first.id
    ]
    assert [r.id for r in experiment.get_runs(tags="kind")] == ids
    assert [r.id for r in experiment.get_runs(properties="owner")] == [
        first.id
    ]
    assert [r.id for r in experiment.get_runs(status="Running")] == [second.id]
    assert child.id in {
        r.id for r in experiment.get_runs(include_children=True)
    }
    assert [e.name for e in Experiment.list(workspace)] == [
        "listing",
        "other",
    ]


def test_child_runs_parent_and_recursive_metrics(workspace: Workspace):
    """child_run() is Running; children list; recursive get_metrics."""
    parent = _start(workspace)
    child = parent.child_run(name="c")
    grandchild = child.child_run()
    parent.log("A", 1)
    child.log("A", 2)

    assert child.get_status() == "Running"
    assert child.parent.id == parent.id
    assert parent.parent is None
    assert child.display_name == "c"
    assert [r.id for r in parent.get_children()] == [child.id]
    assert {r.id for r in parent.get_children(recursive=True)} == {
        child.id,
        grandchild.id,
    }
    assert parent.get_metrics() == {"A": 1}
    assert parent.get_metrics(recursive=True) == {
        parent.id: {"A": 1},
        child.id: {"A": 2},
    }


def test_portal_url_is_the_servers_run_page(workspace: Workspace):
    """get_portal_url() points at <server>/runs/<id>, which answers."""
    run = _start(workspace)
    run.log("loss", 0.5)
    # The page serves what the store holds; a read through the handle
    # waits until that includes this run's events.
    run.get_details()

    url = run.get_portal_url()
    page = httpx.get(url, timeout=30)

    assert url.startswith(f"{workspace.endpoints.server_url}/runs/{run.id}")
    assert page.status_code == 200
    assert run.id in page.text and "loss" in page.text


def test_threads_logging_to_one_run_keep_every_point(workspace: Workspace):
    """Four threads logging to one run lose nothing."""
    run = _start(workspace)

    def log_some(worker: int) -> None:
        for i in range(2_000):
            run.log(f"w{worker}", i)
            run.log_row("all", worker=worker, i=i)

    threads = [threading.Thread(target=log_some, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics = run.get_metrics()

    for worker in range(4):
        assert metrics[f"w{worker}"] == list(range(2_000))
    assert len(metrics["all"]["i"]) == 8_000
    assert sorted(metrics["all"]["worker"]) == sorted(
        [w for w in range(4) for _ in range(2_000)]
    )
