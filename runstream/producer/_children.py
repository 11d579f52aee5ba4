"""Checks of ``Run.create_children`` and ``Run.remove_tags`` arguments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runstream.errors import InvalidArgumentError, InvalidTypeError
from runstream.producer._values import check_name

#: Most children one ``create_children`` call makes, as in Azure ML.
MAX_CHILDREN_PER_CALL = 100
#: The tag ``create_children(count=n)`` numbers its children with.
BATCH_CHILD_TAG = "azureml.batch_child_number"


def child_tags(
    call: str, count: Any, tag_key: Any, tag_values: Any
) -> list[dict[str, str | None]]:
    """Return the tags of each child to create: one dict per child.

    Either ``count`` (children tagged ``azureml.batch_child_number`` 0 to
    n-1) or both ``tag_key`` and ``tag_values`` (one child per value).
    """
    by_tags = tag_key is not None or tag_values is not None
    if count is not None and by_tags:
        raise InvalidArgumentError(
            call,
            "count",
            "must not be given together with 'tag_key'/'tag_values'",
            count,
        )
    if count is None and not by_tags:
        raise InvalidArgumentError(
            call, "count", "or 'tag_key' and 'tag_values' must be given"
        )

    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidTypeError(call, "count", "must be an int", count)
        _check_how_many(call, "count", count)
        return [{BATCH_CHILD_TAG: str(i)} for i in range(count)]

    if tag_key is None or tag_values is None:
        missing = "tag_key" if tag_key is None else "tag_values"
        raise InvalidArgumentError(
            call, missing, "must be given with the other of the pair"
        )
    key = check_name(call, "tag_key", tag_key)
    values = _as_list(call, "tag_values", tag_values)
    _check_how_many(call, "tag_values", len(values))
    return [{key: None if value is None else str(value)} for value in values]


def _check_how_many(call: str, argument: str, count: int) -> None:
    if not 0 <= count <= MAX_CHILDREN_PER_CALL:
        raise InvalidArgumentError(
            call,
            argument,
            f"must ask for 0 to {MAX_CHILDREN_PER_CALL} children per call",
            count,
        )


def _as_list(call: str, argument: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidTypeError(call, argument, "must be a list", value)
    return list(value)


def tag_keys(call: str, tags: Any) -> list[str]:
    """Return the tag keys ``remove_tags`` got, each checked."""
    keys = _as_list(call, "tags", tags)
    return [check_name(call, "tags", key) for key in keys]
