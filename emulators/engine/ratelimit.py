"""Per-token rate limits: fixed windows of any length, and concurrency slots.

Windows are aligned to multiples of their length on the emulated clock, so the reset time a
response announces is exactly when the counter clears. A rule may extend its cooldown when a
request arrives while it is blocked (KreadoAI: "continuous retries prolong the cooldown").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from emulators.engine.store import Table


class WindowRule(NamedTuple):  # a tuple: built on every request, so it must be cheap
    scope: str  # what the rule counts: "*" for the whole provider, else an endpoint name
    limit: int
    seconds: float
    extend_on_reject: bool = False


class Decision(NamedTuple):
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # emulated Unix time at which the window (or cooldown) ends
    retry_after: float  # seconds until a request can pass; 0 when allowed


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The X-RateLimit-* headers most providers send (Reset: Unix seconds, rounded up)."""
    return {"X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(math.ceil(decision.reset_at))}


def retry_after_seconds(decision: Decision) -> int:
    """Whole seconds a refused client should wait (never 0: that invites a hot retry loop)."""
    return max(1, math.ceil(decision.retry_after))


@dataclass
class RateLimiter:
    # "token|scope" -> [window_start, count, blocked_until]
    windows: dict[str, list[float]] = field(default_factory=dict)

    def hit(self, subject: str, rule: WindowRule, now: float) -> Decision:
        """Counts one request against `rule` for `subject` unless it is over the limit."""
        key = f"{subject}|{rule.scope}"
        start = (now // rule.seconds) * rule.seconds
        windows = self.windows
        state = windows.get(key)
        if state is None:
            state = windows[key] = [start, 0.0, 0.0]
        elif isinstance(windows, Table):
            windows.touch(key)
        blocked_until = state[2]
        if now < blocked_until:
            if rule.extend_on_reject:
                blocked_until = state[2] = now + rule.seconds
            return Decision(False, rule.limit, 0, blocked_until, blocked_until - now)
        if state[0] != start:
            state[0], state[1] = start, 0.0
        reset_at = start + rule.seconds
        if state[1] >= rule.limit:
            if rule.extend_on_reject:
                state[2] = now + rule.seconds
                return Decision(False, rule.limit, 0, state[2], rule.seconds)
            return Decision(False, rule.limit, 0, reset_at, reset_at - now)
        state[1] += 1
        return Decision(True, rule.limit, rule.limit - int(state[1]), reset_at, 0.0)

    def peek(self, subject: str, rule: WindowRule, now: float) -> Decision:
        """The current standing without counting a request (for headers on uncounted calls)."""
        key = f"{subject}|{rule.scope}"
        start = (now // rule.seconds) * rule.seconds
        state = self.windows.get(key)
        used = int(state[1]) if state is not None and state[0] == start else 0
        blocked_until = state[2] if state is not None else 0.0
        if now < blocked_until:
            return Decision(False, rule.limit, 0, blocked_until, blocked_until - now)
        remaining = max(0, rule.limit - used)
        reset_at = start + rule.seconds
        return Decision(remaining > 0, rule.limit, remaining, reset_at, 0.0 if remaining else reset_at - now)

    def clear(self) -> None:
        self.windows.clear()


@dataclass
class ConcurrencySlots:
    """Requests in flight per subject (not part of a snapshot: they belong to live connections)."""

    busy: dict[str, int] = field(default_factory=dict)

    def acquire(self, subject: str, limit: int) -> bool:
        used = self.busy.get(subject, 0)
        if used >= limit:
            return False
        self.busy[subject] = used + 1
        return True

    def release(self, subject: str) -> None:
        used = self.busy.get(subject, 0) - 1
        if used > 0:
            self.busy[subject] = used
        else:
            self.busy.pop(subject, None)
