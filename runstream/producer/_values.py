"""Check and convert what users log, before anything is queued.

A value becomes a :class:`Cell`: its type code, the double that charts and
aggregates use, and the exact int or text where a double would lose it.
Awkward valid values are kept faithfully: NaN, infinities, -0.0, numpy
scalars and 0-d tensors (anything with ``.item()``), bools, ``Decimal``,
integers beyond 64 bits, unicode.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

from runstream._limits import (
    MAX_BIGINT_BITS,
    MAX_COLUMNS,
    MAX_EVENT_BYTES,
    MAX_NAME_CHARS,
    MAX_STRING_BYTES,
)
from runstream._wire.values import INT64_MAX, INT64_MIN, ValueType
from runstream.errors import InvalidArgumentError, InvalidTypeError

_NAN = float("nan")


class Cell(NamedTuple):
    """One metric value ready for the wire."""

    type: ValueType
    double: float
    exact_int: int | None = None
    text: str | None = None
    #: UTF-8 size of ``text``, for bounding event sizes.
    text_bytes: int = 0


def _to_double(value: int | Decimal | Fraction) -> float:
    """Return the nearest double, or an infinity past the double range."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _utf8_size(call: str, argument: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            call,
            argument,
            "must be valid unicode text (it holds a lone surrogate at "
            f"index {exc.start})",
            text,
        ) from exc


