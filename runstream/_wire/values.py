"""The type codes of metric values, as the ``value_types`` bytes carry them."""

from __future__ import annotations

from enum import IntEnum


class ValueType(IntEnum):
    """How one metric value was logged, so it reads back as the same type."""

    NONE = 0
    BOOL = 1
    INT = 2
    FLOAT = 3
    STRING = 4
    #: An integer outside the signed 64-bit range, carried as decimal text.
    BIGINT = 5


INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
