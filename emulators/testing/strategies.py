"""Hypothesis strategies per provider and operation, built from `contracts/<id>.yaml`:

- `requests(provider, operation)`: requests valid by the contract and accepted by the provider
  (values the provider checks beyond the contract, such as model ids or media files, come from
  `pins.py`);
- `responses(provider, operation, status=None)`: answers the contract documents, for testing a
  client's parsing without any server.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Mapping

import httpx
from hypothesis import strategies as st

from emulators import providers
from emulators.engine.contracts import Contract, Operation, contract_for, deref
from emulators.engine.schema_checks import inline_refs, media_type
from emulators.testing import pins as pin_table
from emulators.testing.schemas import TEXT, from_schema

DEMO_TOKEN = "test-token"  # seeded by every provider
_UNSET: Any = object()


@dataclass(frozen=True)
class ApiRequest:
    """One request, ready for any HTTP client (`httpx_kwargs`, `send`)."""

    operation: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = _UNSET
    form: Mapping[str, Any] | None = None
    files: Mapping[str, Any] | None = None

    @property
    def has_json(self) -> bool:
        return self.json is not _UNSET

    def httpx_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"method": self.method, "url": self.path, "headers": dict(self.headers)}
        if self.query:
            kwargs["params"] = list(self.query)
        if self.has_json:
            kwargs["json"] = self.json
        if self.form is not None:
            kwargs["data"] = dict(self.form)
        if self.files is not None:
            kwargs["files"] = [(name, part) for name, parts in self.files.items()
                               for part in (parts if isinstance(parts, list) else [parts])]
        return kwargs

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(**self.httpx_kwargs())


@dataclass(frozen=True)
class ApiResponse:
    """One documented answer: status, headers, and the body (a JSON value, or bytes)."""

    operation: str
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def content(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()

    def json(self) -> Any:
        return self.body if not isinstance(self.body, bytes) else json.loads(self.body)

    def to_httpx(self, request: httpx.Request | None = None) -> httpx.Response:
        """As an httpx.Response (what most clients parse)."""
        return httpx.Response(self.status, headers=dict(self.headers), content=self.content,
                              request=request or httpx.Request("GET", "http://emulator.invalid/"))


# -- the contract ---------------------------------------------------------------------------------------
@cache
def contract(provider: str) -> Contract:
    return contract_for(providers.get(provider).contract_path)


def operations(provider: str) -> list[str]:
    """The provider's operation ids (those of the real API: emulator-only routes left out)."""
    return [op.operation_id for op in contract(provider).operations if not op.emulator_only]


def operation(provider: str, operation_id: str) -> Operation:
    try:
        return contract(provider).by_id[operation_id]
    except KeyError:
        raise ValueError(f"{provider} has no operation {operation_id!r}; it has {operations(provider)}") from None


def _inline(op: Operation, schema: Any) -> Any:
    return inline_refs(schema, op.document)


# -- requests -------------------------------------------------------------------------------------------
def requests(provider: str, operation_id: str, *, token: str | None = DEMO_TOKEN,
             **overrides: Any) -> st.SearchStrategy[ApiRequest]:
    """Requests of one operation, valid by the contract and by the provider.

    `overrides` replace what is drawn, by part: `path`, `query`, `json`, `form`, `files`, each a
    mapping of field name to a value or a strategy (`json` may also be a whole value or strategy),
    e.g. `requests("kie", "getTaskDetail", query={"taskId": task_id})`. `token=None`: no
    credentials."""
    op = operation(provider, operation_id)
    pins = pin_table.for_operation(provider, operation_id)
    parts = {key: _merged(pins.get(key), overrides.get(key)) for key in ("path", "query", "json", "form", "files")}
    unknown = set(overrides) - set(parts)
    if unknown:
        raise TypeError(f"unknown overrides {sorted(unknown)}; use path, query, json, form or files")
    missing = [f"{key}={{{name!r}: ...}} ({want.what})" for key, part in parts.items()
               for name, want in pin_table.needs(part)]
    if missing:
        raise TypeError(f"requests({provider!r}, {operation_id!r}) needs " + "; ".join(missing))
    params = [p for p in op.request.parameters]
    path_values = {p.name: _pinned(parts["path"], p.name, _parameter(op, p.name, p.location, path=True))
                   for p in params if p.location == "path"}
    query_fixed, query_maybe = {}, {}
    for p in params:
        if p.location != "query":
            continue
        value = _pinned(parts["query"], p.name, _parameter(op, p.name, "query"))
        if p.required or p.name in (parts["query"] or {}):
            query_fixed[p.name] = value
        else:
            query_maybe[p.name] = value
    query = st.fixed_dictionaries(query_fixed, optional=query_maybe).map(_query_pairs)
    body = _body(op, parts)
    auth = _auth_headers(op, token)

    def build(path_args: dict[str, str], q: tuple[tuple[str, str], ...], b: dict[str, Any]) -> ApiRequest:
        path = op.template
        for name, value in path_args.items():
            path = path.replace("{" + name + "}", _quote(value))
        return ApiRequest(operation=operation_id, method=op.method, path=path, query=q,
                          headers=auth, **b)

    return st.builds(build, st.fixed_dictionaries(path_values), query, body)


