"""The provider-agnostic middlewares: the request journal and fault injection.

Each is a plain ASGI wrapper that passes through what it does not handle.
"""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.engine.journal import redact

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator


class JournalLayer:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        emulator = self.emulator
        started = emulator.clock.now()
        scope["emulator.raw_send"] = send  # the server's own send, for dropping a connection
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            token = scope.get("emulator.token") or emulator.token_of(scope)
            emulator.journal.record({
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,  # 0: no response (dropped connection)
                "token": redact(token),
                "time": started,  # formatted when read: the hot path only stores a float
                "violations": scope.get("emulator.violations", []),
            })


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
            _drop(scope.get("emulator.raw_send", send))
            return
        if not rule.responds:
            await self.app(scope, receive, send)
            return
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
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": rule.status or 200, "headers": headers})
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
