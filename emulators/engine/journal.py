"""The request journal: what reached the provider routes, with secrets redacted.

Recording is on every request's path, so an entry is a plain tuple and all formatting
(redaction, ISO time) happens when someone reads the journal.
"""
from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import quote, unquote_plus

from emulators.engine.clock import iso

# (method, path, query string, status, token, emulated time, contract violations as
# {"side", "where", "message"} objects, notes, what chaos mode chose)
Entry = tuple[str, str, bytes, int, "str | None", float, "list[dict[str, str]] | None", "list[str] | None",
              "str | None"]

MASK = "***"


def redact(token: str | None) -> str | None:
    """At most a quarter of a token's characters (its start, so seeded tokens stay apart:
    `test-token` -> `te***`, `poor-token` -> `po***`); tokens under 4 characters show none."""
    if not token:
        return None
    return token[:len(token) // 4] + MASK


# Query parameter names (lower case, without `-`/`_`) whose values are secrets; any name
# ending in one of SECRET_SUFFIXES is one too (`access_token`, `client_secret`, `x-api-key`).
SECRET_NAMES = frozenset({"key", "auth", "authorization", "sig", "signature", "code", "credential",
                          "credentials", "session", "sessionid", "pass", "pwd"})
SECRET_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "accesskey", "privatekey",
                   "hmackey", "hmac", "jwt", "bearer")


def is_secret_name(name: str) -> bool:
    key = name.lower().replace("-", "").replace("_", "").replace(".", "")
    return key in SECRET_NAMES or key.endswith(SECRET_SUFFIXES)


def redact_query(query: bytes) -> str:
    """The query string as sent, except that the value of every secret-named parameter is
    redacted like a token (and re-encoded, so the result is still a query string)."""
    text = query.decode("latin-1")
    if not text:
        return text
    parts = text.split("&")
    for i, part in enumerate(parts):
        name, sep, value = part.partition("=")
        if sep and value and is_secret_name(unquote_plus(name)):
            shown = redact(unquote_plus(value)) or ""
            parts[i] = f"{name}={quote(shown[:-len(MASK)], safe='')}{MASK}"
    return "&".join(parts)


class Journal:
    def __init__(self, limit: int = 10_000) -> None:
        self.entries: deque[Entry] = deque(maxlen=limit)

    def record(self, entry: Entry) -> None:
        """Appends an entry tuple as is (the hot path: formatting happens on reading)."""
        self.entries.append(entry)

    def add(self, method: str, path: str, status: int, *, query: bytes = b"", token: str | None = None,
            time: float = 0.0, violations: list[dict[str, str]] | None = None, notes: list[str] | None = None,
            chaos: str | None = None) -> None:
        """Appends an entry given by name (callers off the hot path)."""
        self.entries.append((method, path, query, status, token, time, violations, notes, chaos))

    def clear(self) -> None:
        self.entries.clear()

    def as_json(self) -> list[dict[str, Any]]:
        return [_entry_json(entry) for entry in list(self.entries)]


def _entry_json(entry: Entry) -> dict[str, Any]:
    method, path, query, status, token, time, violations, notes, chaos = entry
    shown = {"method": method, "path": path, "query": redact_query(query),
             "status": status,  # 0: no response (dropped connection)
             "token": redact(token), "time": iso(time), "violations": violations or [],
             "notes": notes or []}  # what the handler remarked (Call.note)
    if chaos is not None:  # chaos mode chose this answer
        shown["chaos"] = chaos
    return shown
