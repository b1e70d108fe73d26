"""Contracts (`contracts/<id>.yaml`, OpenAPI 3.1) loaded once, and what checks an exchange against
them: the emulator's contract layer (below), `emulators verify` and `emulators proxy` all use it.

A response is checked for its status (documented?), its content type, the headers the contract
names (required ones present, every one of the documented shape), its body (JSON schema;
binary bodies: do the bytes look like the declared type?). A request for its parameters, headers
and body (JSON, MessagePack, multipart or urlencoded forms); strictly (`closed`), also for what
the provider would ignore but the contract does not document: unknown fields and query
parameters, values outside `x-strict`. Nothing is ever changed or refused because of a problem:
problems are reported (the journal, verify's report), each naming the rule of the contract it
breaks (a JSON pointer) where a rule is written.

Answers to paths and methods the contract does not have (404, 405) are checked against the
contract's top-level `x-unmatched` responses, when it declares them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from urllib.parse import parse_qsl

import yaml
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.engine.http import decode_json, has_body
from emulators.engine.journal import redact_query
from emulators.engine.schema_checks import (
    MISSING,
    HeaderChecker,
    Problem,
    SchemaCheck,
    dedupe,
    escape,
    header_checker,
    is_json,
    media_matches,
    media_type,
    resolve_pointer,
    shorten,
    shown_value,
    sniff_problem,
)
from emulators.engine.stall import BodyStalled
from emulators.engine.strict import ViolationReport, line, read_ahead
from emulators.media.sniff import HEAD_SIZE

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

log = logging.getLogger("emulators")

MAX_CHECKED_BODY = 4 * 1024 * 1024
METHODS = ("get", "post", "put", "delete", "patch", "head", "options")
REQUEST, RESPONSE = "request", "response"


@cache
def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def deref(node: Any, document: dict[str, Any]) -> Any:
    """Follows `$ref`s of objects the checks walk (responses, headers, parameters, bodies)."""
    return deref_at(node, document, "")[0]


def deref_at(node: Any, document: dict[str, Any], at: str) -> tuple[Any, str]:
    """`deref`, with the JSON pointer of what it lands on (`at`: where `node` is written)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        at = node["$ref"][1:]
        node = resolve_pointer(document, node["$ref"])
        seen += 1
        if seen > 32:
            raise ValueError("reference cycle")
    return node, at


# -- what a body may be ---------------------------------------------------------------------------
class Media:
    """One entry of a `content` map: its media range and, for JSON, the compiled schema."""

    def __init__(self, name: str, spec: dict[str, Any], document: dict[str, Any], at: str) -> None:
        self.name = name.lower()
        self.at = at
        schema = spec.get("schema") if isinstance(spec, dict) else None
        self.schema = SchemaCheck(schema, document, at + "/schema") if schema not in (None, {}) else None
        self.binary = isinstance(schema, dict) and schema.get("format") == "binary"


class Content:
    def __init__(self, spec: dict[str, Any] | None, document: dict[str, Any], at: str) -> None:
        self.at = at
        self.media = [Media(name, sub, document, f"{at}/{escape(name)}") for name, sub in (spec or {}).items()]

    def match(self, media: str) -> Media | None:
        exact = [m for m in self.media if m.name == media]
        if exact:
            return exact[0]
        return next((m for m in self.media if media_matches(m.name, media)), None)

    def names(self) -> str:
        return ", ".join(m.name for m in self.media)


# -- one documented response ------------------------------------------------------------------------
class Header:
    __slots__ = ("name", "key", "required", "check", "at")

    def __init__(self, name: str, spec: dict[str, Any], at: str) -> None:
        self.name = name
        self.key = name.lower()
        self.at = at
        self.required = bool(spec.get("required"))
        self.check: HeaderChecker = header_checker(spec.get("schema"))


class ResponseSpec:
    def __init__(self, key: str, spec: dict[str, Any], document: dict[str, Any], at: str) -> None:
        spec, at = deref_at(spec, document, at)
        self.key = key
        self.headers = [Header(name, *deref_at(h, document, f"{at}/headers/{escape(name)}"))
                        for name, h in (spec.get("headers") or {}).items()
                        if name.lower() != "content-type"]  # OpenAPI: described by `content`
        self.content = Content(spec.get("content"), document, at + "/content")

    def check(self, headers: Mapping[str, str], body: bytes | None, head: bytes | None,
              closed: bool = False) -> list[Problem]:
        problems = [p for h in self.headers for p in _header_problems(h, headers, RESPONSE)]
        problems += _body_problems(self.content, headers.get("content-type"), body, head, closed, RESPONSE)
        return problems


