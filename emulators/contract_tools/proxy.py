"""`emulators proxy PROVIDER --upstream URL`: passive drift checks of real traffic.

A client pointed at the proxy talks to the upstream (the live API) through it. Each answer goes
back to the client unchanged, streamed chunk by chunk (large files are never held); on the way
it is checked against the provider's contract, and drift is journaled under the control API's
`/_emulator/journal`, like an emulator's contract violations. A summary is printed on exit.
The proxy costs nothing beyond the client's own traffic.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import zlib
from collections import Counter
from typing import Any

import httpx
from starlette.types import Message, Receive, Scope, Send

from emulators.engine.contracts import MAX_CHECKED_BODY, ResponseCapture, check_exchange, contract_for
from emulators.engine.journal import Journal
from emulators.engine.schema_checks import Problem, is_json, media_type

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host"}
CONTROL = "/_emulator/"
# uvicorn adds `server` and `date` headers of its own; the upstream's pass through instead
UVICORN_OVERRIDES = {"server_header": False, "date_header": False}


class _Capture(ResponseCapture):
    """A ResponseCapture that also reads gzip/deflate-encoded JSON (passed on to the client as is)."""

    __slots__ = ("_encoding", "_raw", "_raw_size")

    def __init__(self) -> None:
        super().__init__()
        self._encoding = ""
        self._raw: list[bytes] = []
        self._raw_size = 0

    def start(self, status: int, raw_headers: Any) -> None:
        super().start(status, raw_headers)
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "deflate") and is_json(media_type(self.headers.get("content-type"))):
            self._encoding = encoding

    def feed(self, chunk: bytes) -> None:
        if not self._encoding:
            super().feed(chunk)
            return
        self._raw_size += len(chunk)
        if self._raw_size <= MAX_CHECKED_BODY:
            self._raw.append(chunk)

    def decoded(self) -> None:
        """Feeds the decoded body once the encoded one is complete."""
        if not self._encoding or self._raw_size > MAX_CHECKED_BODY:
            return
        raw = b"".join(self._raw)
        try:
            body = gzip.decompress(raw) if self._encoding == "gzip" else zlib.decompress(raw)
        except (OSError, zlib.error):
            return
        self._encoding = ""
        self._keep = True
        super().feed(body)


class DriftProxy:
    """An ASGI app: the provider's paths forwarded to `upstream`, `/_emulator/` answered here."""

    def __init__(self, provider_id: str, upstream: str, *, allow_extra_fields: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        from emulators import providers

        self.provider = providers.get(provider_id)
        self.contract = contract_for(self.provider.contract_path)
        self.upstream = upstream.rstrip("/")
        self.closed = not allow_extra_fields
        self.journal = Journal()
        self.transport = transport
        self.client: httpx.AsyncClient | None = None
        self.answers = 0
        self.drifted = 0
        self.drift: Counter[tuple[str, str, str, str]] = Counter()  # (method, template, where, message)

    # -- ASGI --------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if scope["path"].startswith(CONTROL):
                await self._control(scope, receive, send)
            else:
                await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            # no default headers of its own: upstream sees what the client sent
            self.client = httpx.AsyncClient(transport=self.transport, timeout=httpx.Timeout(None, connect=15.0),
                                            follow_redirects=False)
            self.client.headers.clear()
        return self.client

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (scope["method"], scope["path"].rstrip("/"))
        body: dict[str, Any] = {"error": "no such control call (a proxy serves health and journal)"}
        status = 404
        if route == ("GET", "/_emulator/health"):
            status, body = 200, {"status": "ok", "provider": self.provider.id, "upstream": self.upstream}
        elif route == ("GET", "/_emulator/journal"):
            status, body = 200, {"entries": self.journal.as_json()}
        elif route == ("DELETE", "/_emulator/journal"):
            self.journal.clear()
            status, body = 200, {"entries": []}
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.time()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        raw_headers = dict((k.lower(), v) for k, v in headers)
        has_body = "content-length" in raw_headers or any(
            k.lower() == b"transfer-encoding" for k, _ in scope["headers"])
        raw_path = scope.get("raw_path")
        url = self.upstream + (raw_path.decode("latin-1") if raw_path else scope["path"])
        query = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")

        async def body() -> Any:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body"):
                    return

        client = self._client()
        request = client.build_request(scope["method"], url, headers=headers, content=body() if has_body else None)
        capture = _Capture()
        problems: list[Problem]
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _plain(send, 502, f"upstream unreachable: {type(exc).__name__}")
            problems = [Problem("response", "status", f"no answer from the upstream: {type(exc).__name__}")]
            self._record(scope, 502, started, problems)
            return
        try:
            out_headers = [(k.lower(), v) for k, v in response.headers.raw
                           if k.decode("latin-1").lower() not in HOP_BY_HOP]
            capture.start(response.status_code, response.headers.raw)
            await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
            async for chunk in response.aiter_raw():
                capture.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
        capture.decoded()
        problems = check_exchange(self.contract, scope["method"], scope["path"], capture, closed=self.closed)
        self._record(scope, response.status_code, started, problems)

    def _record(self, scope: Scope, status: int, started: float, problems: list[Problem]) -> None:
        token = self.provider.token_of(scope)
        violations = [p.as_json() for p in problems] or None
        self.journal.add(scope["method"], scope["path"], status, query=scope.get("query_string", b""),
                         token=token, time=started, violations=violations)
        self.answers += 1
        if problems:
            self.drifted += 1
            op = self.contract.operation(scope["method"], scope["path"])
            template = op.template if op else scope["path"]
            for p in problems:
                self.drift[(scope["method"], template, p.where, p.message)] += 1

    def summary(self) -> str:
        lines = [f"{self.provider.id} proxy: {self.answers} answers checked, {self.drifted} drifted from the contract"]
        for (method, template, where, message), count in self.drift.most_common(50):
            lines.append(f"  {count:>5} x {method} {template}  {where}: {message}")
        return "\n".join(lines)


async def _plain(send: Send, status: int, text: str) -> None:
    payload = json.dumps({"error": text}).encode()
    message: Message = {"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]}
    await send(message)
    await send({"type": "http.response.body", "body": payload})


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from emulators.server import server_config

    proxy = DriftProxy(args.provider, args.upstream, allow_extra_fields=args.allow_extra_fields)
    port = args.port if args.port is not None else proxy.provider.default_port
    base = f"http://{args.host}:{port}{proxy.provider.api_prefix}"
    print(f"{proxy.provider.id} proxy {base} -> {proxy.upstream}{proxy.provider.api_prefix}   "
          f"{proxy.provider.client_env}={base}", flush=True)
    print(f"drift journal: http://{args.host}:{port}{CONTROL}journal; Ctrl+C stops and prints a summary", flush=True)
    config = server_config(proxy, args.host, port)
    for name, value in UVICORN_OVERRIDES.items():
        setattr(config, name, value)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    print(proxy.summary(), file=sys.stderr, flush=True)
    return 0
