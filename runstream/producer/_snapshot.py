"""The snapshot of a submitted script's folder: a zip, minus ignored files.

The ignore file is ``.runstreamignore``, else ``.amlignore``, else
``.gitignore``, in the folder's top level, in gitignore syntax (``#``
comments, ``!`` re-includes, a trailing ``/`` for folders only, a leading
or inner ``/`` anchors the pattern to the folder). A snapshot holds at
most 2,000 files and 300 MB, as in Azure ML.
"""

from __future__ import annotations

import fnmatch
import zipfile
from pathlib import Path

from runstream.errors import InvalidArgumentError

#: Where a run keeps its snapshot; also its ``ContentSnapshotId``.
SNAPSHOT_ARTIFACT = "snapshot/source.zip"
IGNORE_FILES = (".runstreamignore", ".amlignore", ".gitignore")
MAX_SNAPSHOT_FILES = 2_000
MAX_SNAPSHOT_BYTES = 300 * 1024 * 1024
#: Never worth copying: version control and bytecode caches.
_ALWAYS_IGNORED = (".git/", "__pycache__/", ".ipynb_checkpoints/")


def _rules(folder: Path) -> list[tuple[bool, bool, bool, str]]:
    """Return (negated, folders only, anchored, pattern) per ignore line."""
    lines = list(_ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        ignore = folder / name
        if ignore.is_file():
            lines += ignore.read_text(encoding="utf-8").splitlines()
            break

    rules = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!")
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        rules.append((negated, dir_only, anchored, line.lstrip("/")))

    return rules


def _matches(
    rule: tuple[bool, bool, bool, str], parts: list[str], is_dir: bool
) -> bool:
    _, dir_only, anchored, pattern = rule
    if dir_only and not is_dir:
        return False
    if anchored:
        return fnmatch.fnmatchcase("/".join(parts), pattern)
    return fnmatch.fnmatchcase(parts[-1], pattern)


def is_ignored(
    rules: list[tuple[bool, bool, bool, str]], relative: str, is_dir: bool
) -> bool:
    """Whether a path (relative, with ``/``) is ignored; last rule wins."""
    parts = relative.split("/")
    # A file inside an ignored folder is ignored with it.
    for depth in range(1, len(parts)):
        if _decide(rules, parts[:depth], True):
            return True

    return _decide(rules, parts, is_dir)


def _decide(
    rules: list[tuple[bool, bool, bool, str]], parts: list[str], is_dir: bool
) -> bool:
    ignored = False
    for rule in rules:
        if _matches(rule, parts, is_dir):
            ignored = not rule[0]

    return ignored


def snapshot_files(
    call: str, folder: Path, argument: str = "source_directory"
) -> list[Path]:
    """Return the files a snapshot of ``folder`` holds, checked for size."""
    rules = _rules(folder)
    files = []
    total = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        if is_ignored(rules, relative, False):
            continue
        files.append(path)
        total += path.stat().st_size
        if len(files) > MAX_SNAPSHOT_FILES or total > MAX_SNAPSHOT_BYTES:
            raise InvalidArgumentError(
                call,
                argument,
                f"must hold at most {MAX_SNAPSHOT_FILES} files and "
                f"{MAX_SNAPSHOT_BYTES // 2**20} MB once ignored files are "
                f"left out; list data and outputs in {IGNORE_FILES[0]}",
                str(folder),
            )

    return files


def write_snapshot(folder: Path, files: list[Path], target: Path) -> None:
    """Write ``files`` (under ``folder``) into the zip ``target``."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
