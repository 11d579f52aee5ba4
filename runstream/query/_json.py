"""JSON that keeps every float: NaN and infinities as tagged objects.

Plain JSON has no NaN or infinity. runstream writes them as
``{"$float": "NaN"}``, ``{"$float": "Infinity"}`` and
``{"$float": "-Infinity"}`` so any JSON parser (a browser's included) reads
the body, and the Python client turns them back into floats. ``-0.0`` is
plain JSON and survives as it is. A user's own key that starts with ``$``
(a table column named ``$float``) gets one more ``$`` on the wire, so it is
never taken for a tag.
"""

from __future__ import annotations

import math
from typing import Any

FLOAT_TAG = "$float"


def tag_floats(value: Any) -> Any:
    """Return ``value`` with non-finite floats replaced by tagged objects."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return {FLOAT_TAG: "NaN"}
        return {FLOAT_TAG: "Infinity" if value > 0 else "-Infinity"}
    if isinstance(value, dict):
        return {_escape(k): tag_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tag_floats(v) for v in value]

    return value


def untag_float(obj: dict[str, Any]) -> Any:
    """``json.loads`` object hook that reverses :func:`tag_floats`."""
    if len(obj) == 1 and FLOAT_TAG in obj:
        return float(obj[FLOAT_TAG])

    return {_unescape(k): v for k, v in obj.items()}


def _escape(key: Any) -> Any:
    return "$" + key if isinstance(key, str) and key.startswith("$") else key


def _unescape(key: str) -> str:
    return key[1:] if key.startswith("$$") else key
