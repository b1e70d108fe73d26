"""Requests as bytes on the wire, so that a fuzz case can hold what no well-behaved client would
send: invalid UTF-8 (a UTF-8-encoded lone surrogate), NUL and other control bytes in multipart
names and file names, duplicated JSON keys, MessagePack with non-string keys, broken framing."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes

import msgpack

BOUNDARY = "fuzzBoundary7MA4YWxkTrZu0gW"


@dataclass
class Wire:
    """One request as it will be sent (the test client adds nothing but Host and Content-Length)."""

    method: str
    path: str
    query: bytes = b""  # already percent-encoded where it needs to be
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    note: str = ""  # what was mutated (shown when a case fails)

    def __repr__(self) -> str:
        return self.short()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis shows a case
        printer.text(self.short())

    def url(self) -> str:
        return self.path + ("?" + self.query.decode("latin-1") if self.query else "")

    def short(self) -> str:
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"...(%d bytes)" % len(self.body)
        return (f"{self.method} {self.url()[:300]}\n  mutation: {self.note}\n  headers: {self.headers}\n"
                f"  body: {body!r}")


def utf8(text: str) -> bytes:
    """UTF-8, with lone surrogates encoded as if they were characters (invalid UTF-8 on purpose)."""
    return text.encode("utf-8", "surrogatepass")


# -- JSON ------------------------------------------------------------------------------------------
class RawJSON:
    """A JSON token written as is (NaN, 1e400, 5000 digits, a duplicated key...)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJSON({self.text[:60]!r})"


class DupKeys:
    """An object whose pairs are written in order, keys repeated as given."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"DupKeys({self.pairs!r})"[:200]


def json_text(value: Any, *, ascii_only: bool = True) -> str:
    """JSON text of `value`; floats NaN/inf as the literals Python writes (not JSON)."""
    if isinstance(value, RawJSON):
        return value.text
    if isinstance(value, DupKeys):
        return "{" + ",".join(json_text(k, ascii_only=ascii_only) + ":" + json_text(v, ascii_only=ascii_only)
                              for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(json_text(str(k), ascii_only=ascii_only) + ":" + json_text(v, ascii_only=ascii_only)
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_text(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**4000:
        return RawJSON("9" * 4500).text
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)


def json_body(value: Any, *, ascii_only: bool = True) -> bytes:
    return utf8(json_text(value, ascii_only=ascii_only))


# -- MessagePack -----------------------------------------------------------------------------------
def _packable(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return value.text
    if isinstance(value, DupKeys):
        return {k: _packable(v) for k, v in value.pairs}
    if isinstance(value, dict):
        return {k: _packable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_packable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value) if abs(value) < 10**308 else math.inf
    return value


def msgpack_body(value: Any) -> bytes:
    """MessagePack; lone surrogates travel as invalid UTF-8 in a str."""
    return msgpack.packb(_packable(value), use_bin_type=True, unicode_errors="surrogatepass",
                         strict_types=False)


# -- multipart ---------------------------------------------------------------------------------------
@dataclass
class Part:
    name: bytes
    data: bytes
    filename: bytes | None = None  # a file part when set
    content_type: bytes | None = None
    extra_disposition: bytes = b""  # e.g. b"; filename*=UTF-8''%ED%A0%80"


def text_part(name: str, value: str | bytes) -> Part:
    return Part(utf8(name), value if isinstance(value, bytes) else utf8(value))


def file_part(name: str, filename: str | bytes, data: bytes, content_type: str = "application/octet-stream") -> Part:
    fn = filename if isinstance(filename, bytes) else utf8(filename)
    return Part(utf8(name), data, fn, content_type.encode("latin-1"))


def multipart_body(parts: list[Part], boundary: str = BOUNDARY, *, final: bool = True) -> bytes:
    out = bytearray()
    b = boundary.encode()
    for part in parts:
        out += b"--" + b + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + part.name + b'"'
        if part.filename is not None:
            out += b'; filename="' + part.filename + b'"'
        out += part.extra_disposition + b"\r\n"
        if part.content_type is not None:
            out += b"Content-Type: " + part.content_type + b"\r\n"
        out += b"\r\n" + part.data + b"\r\n"
    if final:
        out += b"--" + b + b"--\r\n"
    return bytes(out)


def multipart_type(boundary: str = BOUNDARY) -> bytes:
    return f"multipart/form-data; boundary={boundary}".encode()


# -- query strings ---------------------------------------------------------------------------------------
def query_string(pairs: list[tuple[str | bytes, str | bytes]]) -> bytes:
    """Percent-encoded name=value pairs (bytes are encoded as they are: invalid UTF-8 stays so)."""
    def enc(v: str | bytes) -> str:
        return quote_from_bytes(v if isinstance(v, bytes) else utf8(v), safe="")
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs).encode("ascii")


def get(path: str, headers: list[tuple[bytes, bytes]], query: list[tuple[str, str]] | None = None) -> Wire:
    return Wire("GET", path, query_string(list(query or [])), list(headers), note="reader")


def post_json(path: str, headers: list[tuple[bytes, bytes]], body: Any) -> Wire:
    return Wire("POST", path, b"", [*headers, (b"content-type", b"application/json")], json_body(body), note="reader")


def json_of(response: Any) -> Any:
    """The JSON body of an answer, None when it has none."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None
