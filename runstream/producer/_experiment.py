"""``Experiment``: a named group of runs in a workspace."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runstream.errors import InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from runstream.producer._run import Run
    from runstream.producer._workspace import Workspace

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")


class Experiment:
    """A named group of runs; ``start_logging()`` starts one."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        if not isinstance(name, str):
            raise InvalidTypeError(
                "Experiment()", "name", "must be a str", name
            )
        if not _NAME.fullmatch(name):
            raise InvalidArgumentError(
                "Experiment()",
                "name",
                "must be 1-255 letters, digits, '_' or '-', starting with a "
                "letter or digit",
                name,
            )
        self.workspace = workspace
        self.name = name

    def start_logging(
        self,
        *,
        run_id: str | None = None,
        display_name: str | None = None,
        outputs: str | bool | None = None,
        **_ignored: Any,
    ) -> Run:
        """Start an interactive run (status Running) and return it.

        ``outputs``: the folder whose files are captured as
        ``outputs/<path>`` when the run ends: ``None``/``True`` for
        ``./outputs``, ``False`` for none, or another folder. The folder is
        created now.
        """
        from runstream.producer._run import Run

        return Run._start(
            self, run_id=run_id, display_name=display_name, outputs=outputs
        )

    def __repr__(self) -> str:
        return (
            f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"
        )
