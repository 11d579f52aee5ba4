"""Tests for the checks and conversions of logged values (``_values``)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from runstream._limits import MAX_COLUMNS, MAX_NAME_CHARS, MAX_STRING_BYTES
from runstream._wire.values import ValueType
from runstream.errors import InvalidArgumentError, InvalidTypeError
from runstream.producer._values import (
    check_name,
    to_cell,
    to_list_cells,
    to_row_cells,
    to_scalar_cell,
    to_table_columns,
)

CALL = "Run.log()"


def _same_float(left: float, right: float) -> bool:
    """Return whether two doubles are equal, NaN and the sign of 0 included."""
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)

    return left == right and math.copysign(1, left) == math.copysign(1, right)


# -- conversions -------------------------------------------------------------

CONVERSIONS = [
    pytest.param(None, ValueType.NONE, math.nan, None, None, id="none"),
    pytest.param(True, ValueType.BOOL, 1.0, None, None, id="true"),
    pytest.param(False, ValueType.BOOL, 0.0, None, None, id="false"),
    pytest.param(0, ValueType.INT, 0.0, 0, None, id="int-zero"),
    pytest.param(-7, ValueType.INT, -7.0, -7, None, id="int-negative"),
    pytest.param(
        2**63 - 1,
        ValueType.INT,
        float(2**63 - 1),
        2**63 - 1,
        None,
        id="int64-max",
    ),
    pytest.param(
        -(2**63),
        ValueType.INT,
        float(-(2**63)),
        -(2**63),
        None,
        id="int64-min",
    ),
    pytest.param(
        2**63,
        ValueType.BIGINT,
        float(2**63),
        None,
        str(2**63),
        id="int64-max-plus-one",
    ),
    pytest.param(
        -(2**63) - 1,
        ValueType.BIGINT,
        float(-(2**63) - 1),
        None,
        str(-(2**63) - 1),
        id="int64-min-minus-one",
    ),
    pytest.param(
        2**100 + 1,
        ValueType.BIGINT,
        float(2**100),
        None,
        str(2**100 + 1),
        id="int-2-pow-100",
    ),
    pytest.param(0.25, ValueType.FLOAT, 0.25, None, None, id="float"),
    pytest.param(math.nan, ValueType.FLOAT, math.nan, None, None, id="nan"),
    pytest.param(math.inf, ValueType.FLOAT, math.inf, None, None, id="inf"),
    pytest.param(
        -math.inf, ValueType.FLOAT, -math.inf, None, None, id="minus-inf"
    ),
    pytest.param(-0.0, ValueType.FLOAT, -0.0, None, None, id="minus-zero"),
    pytest.param(
        Decimal("0.1"), ValueType.FLOAT, 0.1, None, None, id="decimal"
    ),
    pytest.param(
        Decimal("NaN"),
        ValueType.FLOAT,
        math.nan,
        None,
        None,
        id="decimal-nan",
    ),
    pytest.param(
        Decimal("-Infinity"),
        ValueType.FLOAT,
        -math.inf,
        None,
        None,
        id="decimal-minus-inf",
    ),
    pytest.param(
        Fraction(1, 3), ValueType.FLOAT, 1 / 3, None, None, id="fraction"
    ),
    pytest.param("", ValueType.STRING, math.nan, None, "", id="empty-str"),
    pytest.param(
        "loss ≈ 0.1 🚀 日本",
        ValueType.STRING,
        math.nan,
        None,
        "loss ≈ 0.1 🚀 日本",
        id="unicode-str",
    ),
    pytest.param(
        "a" * MAX_STRING_BYTES,
        ValueType.STRING,
        math.nan,
        None,
        "a" * MAX_STRING_BYTES,
        id="str-at-byte-limit",
    ),
    pytest.param(np.int64(-5), ValueType.INT, -5.0, -5, None, id="np-int64"),
    pytest.param(np.int8(3), ValueType.INT, 3.0, 3, None, id="np-int8"),
    pytest.param(
        np.uint64(2**64 - 1),
        ValueType.BIGINT,
        float(2**64 - 1),
        None,
        str(2**64 - 1),
        id="np-uint64-max",
    ),
    pytest.param(
        np.float64(2.5), ValueType.FLOAT, 2.5, None, None, id="np-float64"
    ),
    pytest.param(
        np.float32(0.1),
        ValueType.FLOAT,
        float(np.float32(0.1)),
        None,
        None,
        id="np-float32",
    ),
    pytest.param(
        np.float32("nan"),
        ValueType.FLOAT,
        math.nan,
        None,
        None,
        id="np-float32-nan",
    ),
    pytest.param(
        np.float64("-inf"),
        ValueType.FLOAT,
        -math.inf,
        None,
        None,
        id="np-float64-minus-inf",
    ),
    pytest.param(
        np.bool_(True), ValueType.BOOL, 1.0, None, None, id="np-bool-true"
    ),
    pytest.param(
        np.bool_(False), ValueType.BOOL, 0.0, None, None, id="np-bool-false"
    ),
    pytest.param(
        np.str_("abc"), ValueType.STRING, math.nan, None, "abc", id="np-str"
    ),
    pytest.param(np.array(7), ValueType.INT, 7.0, 7, None, id="0d-array-int"),
    pytest.param(
        np.array(1.5, dtype=np.float32),
        ValueType.FLOAT,
        1.5,
        None,
        None,
        id="0d-array-float32",
    ),
    pytest.param(
        np.array(True), ValueType.BOOL, 1.0, None, None, id="0d-array-bool"
    ),
]


@pytest.mark.parametrize(
    ("value", "value_type", "double", "exact_int", "text"), CONVERSIONS
)
def test_to_cell_converts_value(value, value_type, double, exact_int, text):
    """A valid value becomes a cell with its type, double, int and text."""

    cell = to_cell(CALL, "value", value)

    assert cell.type == value_type
    assert _same_float(cell.double, double)
    assert cell.exact_int == exact_int
    assert cell.text == text
    if exact_int is not None:
        assert type(cell.exact_int) is int
    assert isinstance(cell.double, float)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**400, id="positive"),
        pytest.param(-(10**400), id="negative"),
    ],
)
def test_to_cell_approximates_int_beyond_double_range_as_infinity(value):
    """An int too large for a double keeps its text and reads as +/-inf."""

    cell = to_cell(CALL, "value", value)

    assert cell.type == ValueType.BIGINT
    assert cell.text == str(value)
    assert cell.double == math.copysign(math.inf, value / abs(value))


@pytest.mark.parametrize(
    "value",
    [pytest.param(True, id="bool"), pytest.param(np.bool_(True), id="np")],
)
def test_to_cell_keeps_bool_apart_from_int(value):
    """A bool is logged as a bool, not as the int 1 that it subclasses."""

    cell = to_cell(CALL, "value", value)

    assert cell.type == ValueType.BOOL
    assert cell.exact_int is None


def test_to_cell_keeps_ints_exact_beyond_double_precision():
    """An int that a double would round keeps its exact value."""
    value = 2**53 + 1

    cell = to_cell(CALL, "value", value)

    assert cell.exact_int == value
    assert cell.double != value


def test_to_cell_does_not_leak_overflow_when_fraction_is_huge():
    """A Fraction beyond the double range gives a cell or a runstream error."""
    value = Fraction(10**400, 3)

    try:
        cell = to_cell(CALL, "value", value)
    except InvalidArgumentError:
        return

    assert cell.type == ValueType.FLOAT
    assert cell.double == math.inf


@pytest.mark.parametrize("text", ["NaN", "sNaN"], ids=["quiet", "signaling"])
def test_to_cell_reads_nan_decimal_as_float_nan(text):
    """A NaN Decimal, quiet or signalling, is kept as a float NaN."""

    cell = to_cell(CALL, "value", Decimal(text))

    assert cell.type == ValueType.FLOAT
    assert math.isnan(cell.double)


def test_to_cell_raises_invalid_argument_when_str_has_lone_surrogate():
    """A str that is not valid Unicode is refused before it is queued."""

    with pytest.raises(InvalidArgumentError) as caught:
        to_cell(CALL, "value", "bad \ud800 text")

    assert caught.value.argument == "value"


# -- unsupported types -------------------------------------------------------


class _Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        pytest.param({"a": 1}, "dict", id="dict"),
        pytest.param((1, 2), "tuple", id="tuple"),
        pytest.param([1], "list", id="list"),
        pytest.param(b"raw", "bytes", id="bytes"),
        pytest.param(1 + 2j, "complex", id="complex"),
        pytest.param(np.complex128(1j), "complex", id="np-complex"),
        pytest.param(_Opaque(), "_Opaque", id="object"),
        pytest.param(np.array([1.0, 2.0]), "ndarray", id="1d-array"),
    ],
)
def test_to_cell_raises_invalid_type_when_type_is_unsupported(
    value, type_name
):
    """An unsupported type is refused naming the argument and the types."""

    with pytest.raises(InvalidTypeError) as caught:
        to_cell(CALL, "value", value)

    error = caught.value
    assert isinstance(error, TypeError)
    assert isinstance(error, ValueError)
    assert error.argument == "value"
    assert error.value is value or error.value == value
    assert "must be an int, float, bool, str, None" in error.rule
    assert f"got a {type_name}" in error.rule
    assert str(error).startswith(f"{CALL}: 'value' must be an int")


def test_to_cell_raises_invalid_argument_when_str_is_too_long():
    """A string over the byte limit is refused, measured in UTF-8 bytes."""
    value = "é" * (MAX_STRING_BYTES // 2 + 1)

    with pytest.raises(InvalidArgumentError) as caught:
        to_cell(CALL, "value", value)

    error = caught.value
    assert not isinstance(error, TypeError)
    assert error.argument == "value"
    assert error.value == value
    assert f"at most {MAX_STRING_BYTES} bytes" in error.rule
    assert f"it has {MAX_STRING_BYTES + 2}" in error.rule
    assert "upload_file()" in str(error)


def test_invalid_argument_message_shortens_long_values():
    """The message shows at most 80 characters of the offending value."""
    value = "x" * (MAX_STRING_BYTES + 1)

    with pytest.raises(InvalidArgumentError) as caught:
        to_cell(CALL, "value", value)

    assert str(caught.value).endswith("...)")
    assert len(str(caught.value)) < 400


# -- names -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("loss", id="plain"),
        pytest.param("train/loss.val-1 x", id="punctuation"),
        pytest.param("精度 ✓", id="unicode"),
        pytest.param("n" * MAX_NAME_CHARS, id="at-limit"),
    ],
)
def test_check_name_returns_name_when_valid(name):
    """A usable name comes back unchanged."""

    checked = check_name(CALL, "name", name)

    assert checked == name


@pytest.mark.parametrize(
    ("name", "error_class", "rule"),
    [
        pytest.param(
            "", InvalidArgumentError, "must not be empty", id="empty"
        ),
        pytest.param(
            "n" * (MAX_NAME_CHARS + 1),
            InvalidArgumentError,
            f"must be at most {MAX_NAME_CHARS} characters (it has "
            f"{MAX_NAME_CHARS + 1})",
            id="too-long",
        ),
        pytest.param(
            "a\nb", InvalidArgumentError, "control characters", id="newline"
        ),
        pytest.param(
            "a\tb", InvalidArgumentError, "control characters", id="tab"
        ),
        pytest.param(
            "a\x00", InvalidArgumentError, "control characters", id="nul"
        ),
        pytest.param(
            "a\x7f", InvalidArgumentError, "control characters", id="del"
        ),
        pytest.param(None, InvalidTypeError, "must be a str", id="none"),
        pytest.param(3, InvalidTypeError, "must be a str", id="int"),
        pytest.param(b"loss", InvalidTypeError, "must be a str", id="bytes"),
    ],
)
def test_check_name_raises_when_name_breaks_a_rule(name, error_class, rule):
    """A bad name is refused naming the argument and the rule it breaks."""

    with pytest.raises(error_class) as caught:
        check_name(CALL, "name", name)

    error = caught.value
    assert error.argument == "name"
    assert rule in error.rule
    assert error.value == name
    assert str(error).startswith(f"{CALL}: 'name' {error.rule}")


def test_check_name_raises_when_name_has_lone_surrogate():
    """A name that is not valid Unicode is refused at the call."""

    with pytest.raises(InvalidArgumentError):
        check_name(CALL, "name", "loss\udc80")


# -- Run.log -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([1, 2], id="list"),
        pytest.param((1, 2), id="tuple"),
        pytest.param(range(3), id="range"),
        pytest.param({1, 2}, id="set"),
        pytest.param(frozenset({1}), id="frozenset"),
        pytest.param(iter([1, 2]), id="iterator"),
        pytest.param((x for x in [1]), id="generator"),
    ],
)
def test_to_scalar_cell_raises_invalid_type_when_value_is_a_sequence(value):
    """Run.log refuses a sequence and points to log_list()."""

    with pytest.raises(InvalidTypeError) as caught:
        to_scalar_cell(CALL, value)

    error = caught.value
    assert error.argument == "value"
    assert "must be a single value" in error.rule
    assert "log_list()" in error.rule


def test_to_scalar_cell_raises_invalid_type_when_value_is_a_1d_array():
    """Run.log refuses a numpy array of several values."""

    with pytest.raises(InvalidTypeError) as caught:
        to_scalar_cell(CALL, np.arange(3))

    assert caught.value.argument == "value"
    assert "log_list()" in caught.value.rule


def test_to_scalar_cell_converts_numpy_scalar():
    """Run.log takes a numpy scalar as a single value."""

    cell = to_scalar_cell(CALL, np.float64(0.5))

    assert (cell.type, cell.double) == (ValueType.FLOAT, 0.5)


# -- Run.log_list ------------------------------------------------------------


def test_to_list_cells_reads_ints_as_floats_when_any_float():
    """As in Azure ML, a list of ints with one float becomes all floats."""

    cells = to_list_cells(CALL, [1, 2.5, True, "s"])

    assert [c.type for c in cells] == [
        ValueType.FLOAT,
        ValueType.FLOAT,
        ValueType.BOOL,
        ValueType.STRING,
    ]
    assert [c.exact_int for c in cells] == [None, None, None, None]


def test_to_list_cells_keeps_ints_exact_when_no_float():
    """A list of only ints keeps each exact value."""

    cells = to_list_cells(CALL, np.array([1, 2**62], dtype=np.int64))

    assert [c.exact_int for c in cells] == [1, 2**62]
    assert {c.type for c in cells} == {ValueType.INT}


def test_to_list_cells_takes_a_generator():
    """A generator's values are taken in order."""

    cells = to_list_cells(CALL, (x / 2 for x in range(3)))

    assert [c.double for c in cells] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param("abc", id="str"),
        pytest.param(b"abc", id="bytes"),
        pytest.param({"a": 1}, id="dict"),
        pytest.param(5, id="int"),
        pytest.param(None, id="none"),
    ],
)
def test_to_list_cells_raises_invalid_type_when_not_a_sequence(values):
    """log_list refuses what is not an iterable of values."""

    with pytest.raises(InvalidTypeError) as caught:
        to_list_cells(CALL, values)

    assert caught.value.argument == "value"
    assert "must be an iterable of values" in caught.value.rule


