"""Contracts (`contracts/<id>.yaml`, OpenAPI 3.1) loaded once, and what checks an exchange against
them: the emulator's contract layer (below), `emulators verify` and `emulators proxy` all use it.

A response is checked for its status (documented?), its content type, the headers the contract
names (required ones present, every one of the documented shape), its body (JSON schema;
binary bodies: do the bytes look like the declared type?). A request for its parameters, headers
and body (JSON, MessagePack, multipart or urlencoded forms). Nothing is ever changed or refused
because of a problem: problems are reported (the journal, verify's report).

Answers to paths and methods the contract does not have (404, 405) are checked against the
contract's top-level `x-unmatched` responses, when it declares them.
"""
from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import yaml
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.engine.schema_checks import (
    HeaderChecker,
    Problem,
    SchemaCheck,
    dedupe,
    header_checker,
    is_json,
    media_matches,
    media_type,
    resolve_pointer,
    shorten,
    sniff_problem,
)
from emulators.media.sniff import HEAD_SIZE

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

MAX_CHECKED_BODY = 4 * 1024 * 1024
METHODS = ("get", "post", "put", "delete", "patch", "head", "options")
REQUEST, RESPONSE = "request", "response"


@cache
def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def deref(node: Any, document: dict[str, Any]) -> Any:
    """Follows `$ref`s of objects the checks walk (responses, headers, parameters, bodies)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        node = resolve_pointer(document, node["$ref"])
        seen += 1
        if seen > 32:
            raise ValueError("reference cycle")
    return node


# -- what a body may be ---------------------------------------------------------------------------
class Media:
    """One entry of a `content` map: its media range and, for JSON, the compiled schema."""

    def __init__(self, name: str, spec: dict[str, Any], document: dict[str, Any]) -> None:
        self.name = name.lower()
        schema = spec.get("schema") if isinstance(spec, dict) else None
        self.schema = SchemaCheck(schema, document) if schema not in (None, {}) else None
        self.binary = isinstance(schema, dict) and schema.get("format") == "binary"


class Content:
    def __init__(self, spec: dict[str, Any] | None, document: dict[str, Any]) -> None:
        self.media = [Media(name, sub, document) for name, sub in (spec or {}).items()]

    def match(self, media: str) -> Media | None:
        exact = [m for m in self.media if m.name == media]
        if exact:
            return exact[0]
        return next((m for m in self.media if media_matches(m.name, media)), None)

    def names(self) -> str:
        return ", ".join(m.name for m in self.media)


# -- one documented response ------------------------------------------------------------------------
class Header:
    __slots__ = ("name", "key", "required", "check")

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.key = name.lower()
        self.required = bool(spec.get("required"))
        self.check: HeaderChecker = header_checker(spec.get("schema"))


class ResponseSpec:
    def __init__(self, key: str, spec: dict[str, Any], document: dict[str, Any]) -> None:
        spec = deref(spec, document)
        self.key = key
        self.headers = [Header(name, deref(h, document)) for name, h in (spec.get("headers") or {}).items()
                        if name.lower() != "content-type"]  # OpenAPI: described by `content`
        self.content = Content(spec.get("content"), document)

    def check(self, headers: Mapping[str, str], body: bytes | None, head: bytes | None,
              closed: bool = False) -> list[Problem]:
        problems = [p for h in self.headers for p in _header_problems(h, headers, RESPONSE)]
        problems += _body_problems(self.content, headers.get("content-type"), body, head, closed, RESPONSE)
        return problems


def _header_problems(header: Header, headers: Mapping[str, str], side: str) -> list[Problem]:
    value = headers.get(header.key)
    if value is None:
        return [Problem(side, f"header:{header.name}", "required header missing")] if header.required else []
    wrong = header.check(value)
    return [Problem(side, f"header:{header.name}", f"{value!r}: {wrong}")] if wrong else []


def _body_problems(content: Content, content_type: str | None, body: bytes | None, head: bytes | None,
                   closed: bool, side: str) -> list[Problem]:
    """Content type against the documented ones, then the body (when it was kept) against its
    schema. `head` None: an answer that has no body by its nature (HEAD), only headers count."""
    if not content.media:
        return []
    actual = media_type(content_type)
    if head is None:
        if actual and content.match(actual) is None:
            return [Problem(side, "header:content-type", f"{actual!r} is not documented ({content.names()})")]
        return []
    empty = body == b"" or (body is None and not head)
    if not actual:
        if empty:
            return []
        return [Problem(side, "header:content-type", f"missing; documented: {content.names()}")]
    media = content.match(actual)
    if media is None:
        return [Problem(side, "header:content-type", f"{actual!r} is not documented ({content.names()})")]
    if is_json(actual):
        if media.schema is None or body is None:
            return []
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return [Problem(side, "$", "body is not JSON")]
        return media.schema.problems(data, side, closed=closed)
    if media.binary or media.name.startswith(("audio/", "video/", "image/")):
        wrong = sniff_problem(actual, head)
        if wrong:
            return [Problem(side, "$", wrong)]
    return []


class Responses:
    """The documented responses of an operation (or the contract's `x-unmatched` ones)."""

    def __init__(self, spec: dict[str, Any] | None, document: dict[str, Any]) -> None:
        self.by_key = {str(k).upper(): ResponseSpec(str(k).upper(), v, document) for k, v in (spec or {}).items()}

    def get(self, status: int) -> ResponseSpec | None:
        key = str(status)
        by_key = self.by_key
        return by_key.get(key) or by_key.get(f"{key[0]}XX") or by_key.get("DEFAULT")

    def check(self, status: int, headers: Mapping[str, str], body: bytes | None, head: bytes | None = b"",
              closed: bool = False) -> list[Problem]:
        spec = self.get(status)
        if spec is None:
            documented = ", ".join(sorted(self.by_key)) or "none"
            return [Problem(RESPONSE, "status", f"{status} is not documented (documented: {documented})")]
        return dedupe(spec.check(headers, body, head, closed))


# -- requests ----------------------------------------------------------------------------------------
class Parameter:
    def __init__(self, spec: dict[str, Any], document: dict[str, Any]) -> None:
        self.name: str = spec["name"]
        self.location: str = spec.get("in", "query")
        self.required = bool(spec.get("required")) or self.location == "path"
        schema = spec.get("schema") or {}
        self.schema = SchemaCheck(schema, document)
        types = deref(schema, document).get("type") if isinstance(schema, dict) else None
        self.types = set(types if isinstance(types, list) else [types] if types else [])

    @property
    def where(self) -> str:
        return f"{self.location}:{self.name}"

    def typed(self, values: list[str]) -> Any:
        """Query strings carry text: read them as the schema's type before validating."""
        if "array" in self.types:
            return [_scalar(v) for v in values]
        value = values[-1]
        if self.types & {"integer", "number"} and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", value):
            number = float(value)
            return int(number) if number.is_integer() and re.fullmatch(r"-?[0-9]+", value) else number
        if "boolean" in self.types and value in ("true", "false"):
            return value == "true"
        return value


def _scalar(value: str) -> Any:
    return int(value) if re.fullmatch(r"-?[0-9]+", value) else value


class RequestSpec:
    def __init__(self, parameters: list[Any], body: dict[str, Any] | None, document: dict[str, Any]) -> None:
        self.parameters = [Parameter(deref(p, document), document) for p in parameters]
        body = deref(body, document) if body else None
        self.body_required = bool(body and body.get("required"))
        self.content = Content((body or {}).get("content"), document)


def _form_fields(content_type: str, body: bytes) -> dict[str, list[Any]]:
    """Fields of a multipart or urlencoded body; a file field's value is its bytes' length as text
    (the schemas say `type: string, format: binary`)."""
    fields: dict[str, list[Any]] = {}
    if media_type(content_type) == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            fields.setdefault(name, []).append(value)
        return fields
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition")
        if not isinstance(field, str) or not field:
            continue
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            fields.setdefault(field, []).append(f"<{len(payload)} bytes>")
        else:
            fields.setdefault(field, []).append(payload.decode("utf-8", "replace"))
    return fields


def _form_object(fields: dict[str, list[Any]], schema: Any) -> dict[str, Any]:
    props = (schema or {}).get("properties") or {} if isinstance(schema, dict) else {}
    out: dict[str, Any] = {}
    for name, values in fields.items():
        kind = (props.get(name) or {}).get("type") if isinstance(props.get(name), dict) else None
        out[name] = values if kind == "array" or (isinstance(kind, list) and "array" in kind) else values[-1]
    return out


# -- operations and the contract -------------------------------------------------------------------------
class Operation:
    def __init__(self, method: str, template: str, spec: dict[str, Any], path_item: dict[str, Any],
                 document: dict[str, Any]) -> None:
        self.method = method
        self.template = template
        self.spec = spec
        self.operation_id: str = spec.get("operationId") or f"{method} {template}"
        self.emulator_only = bool(spec.get("x-emulator"))
        self.security = spec.get("security", document.get("security") or [])
        self.document = document
        self.responses = Responses(spec.get("responses"), document)
        self._parameters = [*(path_item.get("parameters") or []), *(spec.get("parameters") or [])]

    @cached_property
    def request(self) -> RequestSpec:
        return RequestSpec(self._parameters, self.spec.get("requestBody"), self.document)

    def check_response(self, status: int, headers: Mapping[str, str], body: bytes | None,
                       head: bytes | None = b"", *, closed: bool = False) -> list[Problem]:
        """`headers` with lower-case names; `body` None when it was not kept (too large, streamed):
        then only what `head` (its first bytes) shows is checked."""
        return self.responses.check(status, headers, body, head, closed)

    def check_request(self, *, path_params: Mapping[str, str] | None = None,
                      query: Sequence[tuple[str, str]] = (), headers: Mapping[str, str] | None = None,
                      body: bytes | None = None, closed: bool = False) -> list[Problem]:
        """Parameters and body of a request against the contract (`headers` lower-case)."""
        headers = headers or {}
        spec = self.request
        problems: list[Problem] = []
        sources: dict[str, dict[str, list[str]]] = {"path": {}, "query": {}, "header": {}}
        for name, value in (path_params or {}).items():
            sources["path"][name] = [str(value)]
        for name, value in query:
            sources["query"].setdefault(name, []).append(value)
        for name, value in headers.items():
            sources["header"][name.lower()] = [value]
        for param in spec.parameters:
            if param.location not in sources:
                continue
            key = param.name.lower() if param.location == "header" else param.name
            values = sources[param.location].get(key)
            if not values:
                if param.required:
                    problems.append(Problem(REQUEST, param.where, "required parameter missing"))
                continue
            for p in param.schema.problems(param.typed(values), REQUEST):
                where = param.where if p.where == "$" else param.where + p.where[1:]
                problems.append(Problem(REQUEST, where, p.message))
        problems += self._request_body_problems(headers.get("content-type"), body, closed)
        return dedupe(problems)

    def _request_body_problems(self, content_type: str | None, body: bytes | None, closed: bool) -> list[Problem]:
        content = self.request.content
        if not body:
            if self.request.body_required:
                return [Problem(REQUEST, "$", "required body missing")]
            return []
        if not content.media:
            return []
        actual = media_type(content_type)
        media = content.match(actual) if actual else None
        if media is None:
            return [Problem(REQUEST, "header:content-type", f"{actual or 'none'!r} is not documented ({content.names()})")]
        try:
            if is_json(actual):
                data = json.loads(body)
            elif actual in ("application/msgpack", "application/x-msgpack"):
                import msgpack

                data = msgpack.unpackb(body, raw=False, strict_map_key=False)
            elif actual.startswith("multipart/") or actual == "application/x-www-form-urlencoded":
                data = _form_object(_form_fields(content_type or "", body), media.schema.inlined if media.schema else None)
            else:
                return []
        except Exception as exc:  # any undecodable body is the request's problem, never ours
            return [Problem(REQUEST, "$", shorten(f"body is not {actual}: {exc}"))]
        return media.schema.problems(data, REQUEST, closed=closed) if media.schema else []


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: list[Operation] = []
        self.fixed: dict[tuple[str, str], Operation] = {}
        self.templated: list[tuple[str, re.Pattern[str], Operation]] = []
        for template, item in (document.get("paths") or {}).items():
            for method, spec in item.items():
                if method.lower() not in METHODS:
                    continue
                op = Operation(method.upper(), template, spec, item, document)
                self.operations.append(op)
                if "{" in template:
                    self.templated.append((op.method, compile_path(template)[0], op))
                else:
                    self.fixed[(op.method, template)] = op
        self.by_id = {op.operation_id: op for op in self.operations}
        unmatched = document.get("x-unmatched") or {}
        self.unmatched = Responses(unmatched.get("responses"), document) if unmatched else None

    def operation(self, method: str, path: str) -> Operation | None:
        op = self.fixed.get((method, path))
        if op is not None:
            return op
        for op_method, regex, candidate in self.templated:
            if op_method == method and regex.match(path):
                return candidate
        return None

    def path_params(self, op: Operation, path: str) -> dict[str, str]:
        match = compile_path(op.template)[0].match(path)
        return match.groupdict() if match else {}

    def check_unmatched(self, method: str, path: str, status: int, headers: Mapping[str, str],
                        body: bytes | None, head: bytes | None = b"", *, closed: bool = False) -> list[Problem]:
        """An answer to a path or method the contract has no operation for."""
        if self.unmatched is not None:
            return self.unmatched.check(status, headers, body, head, closed)
        if status < 400:  # undocumented paths are fine to refuse, not to serve
            return [Problem(RESPONSE, "status", f"{method} {path} is not in the contract, yet answered {status}")]
        return []


@cache
def contract_for(path: Path) -> Contract:
    return Contract(load(path))


# -- capturing a response on its way out ----------------------------------------------------------------
class ResponseCapture:
    """Keeps what a check needs of a response passing by: status, headers, the first bytes, and
    a JSON body up to MAX_CHECKED_BODY (anything else streams through unkept)."""

    __slots__ = ("status", "headers", "head", "_chunks", "_size", "_keep")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head = b""
        self._chunks: list[bytes] = []
        self._size = 0
        self._keep = False

    def start(self, status: int, raw_headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.status = status
        headers = self.headers
        for key, value in raw_headers:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        self._keep = is_json(media_type(headers.get("content-type"))) and "content-encoding" not in headers

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < HEAD_SIZE:
            self.head += chunk[: HEAD_SIZE - len(self.head)]
        self._size += len(chunk)
        if self._keep:
            if self._size <= MAX_CHECKED_BODY:
                self._chunks.append(chunk)
            else:
                self._keep = False
                self._chunks.clear()

    def message(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start(message["status"], message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.feed(message.get("body", b""))

    @property
    def body(self) -> bytes | None:
        """The whole body when kept, None when it was not (not JSON, or too large)."""
        if self._keep:
            return b"".join(self._chunks)
        return b"" if self._size == 0 else None


def check_exchange(contract: Contract, method: str, path: str, capture: ResponseCapture,
                   *, closed: bool = False) -> list[Problem]:
    op = contract.operation(method, path)
    body, head = capture.body, capture.head
    if op is None and method == "HEAD" and capture.status < 400:
        # a HEAD the contract does not list answers as its GET, without the body (RFC 9110)
        op, body, head = contract.operation("GET", path), None, None
    if op is None:
        return contract.check_unmatched(method, path, capture.status, capture.headers, capture.body,
                                        capture.head, closed=closed)
    return op.check_response(capture.status, capture.headers, body, head, closed=closed)


class ContractLayer:
    """The emulator's switchable check of its own answers; problems go to the journal entry."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.contract = contract_for(emulator.provider.contract_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        capture = ResponseCapture()

        async def send_and_keep(message: Message) -> None:
            capture.message(message)
            await send(message)

        await self.app(scope, receive, send_and_keep)
        if capture.status:
            problems = check_exchange(self.contract, scope["method"], scope["path"], capture, closed=True)
            if problems:
                scope["emulator.violations"] = [p.as_json() for p in problems]
