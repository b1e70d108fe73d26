"""Timing helpers the in-process benchmark scripts share (run from scripts/, so importable)."""
from __future__ import annotations

import time
from typing import Any


def per_call(fn: Any, seconds: float) -> float:
    """Microseconds per call of fn()."""
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            fn()
        n += 50
    return (time.perf_counter() - started) / n * 1e6
