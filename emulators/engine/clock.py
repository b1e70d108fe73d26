"""The one emulated clock of an emulator: real time plus an offset that only grows.

Everything time-based (job progress, rate windows, monthly resets, link and membership expiry)
reads `now()` from here, so `advance()` moves all of it at once.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone


class Clock:
    __slots__ = ("offset",)

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        """Emulated Unix time in seconds."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:  # also rejects NaN
            raise ValueError("advance_seconds must be a number >= 0")
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0

    def as_json(self) -> dict[str, object]:
        return {"now": iso(self.now()), "offset_seconds": self.offset}


def iso(ts: float) -> str:
    """`2024-01-01T00:00:00.000Z`: the millisecond UTC form the providers' docs show."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(text: str) -> float:
    """Inverse of `iso` (accepts any ISO 8601 form with or without a zone; naive means UTC)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def start_of_next_month(ts: float) -> float:
    """00:00 UTC on the first day of the month after the one `ts` falls in."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()
