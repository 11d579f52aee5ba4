"""``Run.wait_for_completion``: poll a run, print its driver log as it grows.

The wait polls the run's status every half second at first, slowing to
one poll every ten seconds after a few minutes.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from runstream.errors import RunFailedError

if TYPE_CHECKING:
    from runstream.producer._run import Run

_ENDED = frozenset({"Completed", "Failed", "Canceled"})
_RULE = "=" * 60


def poll_interval_s(elapsed_s: float) -> float:
    """Seconds between two polls, ``elapsed_s`` into the wait."""
    return min(10.0, 0.5 + elapsed_s / 20)


class _LogFollower:
    """Prints new text of a run's driver log, once it has any."""

    def __init__(self, run: Run) -> None:
        from runstream.producer._run import DRIVER_LOG

        self.run = run
        self.name = DRIVER_LOG
        self.offset = 0

    def print_new(self) -> None:
        workspace = self.run._workspace
        chunk = workspace._query.get_log(
            workspace.name, self.run.id, self.name, self.offset
        )
        if not chunk["text"]:
            return
        if self.offset == 0:
            print(f"Streaming {self.name}\n{_RULE}\n")
        sys.stdout.write(chunk["text"])
        sys.stdout.flush()
        self.offset = chunk["next_offset"]


def wait_for_run(
    run: Run, show_output: bool, raise_on_error: bool
) -> dict[str, Any]:
    """Wait until ``run`` has ended; return its details (see the method)."""
    follower = _LogFollower(run) if show_output else None
    if show_output:
        print(f"RunId: {run.id}\nWeb View: {run.get_portal_url()}\n")

    started = time.monotonic()
    while True:
        status = run.get_status()
        if follower is not None:
            follower.print_new()
        if status in _ENDED:
            break
        time.sleep(poll_interval_s(time.monotonic() - started))

    details = run.get_details()
    if show_output:
        _print_summary(run, details)
    if status == "Failed" and raise_on_error:
        error = details.get("error", {})
        raise RunFailedError(
            f"Run {run.id} failed:\n{json.dumps(error, indent=4)}", details
        )

    return details


def _print_summary(run: Run, details: dict[str, Any]) -> None:
    lines = [
        "",
        "Execution Summary",
        "=================",
        f"RunId: {run.id}",
        f"Web View: {run.get_portal_url()}",
        f"Status: {details['status']}",
    ]
    if "error" in details:
        lines.append(f"Error: {json.dumps(details['error'], indent=4)}")
    print("\n".join(lines) + "\n")
