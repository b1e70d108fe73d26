"""The strict request check applied to the docs' own request examples (each provider's
test_contract_examples extracts them): a client that copies an example must pass strict mode, or
the example is wrong, which the calling test says in its allow-list with the reason."""
from __future__ import annotations

import json
from typing import Any, Mapping
from urllib.parse import urlencode

import httpx

from emulators import providers
from emulators.engine.contracts import contract_for

FILE = "<file>"  # how the extractors write a file field


def strict_violations(provider_id: str, method: str, path: str, body: Any = None, *, form: bool = False,
                      query: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """(where, message) of every violation strict mode reports for the request the example
    makes: `body` a JSON value, or with `form` a multipart form (FILE marks a file field; a list,
    a repeated field); `query` its query parameters."""
    contract = contract_for(providers.get(provider_id).contract_path)
    op = contract.operation(method.upper(), path)
    assert op is not None, (method, path)
    headers: dict[str, str] = {}
    raw = b""
    if form:
        files = [(name, ("example.bin", b"\x00", "application/octet-stream"))
                 for name, value in body.items() for v in (value if isinstance(value, list) else [value]) if v == FILE]
        data = {name: value for name, value in body.items() if value != FILE and value != [FILE]}
        request = httpx.Request(method, "http://example" + path, files=files or None, data=data)
        if not files:  # httpx sends a form without files urlencoded: a multipart form is what the docs show
            request = httpx.Request(method, "http://example" + path, files={"_": ("", b"")}, data=data)
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = request.read()
        if not files:
            raw, headers = _without_placeholder(raw, headers)
    elif body is not None:
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
    query_pairs = [(k, str(v)) for k, v in (query or {}).items()]
    params = contract.path_params(op, path) if "{" in op.template else None
    problems = op.check_request(path_params=params, query=query_pairs, headers=headers, body=raw, closed=True)
    return [(p.where, p.message) for p in problems]


def _without_placeholder(raw: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Drops the empty placeholder part that made httpx build a multipart body."""
    boundary = headers["content-type"].split("boundary=", 1)[1].encode()
    parts = raw.split(b"--" + boundary)
    kept = [p for p in parts if b'name="_"' not in p]
    body = (b"--" + boundary).join(kept)
    return body, {**headers, "content-length": str(len(body))}


def query_of(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


__all__ = ["FILE", "query_of", "strict_violations", "urlencode"]
