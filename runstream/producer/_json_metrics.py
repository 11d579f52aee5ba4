"""The four JSON metric kinds: confusion matrix, accuracy table, residuals
and predictions.

As in Azure ML, each call stores its value as a JSON file named exactly
after the metric, and logs one point of kind ``azureml.v2.<kind>`` whose
value is that file's ``aml://`` URI. The payload is not checked against
Azure ML's schemas (``schema_type``, ``data``...): any JSON object goes.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from runstream.errors import InvalidArgumentError, InvalidTypeError

#: Avro metric kind of each call, by the call's name.
JSON_KINDS = {
    "log_confusion_matrix": "CONFUSION_MATRIX",
    "log_accuracy_table": "ACCURACY_TABLE",
    "log_residuals": "RESIDUALS",
    "log_predictions": "PREDICTIONS",
}


def metric_type(kind: str) -> str:
    """Return Azure ML's ``uxMetricType`` of a stored kind (``image``...)."""
    return f"azureml.v2.{kind.lower()}"


def _plain(value: Any) -> Any:
    # numpy arrays and scalars (a confusion matrix from scikit-learn is an
    # ndarray) become lists and numbers, as everywhere else in the SDK.
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_payload(call: str, value: Any) -> bytes:
    """Return the JSON bytes stored for ``value``: a dict or a JSON str."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                call,
                "value",
                f"must be valid JSON when given as a str ({exc.msg} at "
                f"line {exc.lineno}, column {exc.colno})",
                value,
            ) from exc
        if not isinstance(value, dict):
            raise InvalidArgumentError(
                call, "value", "must hold a JSON object when a str", value
            )
    if not isinstance(value, dict):
        raise InvalidTypeError(
            call, "value", "must be a dict or a str of JSON", value
        )

    try:
        text = json.dumps(value, default=_plain)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            call,
            "value",
            f"must hold only JSON values, lists and numpy arrays ({exc})",
            value,
        ) from exc

    return text.encode("utf-8")


@attrs.frozen
class ArtifactData:
    """A file-backed metric read with ``get_metrics(populate=True)``.

    ``path`` is the run file, ``data`` its bytes, ``data_location`` the
    ``aml://`` URI the metric holds.
    """

    path: str
    data: bytes
    metric_type: str = "azureml.v2.image"
    data_location: str = ""


@attrs.frozen
class JsonArtifact(ArtifactData):
    """A confusion matrix, accuracy table, residuals or predictions read
    with ``get_metrics(populate=True)``."""

    def convert_to_object(self) -> Any:
        """Return the parsed JSON, or None if the bytes are not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None
