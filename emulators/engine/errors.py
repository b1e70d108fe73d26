"""The one exception every provider error travels as.

Each provider builds these from its own error table (its `exceptions.py`), so status, body shape,
code and message always come from data; the gateway turns them into responses.
"""
from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


class ErrorTable:
    """A provider's documented errors as data: code -> (HTTP status, default message).

    `shape` turns (code, message, extra fields) into the provider's body layout.
    """

    def __init__(self, table: dict[str, tuple[int, str]], shape: Any) -> None:
        self.table = table
        self.shape = shape

    def __call__(self, code: str, message: str | None = None, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> ProviderError:
        status, default = self.table[code]
        return ProviderError(status, self.shape(code, message or default, extra), headers)
