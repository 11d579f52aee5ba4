"""Locate the files runstream ships beside its code: schemas and deploy.

An installed wheel carries them under ``runstream/_bundled``; a source
checkout (including an editable install) keeps them at the top of the
repository, one level above the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _locate(*parts: str) -> Path:
    bundled = _PACKAGE_DIR.joinpath("_bundled", *parts)
    if bundled.exists():
        return bundled

    checkout = _PACKAGE_DIR.parent.joinpath(*parts)
    if checkout.exists():
        return checkout

    raise FileNotFoundError(
        f"runstream cannot find {'/'.join(parts)!r} beside its package "
        f"({bundled} or {checkout}); reinstall runstream."
    )


def schemas_dir() -> Path:
    """Return the folder that holds the Avro ``.avsc`` contract."""
    return _locate("schemas")


def deploy_dir(component: str) -> Path:
    """Return the deploy folder of one infrastructure component."""
    return _locate("deploy", component)
