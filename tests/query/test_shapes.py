"""Tests for get_metrics shapes and float-keeping JSON (``query``)."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pytest

from runstream._wire.values import ValueType
from runstream.query._json import FLOAT_TAG, tag_floats, untag_float
from runstream.query._reads import shape_metrics

#: The columns metrics_sql selects, in its order.
COLUMNS = (
    "name",
    "kind",
    "column_name",
    "step",
    "writer_id",
    "seq",
    "value_type",
    "value",
    "value_int",
    "value_str",
)


def _point(name, value, *, kind="scalar", column="", step=0, seq=1):
    """Return one points row as the store would hold ``value``."""
    if value is None:
        cells = (ValueType.NONE, math.nan, 0, "")
    elif isinstance(value, bool):
        cells = (ValueType.BOOL, float(value), 0, "")
    elif isinstance(value, int) and abs(value) >= 2**63:
        cells = (ValueType.BIGINT, float(value), 0, str(value))
    elif isinstance(value, int):
        cells = (ValueType.INT, float(value), value, "")
    elif isinstance(value, float):
        cells = (ValueType.FLOAT, value, 0, "")
    else:
        cells = (ValueType.STRING, math.nan, 0, value)
    return (name, kind, column, step, "w1", seq, *cells)


def _table(*points):
    """Return an Arrow table of points with metrics_sql's column types."""
    columns = list(zip(*points, strict=True)) if points else [()] * 10
    types = [
        pa.string(),
        pa.string(),
        pa.string(),
        pa.int64(),
        pa.string(),
        pa.uint64(),
        pa.uint8(),
        pa.float64(),
        pa.int64(),
        pa.string(),
    ]
    return pa.table(
        {
            name: pa.array(list(values), type_)
            for name, values, type_ in zip(
                COLUMNS, columns, types, strict=True
            )
        }
    )


# -- shape_metrics -----------------------------------------------------------


def test_shape_metrics_returns_empty_dict_when_no_points():
    """A run without points has no metrics."""

    shaped = shape_metrics(_table())

    assert shaped == {}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0.25, id="float"),
        pytest.param(7, id="int"),
        pytest.param(2**70, id="bigint"),
        pytest.param(True, id="bool"),
        pytest.param("text", id="str"),
        pytest.param(None, id="none"),
    ],
)
def test_shape_metrics_reads_single_scalar_bare(value):
    """A metric logged once reads as the bare value, in its own type."""

    shaped = shape_metrics(_table(_point("m", value)))

    assert shaped == {"m": value}
    assert type(shaped["m"]) is type(value)


def test_shape_metrics_reads_several_scalars_as_list():
    """A metric logged several times reads as a list in step order."""
    points = [_point("loss", v, step=i) for i, v in enumerate([0.5, 0.25])]

    shaped = shape_metrics(_table(*points))

    assert shaped == {"loss": [0.5, 0.25]}


def test_shape_metrics_keeps_each_value_type_in_mixed_series():
    """A series of mixed types reads each value back in its own type."""
    values = [1, 2.5, True, "s", None, 2**64]
    points = [
        _point("m", v, kind="list", step=i) for i, v in enumerate(values)
    ]

    shaped = shape_metrics(_table(*points))

    assert shaped["m"] == values
    assert [type(v) for v in shaped["m"]] == [type(v) for v in values]


def test_shape_metrics_keeps_special_floats():
    """NaN, infinities and -0.0 read back as they were logged."""
    values = [math.nan, math.inf, -math.inf, -0.0]
    points = [_point("m", v, step=i) for i, v in enumerate(values)]

    shaped = shape_metrics(_table(*points))

    assert math.isnan(shaped["m"][0])
    assert shaped["m"][1:3] == [math.inf, -math.inf]
    assert math.copysign(1, shaped["m"][3]) == -1


def test_shape_metrics_separates_metrics_by_name():
    """Points of different names make different metrics."""
    points = [
        _point("a", 1.0),
        _point("b", 2.0, step=0),
        _point("b", 3.0, step=1),
    ]

    shaped = shape_metrics(_table(*points))

    assert shaped == {"a": 1.0, "b": [2.0, 3.0]}


