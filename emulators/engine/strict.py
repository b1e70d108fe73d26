"""Strict mode: every request an emulator receives is checked against its contract as well.

The contract layer (contracts.ContractLayer) does the checking; this module holds what strict
mode adds around it: reading a request body ahead (up to MAX_CHECKED_BODY) so that it can be
checked whatever the handler reads of it, the one-line-per-violation report on stderr
(`emulators serve --strict`), and the switches the CLI and the pytest plugin turn.

A request's violations never change its answer: the provider's own validation decides that.
They are recorded in the journal entry beside the response's, each as
`{"side": "request", "where", "rule", "value", "message"}`.
"""
from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from starlette.types import Message, Receive

from emulators.engine.journal import redact

if TYPE_CHECKING:
    from emulators.engine.contracts import ContractLayer
    from emulators.engine.emulator import Emulator


async def read_ahead(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Reads a request body from `receive` up to `limit` bytes; returns it (None when it is
    larger, or the client went away first) and a `receive` that replays what was read before
    passing on to the original, so the application still sees the whole stream."""
    messages: deque[Message] = deque()
    size = 0
    complete = False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            complete = True
            break
        if size > limit:
            break
    body = b"".join(m.get("body", b"") for m in messages) if complete and size <= limit else None

    async def replay() -> Message:
        if messages:
            return messages.popleft()
        return await receive()

    return body, replay


def line(provider: str, method: str, path: str, status: int, violation: dict[str, Any]) -> str:
    """One violation as one line of text (the CLI's stderr, the plugin's failure message)."""
    extra = []
    if "value" in violation:
        extra.append(f"value {_short_repr(violation['value'])}")
    if violation.get("rule"):
        extra.append(f"rule {violation['rule']}")
    tail = f" ({'; '.join(extra)})" if extra else ""
    what = f"{violation['side']} {violation['where']}: {violation['message']}"
    text = f"{provider} {method} {path} -> {status}: {what}{tail}"
    return text.replace("\n", " ").replace("\r", " ")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ViolationReport:
    """Writes each violation as one line on a file descriptor (stderr); a write that fails turns
    the report off rather than failing the request."""

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd

    def write(self, provider: str, method: str, path: str, status: int, token: str | None,
              violations: list[dict[str, Any]]) -> None:
        shown = redact(token) or "-"
        data = "".join(f"emulators: strict: {line(provider, method, path, status, v)} token={shown}\n"
                       for v in violations).encode("utf-8", "replace")
        try:
            os.write(self.fd, data)
        except OSError:
            self.fd = -1


def layer(emulator: Emulator) -> ContractLayer:
    """The emulator's contract layer (it exists when the emulator was made with contract_check)."""
    from emulators.engine.contracts import ContractLayer

    app: Any = emulator.app
    for _ in range(16):
        if isinstance(app, ContractLayer):
            return app
        app = getattr(app, "app", None)
        if app is None:
            break
    raise RuntimeError("the emulator has no contract layer: make it with contract_check=True")


def enable(emulator: Emulator, *, responses: bool = True, report: ViolationReport | None = None) -> ContractLayer:
    """Turns strict mode on: requests are checked too (`responses`: answers as well)."""
    found = layer(emulator)
    found.strict = True
    found.responses = responses
    found.report = report
    return found


@contextmanager
def allowance(emulator: Emulator) -> Iterator[None]:
    """Requests that start inside the block are still checked and journaled, but are not
    `unexpected` (a test that sends a bad request on purpose, to see the provider refuse it)."""
    found = layer(emulator)
    found.allowance += 1
    try:
        yield
    finally:
        found.allowance -= 1


