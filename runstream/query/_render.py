"""Charts drawn as PNG or SVG, for notebooks and reports.

matplotlib loads only here, on the first render, with the Agg backend:
the server never opens a window and the rest of the API never pays for
the import.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping
from typing import Any

MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def render_chart(chart: Mapping[str, Any], fmt: str) -> bytes:
    """Return ``chart`` (as ``_charts`` or a series read shapes it) drawn
    in ``fmt``, ``png`` or ``svg``."""
    import matplotlib

    matplotlib.use("Agg")
    # Names are the user's text: "$x^2$ loss" is a name, not math, and
    # "cost $\\sqrt{$" must not fail the picture. Text objects read
    # text.parse_math when they are made, so the whole figure is built
    # inside the context.
    with matplotlib.rc_context({"text.parse_math": False}):
        return _draw(chart, fmt)


def _draw(chart: Mapping[str, Any], fmt: str) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.add_subplot()
    kind = chart["type"]
    data = chart["data"]
    if kind == "xy_line":
        axes.plot(_finite(data["points"]["x"]), _finite(data["points"]["y"]))
        axes.set_xlabel(_printable(data["x_column"]))
        axes.set_ylabel(_printable(data["y_column"]))
    elif kind == "image_gallery":
        _draw_gallery(axes, data["images"])
    else:
        for series in data["series"]:
            axes.plot(
                _finite(series["points"]["x"]),
                _finite(series["points"]["y"]),
                label=_printable(series["run_id"]),
            )
        axes.set_xlabel(data["x"])
        if len(data["series"]) > 1:
            axes.legend(fontsize="small")
    title = _printable(chart["name"])
    if data.get("downsampled"):
        title += f" (downsampled, {data['method']})"
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # A label in a script the bundled font lacks draws as boxes; that
        # is no reason to fail the picture.
        warnings.filterwarnings("ignore", "Glyph .* missing", UserWarning)
        figure.savefig(buffer, format=fmt, bbox_inches="tight")

    return buffer.getvalue()


def _printable(text: str) -> str:
    """Return text with control characters shown as U+FFFD."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def _finite(values: list[Any]) -> list[float]:
    """Return values with non-finite ones as NaN, which lines skip over."""
    return [
        v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan
        for v in values
    ]


def _draw_gallery(axes: Any, images: list[Mapping[str, Any]]) -> None:
    """List an image metric's references; the images stay artifacts."""
    axes.set_axis_off()
    lines = [f"step {i['step']}: {_printable(i['uri'])}" for i in images[:20]]
    if len(images) > 20:
        lines.append(f"... and {len(images) - 20} more")
    axes.text(
        0, 1, "\n".join(lines) or "(no images)", va="top", family="monospace"
    )
