"""Fault rules: matching requests get a chosen response, a delay or a dropped connection."""
from __future__ import annotations

import fnmatch
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


@dataclass
class FaultRule:
    id: str
    method: str | None = None
    path: str | None = None  # exact, or a glob (`/api/v1/tts/*`)
    token: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    delay_ms: float | None = None
    drop: bool = False
    times: int | None = None  # None: unlimited

    def matches(self, method: str, path: str, token: str | None) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is not None and self.path != path and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.token is None or self.token == token

    @property
    def responds(self) -> bool:
        """False for a pure delay rule: the request then goes on to its normal handler."""
        return self.drop or self.status is not None or self.body is not None or bool(self.headers)


_FIELDS: dict[str, tuple[type, ...]] = {
    "method": (str,), "path": (str,), "token": (str,), "status": (int,), "headers": (dict,),
    "delay_ms": (int, float), "drop": (bool,), "times": (int,),
}
# RFC 9110 tokens (header names, methods) and field values (latin-1, no CR/LF/NUL/controls).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Framing is the emulator's: a rule's own length or encoding would break the HTTP stream.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
NO_BODY_STATUSES = frozenset({204, 304})
MAX_TIMES = 1_000_000_000
MAX_HEADERS = 64
MAX_HEADER_VALUE = 8192


def parse_rule(data: Any) -> FaultRule:
    """Validates a rule from the control API; raises ValueError with a readable reason.
    Anything that would make the emulator send broken HTTP is refused here."""
    if not isinstance(data, dict):
        raise ValueError("a fault rule is a JSON object")
    unknown = set(data) - set(_FIELDS) - {"body"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    for name, types in _FIELDS.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise ValueError(f"{name} has the wrong type")
    method = data.get("method")
    if method is not None and not _TOKEN.fullmatch(method):
        raise ValueError("method must be an HTTP method name (GET, POST, ...)")
    status = data.get("status")
    if status is not None and not 200 <= status <= 599:
        raise ValueError("status must be 200-599 (a 1xx is no final answer)")
    body = data.get("body")
    if body is not None:
        if status in NO_BODY_STATUSES:
            raise ValueError(f"a {status} answer has no body")
        if method is not None and method.upper() == "HEAD":
            raise ValueError("an answer to HEAD has no body")
        try:  # what the fault layer will send must be encodable (no lone surrogates, no NaN)
            body.encode() if isinstance(body, str) else json.dumps(body, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            raise ValueError("body must be a JSON value or UTF-8 text") from None
    times = data.get("times")
    if times is not None and not 1 <= times <= MAX_TIMES:
        raise ValueError(f"times must be 1-{MAX_TIMES}")
    delay = data.get("delay_ms")
    if delay is not None and not 0 <= delay <= 600_000:  # NaN fails too
        raise ValueError("delay_ms must be 0-600000")
    headers = data.get("headers")
    if headers:
        _check_headers(headers)
    return FaultRule(id=f"fault-{next(_ids)}", **data)


def _check_headers(headers: dict[str, Any]) -> None:
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not isinstance(value, str):
            raise ValueError("headers must map strings to strings")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"header name {name[:40]!r} is not an HTTP token")
        if name.lower() in _FRAMING_HEADERS:
            raise ValueError(f"{name} is set by the emulator from the body")
        if len(value) > MAX_HEADER_VALUE or not _FIELD_VALUE.fullmatch(value):
            raise ValueError(f"header {name} must be at most {MAX_HEADER_VALUE} latin-1 characters "
                             "without CR, LF or other control characters")


@dataclass
class FaultTable:
    rules: list[FaultRule] = field(default_factory=list)

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str, token: str | None) -> FaultRule | None:
        """The first matching rule, using up one of its `times`."""
        for rule in self.rules:
            if rule.matches(method, path, token):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
