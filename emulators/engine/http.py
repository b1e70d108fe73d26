"""What a handler sees of a request (`Call`), how routes are declared (`Endpoint`), and the
body parsers every provider shares. Handlers only parse, call the backend, serialize."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

import orjson
from starlette.background import BackgroundTask
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from emulators.engine.strict_json import strict_json

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

Handler = Callable[["Call"], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # starlette syntax: /api/v1/tts/{speechId}
    handler: Handler
    name: str  # operation name: per-endpoint limits, permissions, journal
    auth: bool = True


class Call:
    """One request on its way through the gateway."""

    __slots__ = ("request", "emulator", "endpoint", "params", "now", "token", "account", "subject",
                 "extra_headers", "_body")

    def __init__(self, request: Request, emulator: Emulator, endpoint: Endpoint | None,
                 params: dict[str, str], now: float) -> None:
        self.request = request
        self.emulator = emulator
        self.endpoint = endpoint
        self.params = params
        self.now = now
        self.token: str | None = None
        self.account: Any = None
        self.subject: str = ""  # whom rate limits count against
        self.extra_headers: dict[str, str] = {}
        self._body: bytes | None = None

    @property
    def backend(self) -> Any:
        return self.emulator.backend

    @property
    def base_url(self) -> str:
        """scheme://host[:port] the client used, for the file URLs handed out."""
        scope = self.request.scope
        host = self.request.headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}"

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def note(self, text: str) -> None:
        """Records a remark for this request's journal entry (e.g. a value the docs do not list,
        accepted anyway). Kept on the ASGI scope, which the journal layer reads."""
        self.request.scope.setdefault("emulator.notes", []).append(text)

    async def body(self, limit: int = 2 * 1024 * 1024) -> bytes:
        """The raw body; beyond `limit` bytes raises BodyTooLarge (a ValueError) once the rest
        has been read and thrown away, never held."""
        if self._body is None:
            if declared_length(self.request.scope) > limit:
                await drain(self.request.stream())
                raise BodyTooLarge()
            chunks: list[bytes] = []
            size = 0
            stream = self.request.stream()
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    await drain(stream)
                    raise BodyTooLarge()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self, limit: int = 2 * 1024 * 1024) -> Any:
        """The decoded JSON body; ValueError (NotStrictJSON) for anything that is not JSON text:
        see `decode_json`."""
        return decode_json(await self.body(limit))

    async def form(self, max_body: int, max_files: int = 4, max_fields: int = 50) -> FormData:
        """Multipart/urlencoded form. Files spool to disk; a body over `max_body` raises
        BodyTooLarge after the rest of it has been read and thrown away (never held)."""
        ctype = self.request.headers.get("content-type", "")
        if declared_length(self.request.scope) > max_body:
            await drain(self.request.stream())
            raise BodyTooLarge()
        if "multipart/form-data" not in ctype:
            if "application/x-www-form-urlencoded" in ctype:
                try:
                    return await self.request.form(max_files=0, max_fields=max_fields)
                except MultiPartException as exc:  # too many fields
                    raise ValueError(str(exc)) from exc
            raise ValueError("expected multipart/form-data")
        counter = _Capped(self.request.stream(), max_body)
        parser = MultiPartParser(Headers(scope=self.request.scope), counter.stream(),
                                 max_files=max_files, max_fields=max_fields)
        try:
            return await parser.parse()
        except BodyTooLarge:
            await drain(counter.source)
            raise
        except MultiPartException as exc:
            raise ValueError(str(exc)) from exc


PROVIDER_JSON_DEPTH = 512  # deeper than any real client nests, well inside Python's stack


def decode_json(raw: bytes) -> Any:
    """A request body as JSON text, refused at the boundary when it is not: a lone surrogate
    escape (no answer could carry it back), the NaN and Infinity literals, or more than
    PROVIDER_JSON_DEPTH levels (a number too large for a double is infinity, as in the providers'
    own parsers, for their validation to refuse by name). What such input would otherwise do is pass validation, get into
    state and break every later answer that shows it. Raises NotStrictJSON (a ValueError), which
    each provider turns into its own invalid-request error."""
    return strict_json(raw, max_depth=PROVIDER_JSON_DEPTH, overflow=True)


class BodyTooLarge(ValueError):
    """The request body is over the endpoint's limit."""


class _Capped:
    def __init__(self, source: AsyncIterator[bytes], limit: int) -> None:
        self.source = source
        self.limit = limit

    async def stream(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self.source:
            size += len(chunk)
            if size > self.limit:
                raise BodyTooLarge()
            yield chunk


async def drain(stream: AsyncIterator[bytes]) -> None:
    try:
        async for _ in stream:
            pass
    except Exception:  # the client went away (or stalled): nothing left to drain
        pass


def declared_length(scope: Scope) -> int:
    """The request's Content-Length (0 when absent or unreadable: the stream limit still holds)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def header(scope: Scope, name: bytes) -> str | None:
    """The first `name` header (lower-case bytes) of the request, decoded as Starlette's Headers
    would: a scan of the scope's list, without building a Headers object per request."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a Content-Length above 0, or chunked)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            return bool(value.lstrip(b"0 "))
        if key == b"transfer-encoding":
            return True
    return False


_NAMES: dict[str, bytes] = {}  # header name -> its lower-case bytes (a handful of names, on every request)


def _name(key: str) -> bytes:
    name = _NAMES.get(key)
    if name is None:
        name = _NAMES[key] = key.lower().encode("latin-1")
    return name


def add_headers(response: Response, headers: dict[str, str]) -> None:
    """Sets headers, replacing same-named ones (cheaper than MutableHeaders, key by key). On
    every answer with a few names against a response's two or three: plain loops, no sets."""
    names = _NAMES
    added = []
    for key, value in headers.items():
        name = names.get(key)
        if name is None:
            name = _name(key)
        added.append((name, value.encode("latin-1")))
    raw = response.raw_headers
    for name, _ in raw:
        for new, _ in added:
            if name == new:
                taken = {new for new, _ in added}
                raw[:] = [header for header in raw if header[0] not in taken]
                raw.extend(added)
                return
    raw.extend(added)


_JSON_TYPE = (b"content-type", b"application/json")


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The two headers of a JSON answer with a body."""
    return [(b"content-length", str(len(body)).encode()), _JSON_TYPE]


class JSON(Response):
    """A JSON answer: compact separators, non-ASCII kept (what the providers send, and the bytes
    Starlette's JSONResponse makes). Every provider answer is one, so it is built in one step:
    orjson renders (a tenth of json.dumps' time), and the common case (no extra headers, a
    status with a body) gets its two headers without Starlette's general header assembly."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None,
                 media_type: str | None = None, background: BackgroundTask | None = None) -> None:
        self.status_code = status_code
        self.background = background
        self.body = body = self.render(content)
        if headers is None and media_type is None and status_code >= 200 and status_code not in (204, 304):
            self.raw_headers = _json_headers(body)
        else:
            if media_type is not None:
                self.media_type = media_type
            self.init_headers(headers)

    @classmethod
    def rendered(cls, body: bytes, status_code: int = 200) -> JSON:
        """An answer whose JSON text is already made (a cached rendering), in the same one step."""
        response = cls.__new__(cls)
        response.status_code = status_code
        response.background = None
        response.body = body
        response.raw_headers = _json_headers(body)
        return response

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            # What orjson will not write (an integer past 64 bits, a lone surrogate): json's
            # answer, or its error, exactly as before.
            return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                              separators=(",", ":")).encode("utf-8")