def _header_problems(header: Header, headers: Mapping[str, str], side: str) -> list[Problem]:
    value = headers.get(header.key)
    where = f"header:{header.name}"
    if value is None:
        return [Problem(side, where, "required header missing", header.at + "/required")] if header.required else []
    wrong = header.check(value)
    return [Problem(side, where, f"{value!r}: {wrong}", header.at + "/schema", shown_value(value, where))] \
        if wrong else []


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
        return [Problem(side, "header:content-type", f"missing; documented: {content.names()}", content.at)]
    media = content.match(actual)
    if media is None:
        return [Problem(side, "header:content-type", f"{actual!r} is not documented ({content.names()})",
                        content.at, actual)]
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

    def __init__(self, spec: dict[str, Any] | None, document: dict[str, Any], at: str) -> None:
        self.at = at
        self.by_key = {str(k).upper(): ResponseSpec(str(k).upper(), v, document, f"{at}/{escape(str(k))}")
                       for k, v in (spec or {}).items()}

    def get(self, status: int) -> ResponseSpec | None:
        key = str(status)
        by_key = self.by_key
        return by_key.get(key) or by_key.get(f"{key[0]}XX") or by_key.get("DEFAULT")

    def check(self, status: int, headers: Mapping[str, str], body: bytes | None, head: bytes | None = b"",
              closed: bool = False) -> list[Problem]:
        spec = self.get(status)
        if spec is None:
            documented = ", ".join(sorted(self.by_key)) or "none"
            return [Problem(RESPONSE, "status", f"{status} is not documented (documented: {documented})",
                            self.at, status)]
        return dedupe(spec.check(headers, body, head, closed))


# -- requests ----------------------------------------------------------------------------------------
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


def _types(schema: Any) -> set[str]:
    types = schema.get("type") if isinstance(schema, dict) else None
    return set(types if isinstance(types, list) else [types] if types else [])


def _typed(values: list[str], types: set[str]) -> Any:
    """Text from a query string or a form field read as the schema's type before validating."""
    if "array" in types:
        return [int(v) if _INTEGER.fullmatch(v) else v for v in values]
    value = values[-1]
    if types & {"integer", "number"} and "string" not in types and _NUMBER.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and _INTEGER.fullmatch(value) else number
    if "boolean" in types and "string" not in types and value in ("true", "false"):
        return value == "true"
    return value


class Parameter:
    def __init__(self, spec: dict[str, Any], document: dict[str, Any], at: str) -> None:
        self.name: str = spec["name"]
        self.location: str = spec.get("in", "query")
        self.at = at
        self.required = bool(spec.get("required")) or self.location == "path"
        self.allow_empty = bool(spec.get("allowEmptyValue"))  # `?name=` means what absence means
        schema = spec.get("schema") or {}
        self.schema = SchemaCheck(schema, document, at + "/schema")
        self.types = _types(deref(schema, document))

    @property
    def where(self) -> str:
        return f"{self.location}:{self.name}"

    def typed(self, values: list[str]) -> Any:
        """Query strings carry text: read them as the schema's type before validating."""
        return _typed(values, self.types)


class RequestSpec:
    def __init__(self, parameters: list[tuple[Any, str]], body: dict[str, Any] | None, document: dict[str, Any],
                 at: str) -> None:
        self.parameters = [Parameter(spec, document, spec_at)
                           for spec, spec_at in (deref_at(p, document, p_at) for p, p_at in parameters)]
        self.query_names = frozenset(p.name for p in self.parameters if p.location == "query")
        body, self.body_at = deref_at(body, document, at + "/requestBody") if body else (None, "")
        self.body_required = bool(body and body.get("required"))
        self.content = Content((body or {}).get("content"), document, self.body_at + "/content")


