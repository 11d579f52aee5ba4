"""The JSON response of the query API."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from runstream.query._json import tag_floats


class JSONBody(Response):
    """JSON with tagged non-finite floats, so no value is lost.

    Routes return it themselves: a plain dict would pass through FastAPI's
    encoder, which turns NaN and infinities into null first.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            tag_floats(content), allow_nan=False, ensure_ascii=False
        ).encode("utf-8")
