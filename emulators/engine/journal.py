"""The request journal: what reached the provider routes, with tokens redacted."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


def redact(token: str | None) -> str | None:
    """Enough of a token to tell seeded ones apart, never the whole secret."""
    if not token:
        return None
    if len(token) <= 6:
        return token[:1] + "***"
    return token[:4] + "***" + token[-2:]


@dataclass
class Journal:
    limit: int = 10_000
    entries: deque[dict[str, Any]] = field(default_factory=deque)

    def record(self, entry: dict[str, Any]) -> None:
        entries = self.entries
        entries.append(entry)
        if len(entries) > self.limit:
            entries.popleft()

    def clear(self) -> None:
        self.entries.clear()
