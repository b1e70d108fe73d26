"""One object for equal values that many records repeat.

A CI fleet sends the same request bodies, URLs and names over and over; each stored record
would otherwise hold its own copy of them (a 60-character string costs 109 bytes). Sharing
never changes a value, only how many copies of it exist: values are matched by type as well
(1 and 1.0 and True are equal in Python but print differently). The tables are bounded, and
are started afresh when full so that they follow what a long run currently repeats.
"""
from __future__ import annotations

import math
from typing import Any, TypeVar

T = TypeVar("T")

TEXT_MAX = 256  # longer text (uploaded files' names, long prompts) is rarely repeated
_KEPT = 4096  # distinct values per table

_texts: dict[str, str] = {}
_tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # (items, their types) -> items
_numbers: dict[tuple[type, Any], Any] = {}  # (type, value) -> value


def _share(table: dict[Any, Any], key: Any, value: T) -> T:
    found = table.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if len(table) >= _KEPT:
        table.clear()
    table[key] = value
    return value


def text(value: str | None) -> str | None:
    """The shared copy of a string of up to TEXT_MAX characters (longer ones as they are)."""
    if value is None or len(value) > TEXT_MAX:
        return value
    return _share(_texts, value, value)


def values(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """The shared copy of a tuple of hashable scalars (a job's phases, its durations)."""
    if 0 in items and any(type(item) is float and item == 0 and math.copysign(1.0, item) < 0 for item in items):
        return items  # -0.0 == 0.0: left alone rather than told apart
    return _share(_tuples, (items, tuple(map(type, items))), items)


def number(value: T) -> T:
    """The shared copy of an int or float (-0.0 and NaN are left alone: equal to 0.0, and
    equal to nothing)."""
    if value != value or value == 0:
        return value
    return _share(_numbers, (type(value), value), value)
