"""The one emulated clock of an emulator: real time plus an offset that only grows.

Everything time-based (job progress, rate windows, monthly resets, link and membership expiry)
reads `now()` from here, so `advance()` moves all of it at once.
"""
from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from functools import lru_cache

# The emulated time stays before this (and every time a user sets, after MIN_TIME): far enough
# from year 9999 that any date arithmetic on it (a month's rollover, a year's membership) still
# formats, so no request can be broken by where the clock was sent.
MIN_TIME = 0.0  # 1970-01-01
MAX_TIME = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()


def time_in_range(ts: float) -> bool:
    return math.isfinite(ts) and MIN_TIME <= ts < MAX_TIME


class Clock:
    __slots__ = ("offset",)

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        """Emulated Unix time in seconds."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """ValueError (offset untouched) unless `seconds` is finite, >= 0 and keeps the
        emulated time before MAX_TIME."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("advance_seconds must be a finite number >= 0")
        if not time_in_range(self.now() + seconds):
            raise ValueError("advance_seconds would take the emulated time past the year 9000")
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0

    def as_json(self) -> dict[str, object]:
        return {"now": iso(self.now()), "offset_seconds": self.offset}


@lru_cache(maxsize=4096)  # the same few times (a reset date, a job's start) are shown again and again
def iso(ts: float) -> str:
    """`2024-01-01T00:00:00.000Z`: the millisecond UTC form the providers' docs show."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(text: str) -> float:
    """Inverse of `iso` (accepts any ISO 8601 form with or without a zone; naive means UTC)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_settable_time(text: object) -> float:
    """A time a user sets through the control API: an ISO 8601 string between 1970 and the year
    9000 (see MAX_TIME), so it formats back and date arithmetic on it works. ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    try:
        ts = parse_iso(text)
    except (ValueError, OverflowError):  # year 0001 minus a zone offset overflows
        raise ValueError("not an ISO 8601 time") from None
    if not time_in_range(ts):
        raise ValueError("not between 1970 and the year 9000")
    return ts


def start_of_next_month(ts: float) -> float:
    """00:00 UTC on the first day of the month after the one `ts` falls in."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()
