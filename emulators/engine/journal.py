"""The request journal: what reached the provider routes, with tokens redacted.

Recording is on every request's path, so an entry is a plain tuple and all formatting
(redaction, ISO time) happens when someone reads the journal.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from emulators.engine.clock import iso

# (method, path, query string, status, token, emulated time, contract violations as
# {"side", "where", "message"} objects)
Entry = tuple[str, str, bytes, int, "str | None", float, "list[dict[str, str]] | None"]


def redact(token: str | None) -> str | None:
    """Enough of a token to tell seeded ones apart, never the whole secret."""
    if not token:
        return None
    if len(token) <= 6:
        return token[:1] + "***"
    return token[:4] + "***" + token[-2:]


class Journal:
    def __init__(self, limit: int = 10_000) -> None:
        self.entries: deque[Entry] = deque(maxlen=limit)

    def record(self, entry: Entry) -> None:
        self.entries.append(entry)

    def clear(self) -> None:
        self.entries.clear()

    def as_json(self) -> list[dict[str, Any]]:
        return [{"method": method, "path": path, "query": query.decode("latin-1"),
                 "status": status,  # 0: no response (dropped connection)
                 "token": redact(token), "time": iso(time), "violations": violations or []}
                for method, path, query, status, token, time, violations in list(self.entries)]
