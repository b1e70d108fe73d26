"""The access log: one line per provider request on stderr (`emulators serve`; `--quiet` is off).

    kie POST /api/v1/jobs/createTask 200 1.2ms token=te*** violations=0
    {"time": "...", "provider": "kie", "method": "POST", "path": "/api/v1/jobs/createTask",
     "status": 200, "ms": 1.2, "token": "te***", "violations": 0}      (--log-format json)

It sits on every request's path, so a line costs one format and one `os.write` (no logging
module, no buffering that a crash could lose). Query strings are left out: they may carry
secrets. Control calls (`/_emulator/`, healthchecks included) never reach this layer.
A status of 0 means no response was sent (a fault rule dropped the connection).
"""
from __future__ import annotations

import os
import time
from json.encoder import encode_basestring as _json_str
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.engine.journal import redact

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

LogFormat = Literal["plain", "json"]
FORMATS: tuple[LogFormat, ...] = ("plain", "json")


class AccessLog:
    """Formats and writes the lines; a write that fails (stderr closed) turns the log off
    rather than failing the request."""

    def __init__(self, fd: int = 2, fmt: LogFormat = "plain") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
        self.fd = fd
        self.fmt = fmt
        self._redacted: dict[str | None, str] = {}
        self._second = -1
        self._second_text = ""

    def line(self, provider: str, method: str, path: str, status: int, ms: float,
             token: str | None, violations: int) -> str:
        shown = self._redacted.get(token)
        if shown is None:  # the same few tokens come again and again
            if len(self._redacted) > 1000:
                self._redacted.clear()
            shown = self._redacted[token] = redact(token) or ""
        if self.fmt == "json":
            return (f'{{"time": "{self._iso_now()}", "provider": {_json_str(provider)}, '
                    f'"method": {_json_str(method)}, "path": {_json_str(path)}, "status": {status}, '
                    f'"ms": {ms:.1f}, "token": {_json_str(shown) if shown else "null"}, '
                    f'"violations": {violations}}}\n')
        if not path.isprintable() or " " in path:  # no forged lines, no split fields
            path = quote(path, safe="/:@!$&'()*+,;=-._~")
        return f"{provider} {method} {path} {status} {ms:.1f}ms token={shown or '-'} violations={violations}\n"

    def write(self, provider: str, method: str, path: str, status: int, ms: float,
              token: str | None, violations: int) -> None:
        data = self.line(provider, method, path, status, ms, token, violations).encode("utf-8", "replace")
        try:
            os.write(self.fd, data)  # one line, one write: whole lines even when processes share stderr
        except OSError:
            self.fd = -1  # nowhere to write (stderr closed): stop trying; os.write(-1) fails fast

    def _iso_now(self) -> str:
        """UTC wall-clock time with milliseconds; the seconds part is formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1000):03d}Z"


class AccessLogLayer:
    """The outermost provider-side layer (see `Emulator._build_stack`): it times the whole
    request, journal and contract check included. Off (one attribute test) until `enable`."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.provider_id = emulator.provider.id
        self.emulator = emulator
        self.log: AccessLog | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        log = self.log
        if log is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            ms = (time.perf_counter() - started) * 1000
            token = scope.get("emulator.token") or self.emulator.token_of(scope)
            log.write(self.provider_id, scope["method"], scope["path"], scope.get("emulator.status", 0),
                      ms, token, len(scope.get("emulator.violations") or ()))


def enable(emulator: Emulator, log: AccessLog | None) -> None:
    """Turns the emulator's access log on (None: off again), in both of its stacks."""
    for stack in emulator.stacks:
        if not isinstance(stack, AccessLogLayer):
            raise RuntimeError("the emulator's middleware stack has no access log layer on top")
        stack.log = log


def current(emulator: Emulator) -> AccessLog | None:
    """The emulator's access log; None when off."""
    return _layer(emulator).log


def _layer(emulator: Emulator) -> AccessLogLayer:
    layer = emulator.app
    if not isinstance(layer, AccessLogLayer):
        raise RuntimeError("the emulator's middleware stack has no access log layer on top")
    return layer
