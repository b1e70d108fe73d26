"""Checks for values set through the control API (accounts, settings), shared by providers.

Each returns the clean value or raises ValueError naming the field, so a backend can check
every field of a PUT before it writes any (all or nothing). Bounds keep every stored value
printable and usable by every later request: integers a JSON client reads exactly, finite
numbers, times that format back (see clock.MAX_TIME).
"""
from __future__ import annotations

import math
from typing import Any

from emulators.engine.clock import parse_settable_time

MAX_INT = 2**53 - 1  # what a JavaScript (or any double-based) JSON client reads exactly
MAX_WINDOW_SECONDS = 366 * 86400  # a rate window of at most a year


def whole(name: str, value: Any, low: int = 0, high: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return value


def number(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    """A finite int or float within [low, high] ((low, high] when low_open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    inside = (low < as_float if low_open else low <= as_float) and as_float <= high
    if not (math.isfinite(as_float) and inside):
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{low:g}, {high:g}]")
    return as_float


def window_seconds(name: str, value: Any) -> float:
    return number(name, value, 0, MAX_WINDOW_SECONDS, low_open=True)


def time(name: str, value: Any) -> float:
    """An ISO 8601 time between 1970 and the year 9000, as Unix seconds."""
    try:
        return parse_settable_time(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an ISO 8601 time between 1970 and 9000 ({exc})") from None
