"""Servers made to drift: a real emulator behind a rewrite of some of its answers."""
from __future__ import annotations

import json
from typing import Any, Callable

from emulators import providers
from emulators.engine.emulator import Emulator

Rewrite = Callable[[str, str, int, dict[str, str], bytes], "tuple[int, dict[str, str], bytes] | None"]


class Drifting:
    """A real emulator (ASGI) whose answers `rewrite` may change (None: unchanged)."""

    def __init__(self, provider_id: str, rewrite: Rewrite) -> None:
        self.emulator = Emulator(providers.get(provider_id))
        self.rewrite = rewrite

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.emulator(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.emulator(scope, receive, keep)
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        status, body = start["status"], b"".join(chunks)
        changed = self.rewrite(scope["method"], scope["path"], status, headers, body)
        if changed is not None:
            status, headers, body = changed
            headers["content-length"] = str(len(body))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": body})


def on(method: str, path: str, status: int | None, change: Callable[[int, dict[str, str], Any], Any]) -> Rewrite:
    def rewrite(m: str, p: str, s: int, headers: dict[str, str], body: bytes) -> Any:
        if (m, p) != (method, path) or (status is not None and s != status):
            return None
        data = json.loads(body)
        result = change(s, headers, data)
        s, data = result if isinstance(result, tuple) else (s, data)
        return s, headers, json.dumps(data).encode()
    return rewrite


