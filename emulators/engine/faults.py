"""Fault rules: matching requests get a chosen response, a delay or a dropped connection."""
from __future__ import annotations

import fnmatch
import itertools
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


def parse_rule(data: Any) -> FaultRule:
    """Validates a rule from the control API; raises ValueError with a readable reason."""
    if not isinstance(data, dict):
        raise ValueError("a fault rule is a JSON object")
    unknown = set(data) - set(_FIELDS) - {"body"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    for name, types in _FIELDS.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise ValueError(f"{name} has the wrong type")
    status = data.get("status")
    if status is not None and not 100 <= status <= 599:
        raise ValueError("status must be 100-599")
    if data.get("times") is not None and data["times"] < 1:
        raise ValueError("times must be >= 1")
    if data.get("delay_ms") is not None and not 0 <= data["delay_ms"] <= 600_000:
        raise ValueError("delay_ms must be 0-600000")
    headers = data.get("headers")
    if headers and not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError("headers must map strings to strings")
    return FaultRule(id=f"fault-{next(_ids)}", **data)


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