def check_name(call: str, argument: str, name: object) -> str:
    """Return ``name`` if it is a usable metric, column or tag name."""
    if not isinstance(name, str):
        raise InvalidTypeError(call, argument, "must be a str", name)
    if not name:
        raise InvalidArgumentError(call, argument, "must not be empty", name)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgumentError(
            call,
            argument,
            f"must be at most {MAX_NAME_CHARS} characters "
            f"(it has {len(name)})",
            name,
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidArgumentError(
            call, argument, "must not contain control characters", name
        )
    _utf8_size(call, argument, name)

    return name


def _unwrap(value: Any) -> Any:
    """Turn numpy scalars, 0-d arrays and tensors into Python scalars."""
    if isinstance(value, (str, bytes, bool, int, float)) or value is None:
        return value

    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            # .item() of an array with more than one element refuses; the
            # caller then reports the original value's type.
            return value

    return value


def to_cell(call: str, argument: str, value: Any) -> Cell:
    """Convert one logged value, or raise an error naming the rule."""
    value = _unwrap(value)

    if value is None:
        return Cell(ValueType.NONE, _NAN)
    if isinstance(value, bool):
        return Cell(ValueType.BOOL, 1.0 if value else 0.0)
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return Cell(ValueType.INT, float(value), exact_int=value)
        if value.bit_length() > MAX_BIGINT_BITS:
            raise InvalidArgumentError(
                call,
                argument,
                f"must be an integer of at most {MAX_BIGINT_BITS} bits "
                f"(it has {value.bit_length()}); log it with str() instead",
                f"<int of {value.bit_length()} bits>",
            )
        # Beyond 64 bits: exact as decimal text, approximate as a double.
        text = str(value)
        return Cell(
            ValueType.BIGINT,
            _to_double(value),
            text=text,
            text_bytes=len(text),
        )
    if isinstance(value, float):
        return Cell(ValueType.FLOAT, float(value))
    if isinstance(value, Decimal) and value.is_nan():
        return Cell(ValueType.FLOAT, _NAN)
    if isinstance(value, (Decimal, Fraction)):
        return Cell(ValueType.FLOAT, _to_double(value))
    if isinstance(value, numbers.Integral):
        return to_cell(call, argument, int(value))
    if isinstance(value, numbers.Real):
        return Cell(ValueType.FLOAT, float(value))
    if isinstance(value, str):
        size = _utf8_size(call, argument, value)
        if size > MAX_STRING_BYTES:
            raise InvalidArgumentError(
                call,
                argument,
                f"must be at most {MAX_STRING_BYTES} bytes of UTF-8 "
                f"(it has {size}); upload long text with upload_file()",
                value,
            )
        return Cell(ValueType.STRING, _NAN, text=value, text_bytes=size)

    raise InvalidTypeError(
        call,
        argument,
        "must be an int, float, bool, str, None or a numpy scalar "
        f"(got a {type(value).__name__})",
        value,
    )


def to_scalar_cell(call: str, value: Any) -> Cell:
    """Convert the value of ``Run.log``, refusing sequences."""
    if (
        isinstance(value, (list, tuple, range, set, frozenset))
        or hasattr(value, "__next__")
        or getattr(value, "ndim", 0) >= 1
    ):
        raise InvalidTypeError(
            call,
            "value",
            "must be a single value; log a sequence with log_list()",
            value,
        )

    return to_cell(call, "value", value)


def to_list_cells(call: str, values: Any) -> list[Cell]:
    """Convert the elements of ``Run.log_list``.

    As in Azure ML, a list of ints that holds any float reads back as floats.
    """
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(
        values, Iterable
    ):
        raise InvalidTypeError(
            call,
            "value",
            "must be an iterable of values (a list, tuple, generator or "
            "1-d array)",
            values,
        )

    cells = [
        to_cell(call, f"value[{i}]", item) for i, item in enumerate(values)
    ]
    has_float = any(c.type == ValueType.FLOAT for c in cells)
    if has_float:
        cells = [
            Cell(ValueType.FLOAT, c.double) if c.type == ValueType.INT else c
            for c in cells
        ]

    return cells


def check_row_size(
    call: str, argument: str, names: list[str], cells: list[Cell]
) -> None:
    """Refuse a row that cannot fit in one event (rows are never split)."""
    size = sum(
        len(n) * 4 + 40 + c.text_bytes
        for n, c in zip(names, cells, strict=True)
    )
    if size > MAX_EVENT_BYTES // 2:
        raise InvalidArgumentError(
            call,
            argument,
            f"must make rows of at most {MAX_EVENT_BYTES // 2} bytes "
            f"(a row has about {size}); upload large text with upload_file()",
            names[:5],
        )


def to_table_columns(
    call: str, table: Mapping[str, Any]
) -> tuple[list[str], list[list[Cell]]]:
    """Convert ``Run.log_table``'s dict of columns into rows of cells.

    A bare scalar stands for a one-element column. Columns must all have the
    same length.
    """
    if not isinstance(table, Mapping):
        raise InvalidTypeError(
            call, "value", "must be a dict of column name to list", table
        )
    if len(table) > MAX_COLUMNS:
        raise InvalidArgumentError(
            call,
            "value",
            f"must have at most {MAX_COLUMNS} columns (it has {len(table)})",
            list(table)[:5],
        )

    names: list[str] = []
    columns: list[list[Cell]] = []
    for key, column in table.items():
        name = check_name(call, f"value key {key!r}", key)
        if isinstance(column, Mapping):
            raise InvalidTypeError(
                call,
                f"value[{name!r}]",
                "must be a list of values or one value, not a dict",
                column,
            )
        if (
            isinstance(column, (str, bytes))
            or not isinstance(column, Iterable)
            or getattr(column, "ndim", None) == 0
        ):
            column = [column]
        names.append(name)
        columns.append(
            [
                to_cell(call, f"value[{name!r}][{i}]", item)
                for i, item in enumerate(column)
            ]
        )

    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        shown = {n: len(c) for n, c in zip(names, columns, strict=True)}
        raise InvalidArgumentError(
            call,
            "value",
            "must have columns of equal length",
            shown,
        )

    rows = [list(row) for row in zip(*columns, strict=True)]
    for row in rows:
        check_row_size(call, "value", names, row)
    return names, rows


def to_row_cells(
    call: str, row: Mapping[str, Any]
) -> tuple[list[str], list[Cell]]:
    """Convert ``Run.log_row``'s keyword arguments into one row of cells."""
    if len(row) > MAX_COLUMNS:
        raise InvalidArgumentError(
            call,
            "**kwargs",
            f"must have at most {MAX_COLUMNS} columns (it has {len(row)})",
            list(row)[:5],
        )

    names: list[str] = []
    cells: list[Cell] = []
    for key, value in row.items():
        names.append(check_name(call, key, key))
        if isinstance(value, (list, tuple, range, set, dict)):
            raise InvalidTypeError(
                call,
                key,
                "must be a single value: a row holds one value per column; "
                "log several rows with log_table()",
                value,
            )
        cells.append(to_cell(call, key, value))

    check_row_size(call, "**kwargs", names, cells)
    return names, cells