def test_to_list_cells_names_the_index_of_a_bad_element():
    """A bad element is reported with its index."""

    with pytest.raises(InvalidTypeError) as caught:
        to_list_cells(CALL, [1.0, 2.0, {"x": 1}])

    assert caught.value.argument == "value[2]"
    assert "got a dict" in caught.value.rule


# -- Run.log_table -----------------------------------------------------------


def test_to_table_columns_turns_columns_into_rows():
    """Columns of equal length become rows, a bare scalar one cell."""

    names, rows = to_table_columns(
        "Run.log_table()", {"epoch": [1, 2], "acc": np.array([0.5, 0.75])}
    )

    assert names == ["epoch", "acc"]
    assert [[c.double for c in row] for row in rows] == [[1, 0.5], [2, 0.75]]
    assert [c.type for c in rows[0]] == [ValueType.INT, ValueType.FLOAT]


def test_to_table_columns_reads_bare_scalar_as_one_element_column():
    """A bare scalar or string stands for a one-element column."""

    names, rows = to_table_columns("Run.log_table()", {"a": 1, "b": "x"})

    assert names == ["a", "b"]
    assert rows == [[to_cell("", "", 1), to_cell("", "", "x")]]


def test_to_table_columns_reads_0d_array_as_one_element_column():
    """A 0-d numpy array stands for a one-element column, as a scalar does."""

    names, rows = to_table_columns("Run.log_table()", {"a": np.array(5)})

    assert names == ["a"]
    assert rows == [[to_cell("", "", 5)]]


