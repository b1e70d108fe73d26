"""The provider-agnostic middlewares: the request journal and fault injection.

Each is a plain ASGI wrapper that passes through what it does not handle.
"""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.engine.faults import NO_BODY_STATUSES

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator


class JournalLayer:
    """Records every provider request once it has been answered. The gateway (and the fault
    layer) note the status in the scope, so this layer need not wrap `send`."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator = self.emulator
        started = emulator.clock.now()
        try:
            await self.app(scope, receive, send)
        finally:
            token = scope.get("emulator.token") or emulator.token_of(scope)
            emulator.journal.record((scope["method"], scope["path"], scope.get("query_string", b""),
                                     scope.get("emulator.status", 0), token, started,
                                     scope.get("emulator.violations"), scope.get("emulator.notes"),
                                     scope.get("emulator.chaos")))


class ConnectionDropped(Exception):
    """Raised to the client side when the server has no socket to close (in-process use)."""


class FaultLayer:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.emulator.faults
        if not faults.rules:
            await self.app(scope, receive, send)
            return
        with self.emulator.lock:
            rule = faults.take(scope["method"], scope["path"], self.emulator.token_of(scope))
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.delay_ms:
            await asyncio.sleep(rule.delay_ms / 1000)
        if rule.drop:
            _drop(send)
            return
        if not rule.responds:
            await self.app(scope, receive, send)
            return
        status = rule.status or 200
        body = rule.body
        if body is None:
            payload, ctype = b"", None
        elif isinstance(body, str):
            payload, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = json.dumps(body).encode(), "application/json"
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (rule.headers or {}).items()]
        if ctype and not any(k == b"content-type" for k, _ in headers):
            headers.append((b"content-type", ctype.encode()))
        if status not in NO_BODY_STATUSES:  # a 204 must not carry one; a 304's would be the GET's
            headers.append((b"content-length", str(len(payload)).encode()))
        if scope["method"] == "HEAD" or status in NO_BODY_STATUSES:
            payload = b""  # the length above still says what a GET would have got
        scope["emulator.status"] = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _drop(send: Send) -> None:
    """Closes the connection without a byte of response.

    ASGI has no message for this; uvicorn's `send` is a bound method of the request cycle that
    owns the transport, which we close. Without a transport (in-process clients) we raise.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
        if hasattr(cycle, "response_complete"):
            cycle.response_complete = True
        return
    raise ConnectionDropped("fault rule dropped the connection")
