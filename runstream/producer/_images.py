"""What ``Run.log_image`` stores: an image file, or a plot saved as PNG.

The file type is read from the file's first bytes, as Azure ML's client
does with the (since removed) ``imghdr`` module, so a text file named
``.png`` is refused.
"""

from __future__ import annotations

import io
import os
import posixpath
import time
from pathlib import Path
from typing import Any

from runstream.errors import InvalidArgumentError, InvalidTypeError
from runstream.producer._artifacts import check_artifact_name

#: Leading bytes of the image formats log_image accepts, and their types.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff_image(head: bytes) -> str | None:
    """Return the content type of an image from its first bytes, or None."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"

    return None


def image_from_path(call: str, path: Any) -> tuple[str, bytes, str]:
    """Return artifact name, bytes and content type of an image file.

    The artifact is named after the path when it is relative to the
    current folder (``plots/roc.png``), else after the file's base name.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(call, "path", "must be a file path", path)
    file = Path(path)
    if not file.is_file():
        raise InvalidArgumentError(
            call, "path", "must name an existing image file", str(path)
        )

    data = file.read_bytes()
    content_type = sniff_image(data[:32])
    if content_type is None:
        raise InvalidArgumentError(
            call,
            "path",
            "must be an image (PNG, JPEG, GIF, BMP, TIFF or WebP); this "
            "file is not one. Use upload_file() for other files",
            str(path),
        )

    raw = os.fspath(path)
    try:
        name = check_artifact_name(call, raw)
    except InvalidArgumentError:
        name = posixpath.basename(Path(raw).as_posix())

    return name, data, content_type


def image_from_plot(call: str, name: str, plot: Any) -> tuple[str, bytes, str]:
    """Return artifact name, PNG bytes and content type of a plot.

    ``plot`` is anything with ``savefig`` (``matplotlib.pyplot`` or a
    Figure); the artifact is ``<name>_<unix seconds>.png``.
    """
    savefig = getattr(plot, "savefig", None)
    if not callable(savefig):
        raise InvalidTypeError(
            call,
            "plot",
            "must have a savefig() method (matplotlib.pyplot or a Figure)",
            plot,
        )

    buffer = io.BytesIO()
    savefig(buffer, format="png")
    artifact = check_artifact_name(call, f"{name}_{int(time.time())}.png")
    return artifact, buffer.getvalue(), "image/png"