def _merged(pinned: Any, given: Any) -> Any:
    if isinstance(pinned, dict) and isinstance(given, dict):
        return {**pinned, **given}
    return given if given is not None else pinned


def _pinned(values: Any, name: str, default: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    if isinstance(values, dict) and name in values:
        return _strategy(values[name])
    return default


def _strategy(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _parameter(op: Operation, name: str, location: str, *, path: bool = False) -> st.SearchStrategy[Any]:
    for raw in op.parameters:  # the contract's own text (the parsed Parameter keeps no raw schema)
        spec = deref(raw, op.document)
        if spec.get("name") == name and spec.get("in", "query") == location:
            schema = _inline(op, spec.get("schema") or {"type": "string"})
            free_text = schema.get("type", "string") == "string" and not any(
                k in schema for k in ("enum", "const", "pattern", "format"))
            if free_text and (path or spec.get("required")):
                # a required text parameter is never blank (no provider accepts an empty id)
                return st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=max(1, schema.get("minLength", 1)),
                               max_size=min(24, schema.get("maxLength", 24)))
            return from_schema(schema)
    return st.text(TEXT, min_size=1, max_size=10)


def _query_pairs(values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((name, _text(item)))
    return tuple(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(op: Operation, parts: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    raw = deref(op.spec.get("requestBody"), op.document) if op.spec.get("requestBody") else None
    content = (raw or {}).get("content") or {}
    if not content:
        return st.just({})
    names = list(content)
    json_name = next((n for n in names if media_type(n) == "application/json"), None)
    if json_name is not None:
        schema = _inline(op, content[json_name].get("schema") or {})
        pinned = parts["json"]
        if pinned is not None and not isinstance(pinned, dict):
            return _strategy(pinned).map(lambda v: {"json": v})
        if isinstance(pinned, dict):
            schema = _without(schema, pinned)
            drawn = from_schema(schema) if schema else st.just({})
            chosen = {k: _strategy(v) for k, v in pinned.items() if v is not pin_table.OMIT}
            return st.tuples(drawn, st.fixed_dictionaries(chosen)).map(
                lambda t: {"json": {**t[0], **t[1]}})
        return from_schema(schema).map(lambda v: {"json": v})
    form_name = names[0]
    schema = _inline(op, content[form_name].get("schema") or {})
    return _form(schema, parts, multipart=media_type(form_name).startswith("multipart/"))


def _without(schema: Any, pinned: dict[str, Any]) -> Any:
    """The object schema without the pinned properties (they are drawn from their pins)."""
    from emulators.testing.schemas import merge

    flat = schema
    if isinstance(flat, dict) and "allOf" in flat:
        flat = {k: v for k, v in flat.items() if k != "allOf"}
        for member in schema["allOf"]:
            flat = merge(flat, member)
    if not isinstance(flat, dict):
        return flat
    props = {k: v for k, v in (flat.get("properties") or {}).items() if k not in pinned}
    required = [k for k in flat.get("required") or [] if k not in pinned]
    return {**flat, "properties": props, "required": required}


def _is_binary(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("format") == "binary" or schema.get("contentMediaType"):
        return True
    return schema.get("type") == "array" and _is_binary(schema.get("items"))


def _form(schema: Any, parts: dict[str, Any], *, multipart: bool) -> st.SearchStrategy[dict[str, Any]]:
    from emulators.testing.schemas import merge

    flat = schema
    for member in (schema.get("allOf") or []) if isinstance(schema, dict) else []:
        flat = merge({k: v for k, v in flat.items() if k != "allOf"}, member)
    props: dict[str, Any] = (flat or {}).get("properties") or {}
    required = set((flat or {}).get("required") or [])
    form_pins = parts["form"] or {}
    file_pins = parts["files"] or {}
    fields_must: dict[str, Any] = {}
    fields_may: dict[str, Any] = {}
    files_must: dict[str, Any] = {}
    files_may: dict[str, Any] = {}
    for name, sub in props.items():
        if form_pins.get(name) is pin_table.OMIT or file_pins.get(name) is pin_table.OMIT:
            continue
        if multipart and _is_binary(sub):
            strategy = _strategy(file_pins[name]) if name in file_pins else _file_part(sub)
            (files_must if name in required or name in file_pins else files_may)[name] = strategy
        else:
            strategy = _strategy(form_pins[name]) if name in form_pins else from_schema(sub).map(_form_value)
            (fields_must if name in required or name in form_pins else fields_may)[name] = strategy
    fields = st.fixed_dictionaries(fields_must, optional=fields_may).map(
        lambda d: {k: v for k, v in d.items() if v is not None})

    def build(f: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return {"form": f, "files": files or None} if multipart else {"form": f}

    return st.builds(build, fields, st.fixed_dictionaries(files_must, optional=files_may))


def _form_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, (dict,)):
        return json.dumps(value)
    return _text(value)


def _file_part(schema: Any) -> st.SearchStrategy[Any]:
    one = st.binary(min_size=1, max_size=64).map(lambda b: ("file.bin", b, "application/octet-stream"))
    if schema.get("type") == "array":
        return st.lists(one, min_size=max(1, int(schema.get("minItems", 1))), max_size=2)
    return one


def _auth_headers(op: Operation, token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    schemes = (op.document.get("components") or {}).get("securitySchemes") or {}
    for requirement in op.security or []:
        for name in requirement:
            scheme = schemes.get(name) or {}
            if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                return {"Authorization": f"Bearer {token}"}
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                return {scheme["name"]: token}
    return {}


# -- responses ------------------------------------------------------------------------------------------
def responses(provider: str, operation_id: str, status: int | str | None = None) -> st.SearchStrategy[ApiResponse]:
    """Answers the contract documents for one operation (every documented status, or `status`)."""
    op = operation(provider, operation_id)
    raw = op.spec.get("responses") or {}
    keys = [str(k) for k in raw]
    if status is not None:
        keys = [k for k in keys if k.upper() in (str(status).upper(), f"{str(status)[0]}XX")]
        if not keys:
            raise ValueError(f"{provider} {operation_id} documents no {status} answer")
    return st.one_of([_response(op, key, raw.get(key, raw.get(int(key)) if key.isdigit() else None), status)
                      for key in keys])


def _response(op: Operation, key: str, raw: Any, status: Any) -> st.SearchStrategy[ApiResponse]:
    spec = deref(raw, op.document) or {}
    if key.isdigit():
        codes = st.just(int(key))
    elif key.upper().endswith("XX"):
        codes = st.just(int(status)) if status is not None and str(status).isdigit() else st.just(int(key[0]) * 100)
    else:
        codes = st.sampled_from([200, 400, 500])
    headers = _headers(op, spec.get("headers") or {})
    content = spec.get("content") or {}
    if not content:
        bodies = st.just(("", b""))
    else:
        bodies = st.one_of([_content(op, name, media) for name, media in content.items()])

    def build(code: int, h: dict[str, str], typed: tuple[str, Any]) -> ApiResponse:
        ctype, body = typed
        all_headers = {**h, "content-type": ctype} if ctype else dict(h)
        return ApiResponse(operation=op.operation_id, status=code, headers=all_headers, body=body)

    return st.builds(build, codes, headers, bodies)


def _headers(op: Operation, specs: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    must: dict[str, st.SearchStrategy[str]] = {}
    may: dict[str, st.SearchStrategy[str]] = {}
    for name, raw in specs.items():
        if name.lower() == "content-type":
            continue
        spec = deref(raw, op.document) or {}
        schema = _inline(op, spec.get("schema") or {"type": "string"})
        value = from_schema(schema).map(_text).filter(_header_safe)
        (must if spec.get("required") else may)[name] = value
    return st.fixed_dictionaries(must, optional=may)


def _header_safe(value: str) -> bool:
    return all(" " <= ch <= "~" for ch in value) and value == value.strip()


def _content(op: Operation, name: str, media: Any) -> st.SearchStrategy[tuple[str, Any]]:
    kind = media_type(name)
    schema = _inline(op, (media or {}).get("schema") or {})
    if kind == "application/json" or kind.endswith("+json"):
        return from_schema(schema).map(lambda body: (name, body))
    ctype = "application/octet-stream" if "*" in kind else name
    return st.just((ctype, pin_table.sample_bytes(ctype)))