def test_to_table_columns_raises_invalid_type_when_column_is_a_dict():
    """A dict as a column's values is refused, not read as its keys."""

    with pytest.raises(InvalidTypeError):
        to_table_columns("Run.log_table()", {"a": {"x": 1}})


def test_to_table_columns_raises_invalid_argument_when_ragged():
    """Columns of different lengths are refused, showing each length."""

    with pytest.raises(InvalidArgumentError) as caught:
        to_table_columns("Run.log_table()", {"a": [1, 2], "b": [1]})

    error = caught.value
    assert error.argument == "value"
    assert error.rule == "must have columns of equal length"
    assert error.value == {"a": 2, "b": 1}
    assert "'a': 2, 'b': 1" in str(error)


def test_to_table_columns_raises_invalid_argument_when_too_many_columns():
    """A table over the column limit is refused with its count."""
    table = {f"c{i}": [i] for i in range(MAX_COLUMNS + 1)}

    with pytest.raises(InvalidArgumentError) as caught:
        to_table_columns("Run.log_table()", table)

    assert caught.value.argument == "value"
    assert f"at most {MAX_COLUMNS} columns" in caught.value.rule
    assert f"it has {MAX_COLUMNS + 1}" in caught.value.rule


@pytest.mark.parametrize(
    "table",
    [
        pytest.param([1, 2], id="list"),
        pytest.param("abc", id="str"),
        pytest.param(None, id="none"),
    ],
)
def test_to_table_columns_raises_invalid_type_when_not_a_dict(table):
    """log_table refuses what is not a dict of columns."""

    with pytest.raises(InvalidTypeError) as caught:
        to_table_columns("Run.log_table()", table)

    assert caught.value.argument == "value"
    assert "must be a dict" in caught.value.rule


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("a\nb", "control characters", id="control"),
        pytest.param(3, "must be a str", id="int"),
    ],
)
def test_to_table_columns_raises_when_column_name_is_bad(key, rule):
    """A bad column name is refused, naming the key."""

    with pytest.raises(InvalidArgumentError) as caught:
        to_table_columns("Run.log_table()", {key: [1]})

    assert caught.value.argument == f"value key {key!r}"
    assert rule in caught.value.rule