def _form_fields(content_type: str, body: bytes) -> dict[str, list[Any]]:
    """Fields of a multipart or urlencoded body; a file field's value is its bytes' length as text
    (the schemas say `type: string, format: binary`)."""
    fields: dict[str, list[Any]] = {}
    if media_type(content_type) == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            fields.setdefault(name, []).append(value)
        return fields
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
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
    """A form as the object its schema describes: every value is text on the wire, so each is
    read as its property's type (a number field's "5" is 5; repeated fields make an array)."""
    props = (schema or {}).get("properties") or {} if isinstance(schema, dict) else {}
    return {name: _typed(values, _types(props.get(name))) for name, values in fields.items()}


# -- operations and the contract -------------------------------------------------------------------------
class Operation:
    def __init__(self, method: str, template: str, spec: dict[str, Any], path_item: dict[str, Any],
                 document: dict[str, Any]) -> None:
        self.method = method
        self.template = template
        self.spec = spec
        self.at = f"/paths/{escape(template)}/{method.lower()}"  # where it is written in the contract
        self.operation_id: str = spec.get("operationId") or f"{method} {template}"
        self.emulator_only = bool(spec.get("x-emulator"))
        self.security = spec.get("security", document.get("security") or [])
        self.document = document
        self.responses = Responses(spec.get("responses"), document, self.at + "/responses")
        item_at = f"/paths/{escape(template)}/parameters"
        self._parameters = [*((p, f"{item_at}/{i}") for i, p in enumerate(path_item.get("parameters") or [])),
                            *((p, f"{self.at}/parameters/{i}") for i, p in enumerate(spec.get("parameters") or []))]

    @property
    def parameters(self) -> list[dict[str, Any]]:
        """The operation's parameters as the contract writes them (the path item's first)."""
        return [parameter for parameter, _ in self._parameters]

    @cached_property
    def request(self) -> RequestSpec:
        return RequestSpec(self._parameters, self.spec.get("requestBody"), self.document, self.at)

    def check_response(self, status: int, headers: Mapping[str, str], body: bytes | None,
                       head: bytes | None = b"", *, closed: bool = False) -> list[Problem]:
        """`headers` with lower-case names; `body` None when it was not kept (too large, streamed):
        then only what `head` (its first bytes) shows is checked."""
        return self.responses.check(status, headers, body, head, closed)

    def check_request(self, *, path_params: Mapping[str, str] | None = None,
                      query: Sequence[tuple[str, str]] = (), headers: Mapping[str, str] | None = None,
                      body: bytes | None = None, closed: bool = False) -> list[Problem]:
        """Parameters and body of a request against the contract (`headers` lower-case; `body`
        None when it was not kept: then it is not checked). `closed`: the strict check, which also
        reports undocumented fields and query parameters and applies `x-strict`."""
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
            if param.allow_empty and values == [""]:
                continue
            if not values:
                if param.required:
                    problems.append(Problem(REQUEST, param.where, "required parameter missing", param.at + "/required"))
                continue
            if len(values) > 1 and "array" not in param.types:
                problems.append(Problem(REQUEST, param.where, f"given {len(values)} times", param.at + "/schema",
                                        shown_value(values, param.where)))
                continue
            for p in param.schema.problems(param.typed(values), REQUEST, closed=closed):
                where = param.where if p.where == "$" else param.where + p.where[1:]
                shown = p.value if p.value is MISSING else shown_value(p.value, where)
                problems.append(dataclasses.replace(p, where=where, value=shown))
        if closed:
            for name, values in sources["query"].items():
                if name not in spec.query_names:
                    where = f"query:{name}"
                    problems.append(Problem(REQUEST, where, "undocumented parameter", self.at + "/parameters",
                                            shown_value(values[-1], where)))
        problems += self._request_body_problems(headers.get("content-type"), body, closed)
        return dedupe(problems)

    def _request_body_problems(self, content_type: str | None, body: bytes | None, closed: bool) -> list[Problem]:
        spec = self.request
        content = spec.content
        if body is None:  # not kept (too large to check)
            return []
        if not body:
            if spec.body_required:
                return [Problem(REQUEST, "body", "required body missing", spec.body_at + "/required")]
            return []
        if not content.media:
            if closed and not spec.body_at:
                return [Problem(REQUEST, "body", f"{self.method} {self.template} takes no body", self.at)]
            return []
        actual = media_type(content_type)
        media = content.match(actual) if actual else None
        if media is None:
            return [Problem(REQUEST, "content-type", f"{actual or 'none'!r} is not documented ({content.names()})",
                            content.at, actual or None)]
        try:
            if is_json(actual):
                data = decode_json(body)  # JSON text as the providers read it (no NaN, bounded depth)
            elif actual in ("application/msgpack", "application/x-msgpack"):
                import msgpack

                data = msgpack.unpackb(body, raw=False, strict_map_key=False)
            elif actual.startswith("multipart/") or actual == "application/x-www-form-urlencoded":
                schema = media.schema.inlined if media.schema else None
                data = _form_object(_form_fields(content_type or "", body), schema)
            else:
                return []
        except Exception as exc:  # any undecodable body is the request's problem, never ours
            return [Problem(REQUEST, "body", shorten(f"body is not {actual}: {exc}"), media.at,
                            shown_value(body[:MAX_SHOWN_BODY].decode("utf-8", "replace")))]
        return media.schema.problems(data, REQUEST, closed=closed) if media.schema else []


