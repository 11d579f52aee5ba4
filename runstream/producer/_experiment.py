"""``Experiment``: a named group of runs in a workspace."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runstream.errors import InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from runstream.producer._run import Run
    from runstream.producer._script import ScriptRun, ScriptRunConfig
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
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
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
            self,
            run_id=run_id,
            outputs=outputs,
            display_name=display_name,
            description=description,
            tags=tags,
        )

    def submit(
        self,
        config: ScriptRunConfig,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        **_ignored: Any,
    ) -> ScriptRun:
        """Run a ``ScriptRunConfig``'s script in a new process; return its run.

        Returns at once: the script runs in the background. Follow it with
        ``run.wait_for_completion(show_output=True)``.
        """
        from runstream.producer._script import submit

        return submit(self, config, dict(tags) if tags else None, run_id)

    def get_runs(
        self,
        type: str | None = None,  # noqa: A002 (Azure ML's parameter name)
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
        status: str | None = None,
    ) -> Iterator[Run]:
        """Yield the experiment's runs, newest first.

        Top-level runs only unless ``include_children``. ``tags`` /
        ``properties``: a key, a list of keys, or a dict of values the runs
        must have; ``type`` and ``status`` match exactly.
        """
        from runstream.producer._run import Run

        records = self.workspace._query.list_runs(
            self.workspace.name,
            self.name,
            {
                "tags": tags,
                "properties": properties,
                "run_type": type,
                "status": status,
                "include_children": include_children,
            },
        )
        for record in records:
            yield Run._from_record(self, record)

    @staticmethod
    def list(
        workspace: Workspace,
        experiment_name: str | None = None,
        view_type: str = "ActiveOnly",
        tags: Any = None,
    ) -> builtins.list[Experiment]:
        """Return the workspace's experiments (those with runs), by name."""
        found = workspace._query.list_experiments(workspace.name)
        return [
            Experiment(workspace, e["name"])
            for e in found
            if experiment_name is None or e["name"] == experiment_name
        ]

    def __repr__(self) -> str:
        return (
            f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"
        )