def test_to_table_columns_names_column_and_row_of_a_bad_cell():
    """A bad cell is reported with its column and row."""

    with pytest.raises(InvalidTypeError) as caught:
        to_table_columns("Run.log_table()", {"a": [1, object()]})

    assert caught.value.argument == "value['a'][1]"


# -- Run.log_row -------------------------------------------------------------


def test_to_row_cells_converts_one_value_per_column():
    """Keyword arguments become column names and one cell each."""

    names, cells = to_row_cells(
        "Run.log_row()", {"epoch": np.int64(3), "acc": 0.5, "note": None}
    )

    assert names == ["epoch", "acc", "note"]
    assert [c.type for c in cells] == [
        ValueType.INT,
        ValueType.FLOAT,
        ValueType.NONE,
    ]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([1, 2], id="list"),
        pytest.param((1,), id="tuple"),
        pytest.param(range(2), id="range"),
        pytest.param({1}, id="set"),
        pytest.param({"a": 1}, id="dict"),
    ],
)
def test_to_row_cells_raises_invalid_type_when_value_is_a_collection(value):
    """log_row refuses several values in one column and names log_table()."""

    with pytest.raises(InvalidTypeError) as caught:
        to_row_cells("Run.log_row()", {"acc": value})

    error = caught.value
    assert error.argument == "acc"
    assert "must be a single value" in error.rule
    assert "log_table()" in error.rule
    assert error.value is value