def test_shape_metrics_reads_one_row_as_column_dict():
    """A row metric logged once reads as {column: value}."""
    points = [
        _point("r", 1, kind="row", column="epoch"),
        _point("r", 0.5, kind="row", column="acc"),
    ]

    shaped = shape_metrics(_table(*points))

    assert shaped == {"r": {"epoch": 1, "acc": 0.5}}


def test_shape_metrics_reads_several_rows_as_column_lists():
    """A table of several rows reads as {column: [values]}."""
    points = []
    for step, (epoch, acc) in enumerate([(1, 0.5), (2, 0.75)]):
        points += [
            _point("t", epoch, kind="table", column="epoch", step=step),
            _point("t", acc, kind="table", column="acc", step=step),
        ]

    shaped = shape_metrics(_table(*points))

    assert shaped == {"t": {"epoch": [1, 2], "acc": [0.5, 0.75]}}


def test_shape_metrics_fills_none_where_row_lacks_column():
    """Rows with different columns read with None where a column is absent."""
    points = [
        _point("r", 1, kind="row", column="a", step=0, seq=1),
        _point("r", 2, kind="row", column="b", step=0, seq=1),
        _point("r", 3, kind="row", column="a", step=1, seq=2),
        _point("r", "x", kind="row", column="c", step=2, seq=3),
    ]

    shaped = shape_metrics(_table(*points))

    assert shaped == {
        "r": {"a": [1, 3, None], "b": [2, None, None], "c": [None, None, "x"]}
    }


def test_shape_metrics_keeps_mixed_types_in_table_columns():
    """A table column keeps each cell's own type."""
    points = [
        _point("t", 1, kind="table", column="v", step=0),
        _point("t", "n/a", kind="table", column="v", step=1),
        _point("t", None, kind="table", column="v", step=2),
        _point("t", False, kind="table", column="v", step=3),
    ]

    shaped = shape_metrics(_table(*points))

    assert shaped == {"t": {"v": [1, "n/a", None, False]}}


# -- tagged JSON -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tagged"),
    [
        pytest.param(math.nan, {FLOAT_TAG: "NaN"}, id="nan"),
        pytest.param(math.inf, {FLOAT_TAG: "Infinity"}, id="inf"),
        pytest.param(-math.inf, {FLOAT_TAG: "-Infinity"}, id="minus-inf"),
        pytest.param(1.5, 1.5, id="finite"),
        pytest.param("NaN", "NaN", id="str-nan"),
        pytest.param(None, None, id="none"),
    ],
)
def test_tag_floats_tags_only_non_finite_floats(value, tagged):
    """Only NaN and infinities become tagged objects."""

    result = tag_floats(value)

    assert result == tagged


def test_tagged_json_round_trips_every_float():
    """Nested NaN, infinities and -0.0 survive strict JSON and back."""
    value = {
        "loss": [0.5, math.nan, math.inf, -math.inf, -0.0],
        "table": {"a": [1, None, "s"], "b": [True, -math.inf, 2**70]},
        "bare": math.nan,
    }

    text = json.dumps(tag_floats(value), allow_nan=False)
    restored = json.loads(text, object_hook=untag_float)

    loss = restored["loss"]
    assert loss[0] == 0.5
    assert math.isnan(loss[1])
    assert loss[2:4] == [math.inf, -math.inf]
    assert math.copysign(1, loss[4]) == -1
    assert restored["table"] == {
        "a": [1, None, "s"],
        "b": [True, -math.inf, 2**70],
    }
    assert math.isnan(restored["bare"])


def test_untag_float_leaves_other_objects_alone():
    """An object with other keys besides the tag is not a float."""
    text = json.dumps({"x": {FLOAT_TAG: "NaN", "other": 1}, "y": {}})

    restored = json.loads(text, object_hook=untag_float)

    assert restored == {"x": {FLOAT_TAG: "NaN", "other": 1}, "y": {}}


def test_tagged_json_round_trips_row_with_column_named_like_the_tag():
    """A one-column row named '$float' reads back as a dict, not a float."""
    value = {"r": {FLOAT_TAG: "NaN"}}

    text = json.dumps(tag_floats(value), allow_nan=False)
    restored = json.loads(text, object_hook=untag_float)

    assert restored == value
