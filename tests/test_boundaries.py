"""Tests that keep runstream's package boundaries and public surface."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import runstream

PACKAGE_DIR = Path(runstream.__file__).resolve().parent

#: Per subpackage, the modules its code must never import.
FORBIDDEN = {
    "producer": ("runstream.consumer", "runstream._store"),
    "query": ("runstream.producer", "runstream.consumer"),
}
HEAVY_MODULES = (
    "chdb",
    "pyarrow",
    "fastapi",
    "uvicorn",
    "matplotlib",
    "IPython",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Return every module a file imports, at any depth, made absolute."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]

    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: str) -> set[str]:
    """Return what ``source`` imports, relative names from ``package``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)

    return found


def _files(subpackage: str | None = None) -> list[Path]:
    root = PACKAGE_DIR / subpackage if subpackage else PACKAGE_DIR
    return sorted(root.rglob("*.py"))


def _is_within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize(
    ("subpackage", "forbidden"),
    [pytest.param(k, v, id=k) for k, v in FORBIDDEN.items()],
)
def test_subpackage_never_imports_across_its_boundary(subpackage, forbidden):
    """The producer never imports the consumer or the store; the query
    layer never imports code that writes events."""
    files = _files(subpackage)

    crossings = {
        f"{path.relative_to(PACKAGE_DIR)} imports {module}"
        for path in files
        for module in _imports(path)
        if any(_is_within(module, prefix) for prefix in forbidden)
    }

    assert files
    assert crossings == set()


def test_package_never_imports_deploy():
    """Nothing in runstream imports the deploy folder's code."""

    crossings = {
        f"{path.relative_to(PACKAGE_DIR)} imports {module}"
        for path in _files()
        for module in _imports(path)
        if "deploy" in module.split(".")
    }

    assert crossings == set()


def test_import_walker_sees_function_level_and_relative_imports():
    """The walker finds imports inside functions and resolves relative ones."""
    source = (
        "def f():\n"
        "    from runstream.consumer import Materializer\n"
        "from .._store import open_store\n"
        "from . import _values\n"
    )

    found = _imports_of(source, "runstream.producer")

    assert "runstream.consumer" in found
    assert "runstream._store" in found
    assert "runstream.producer._values" in found


def test_sdk_import_loads_no_server_dependencies():
    """Importing the SDK (and its notebook widget) loads neither chdb,
    pyarrow, fastapi, uvicorn, matplotlib nor IPython."""
    code = (
        "import json, sys\n"
        "import runstream\n"
        "from runstream import Workspace, Experiment, Run\n"
        "from runstream.widgets import RunDetails\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "                        if m.split('.')[0] in heavy)))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=PACKAGE_DIR.parent,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_all_lists_exactly_the_public_names():
    """runstream.__all__ is the sorted list of its public, non-module names."""
    public = [
        name
        for name, value in vars(runstream).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    ]

    assert runstream.__all__ == sorted(public)