def test_to_row_cells_raises_invalid_argument_when_too_many_columns():
    """A row over the column limit is refused, naming **kwargs."""
    row = {f"c{i}": i for i in range(MAX_COLUMNS + 1)}

    with pytest.raises(InvalidArgumentError) as caught:
        to_row_cells("Run.log_row()", row)

    assert caught.value.argument == "**kwargs"
    assert f"at most {MAX_COLUMNS} columns" in caught.value.rule


def test_to_row_cells_raises_invalid_argument_when_row_is_too_big():
    """A row too large for one event is refused, since rows never split."""
    row = {f"c{i}": "x" * MAX_STRING_BYTES for i in range(20)}

    with pytest.raises(InvalidArgumentError) as caught:
        to_row_cells("Run.log_row()", row)

    assert caught.value.argument == "**kwargs"
    assert "must make rows of at most" in caught.value.rule
    assert "upload_file()" in caught.value.rule


def test_to_table_columns_raises_invalid_argument_when_a_row_is_too_big():
    """A table with a row too large for one event is refused."""
    table = {f"c{i}": ["x" * MAX_STRING_BYTES] for i in range(20)}

    with pytest.raises(InvalidArgumentError) as caught:
        to_table_columns("Run.log_table()", table)

    assert caught.value.argument == "value"
    assert "must make rows of at most" in caught.value.rule


def test_to_row_cells_raises_invalid_argument_when_column_name_is_bad():
    """A column name with a control character is refused, naming it."""

    with pytest.raises(InvalidArgumentError) as caught:
        to_row_cells("Run.log_row()", {"a\x01": 1})

    assert caught.value.argument == "a\x01"
    assert "control characters" in caught.value.rule