MAX_SHOWN_BODY = 200


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
        self.unmatched = Responses(unmatched.get("responses"), document, "/x-unmatched/responses") \
            if unmatched else None

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
    """The emulator's switchable check of its own answers and, in strict mode (strict.py), of
    the requests it receives; problems go to the journal entry, never into the answer."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.provider_id = emulator.provider.id
        self.emulator = emulator
        self.contract = contract_for(emulator.provider.contract_path)
        self.responses = True  # check answers
        self.strict = False  # check requests (strict.enable)
        self.report: ViolationReport | None = None  # one line per violation (serve --strict)
        self.allowance = 0  # > 0: requests now starting are bad on purpose (strict.allowance)
        self.unexpected: list[str] | None = None  # when a list: lines for request violations not allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        strict = self.strict
        body: bytes | None = b""
        allowed = self.allowance > 0
        if strict and has_body(scope):
            try:
                body, receive = await read_ahead(receive, MAX_CHECKED_BODY)
            except BodyStalled:
                scope["emulator.status"] = 408  # for the journal (the emulator answers it)
                raise
        capture = ResponseCapture()

        async def send_and_keep(message: Message) -> None:
            capture.message(message)
            await send(message)

        await self.app(scope, receive, send_and_keep if self.responses else send)
        method, path = scope["method"], scope["path"]
        problems = self._judge_request(scope, body) if strict else []
        request_problems = len(problems)
        if self.responses and capture.status:
            problems += check_exchange(self.contract, method, path, capture, closed=True)
        if not problems:
            return
        violations = [p.as_json() for p in problems]
        scope["emulator.violations"] = violations
        status = scope.get("emulator.status", capture.status)
        if self.report is not None:
            self.report.write(self.provider_id, method, path, status, self.emulator.token_of(scope), violations)
        if request_problems and not allowed and self.unexpected is not None:
            query = scope.get("query_string", b"")
            shown = f"{path}?{redact_query(query)}" if query else path
            self.unexpected += [line(self.provider_id, method, shown, status, v) for v in violations[:request_problems]]

    def _judge_request(self, scope: Scope, body: bytes | None) -> list[Problem]:
        try:
            return self.check_request(scope, body)
        except Exception as exc:  # a bug of the check: said, never a broken answer (it has been sent)
            log.exception("strict check of %s %s", scope["method"], scope["path"])
            return [Problem(REQUEST, "body", shorten(f"the strict check failed: {type(exc).__name__}: {exc}"))]

    def check_request(self, scope: Scope, body: bytes | None) -> list[Problem]:
        """The request against its operation: parameters, headers, body, strictly."""
        method, path = scope["method"], scope["path"]
        contract = self.contract
        op = contract.operation(method, path)
        if op is None and method == "HEAD":  # a GET without its body (RFC 9110)
            op = contract.operation("GET", path)
        if op is None:
            return [Problem(REQUEST, "path", f"{method} {path} is not in the contract", "/paths", path)]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path_params = contract.path_params(op, path) if "{" in op.template else None
        return op.check_request(path_params=path_params, query=query, headers=headers, body=body, closed=True)
