"""Contracts (`contracts/<id>.yaml`, OpenAPI 3.1) loaded once, and the switchable layer that
checks every response against them. Violations are written to the journal entry of the request;
nothing is ever changed or refused because of them."""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jsonschema import Draft202012Validator
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

MAX_CHECKED_BODY = 4 * 1024 * 1024


@cache
def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


class Operation:
    def __init__(self, method: str, template: str, spec: dict[str, Any], components: dict[str, Any]) -> None:
        self.method = method
        self.template = template
        self.responses: dict[str, Draft202012Validator | None] = {}
        for status, response in (spec.get("responses") or {}).items():
            response = _deref(response, components)
            schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
            self.responses[str(status)] = (
                Draft202012Validator({**schema, "components": components}) if schema is not None else None)

    def check(self, status: int, content_type: str, body: bytes, *, with_body: bool = True) -> list[str]:
        key = str(status)
        if key not in self.responses:
            key = f"{key[0]}XX" if f"{key[0]}XX" in self.responses else "default"
        if key not in self.responses:
            return [f"{self.method} {self.template}: status {status} is not in the contract"]
        validator = self.responses[key]
        if validator is None or "json" not in content_type or not with_body:
            return []
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{self.method} {self.template} {status}: body is not JSON"]
        return [f"{self.method} {self.template} {status}: {'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                for e in validator.iter_errors(data)][:10]


def _deref(node: Any, components: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/"):
        section, name = node["$ref"][len("#/components/"):].split("/", 1)
        node = components[section][name]
    return node


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        components = document.get("components") or {}
        self.fixed: dict[tuple[str, str], Operation] = {}
        self.templated: list[tuple[str, re.Pattern[str], Operation]] = []
        for template, item in (document.get("paths") or {}).items():
            for method, spec in item.items():
                if method.lower() not in ("get", "post", "put", "delete", "patch", "head", "options"):
                    continue
                op = Operation(method.upper(), template, spec, components)
                if "{" in template:
                    self.templated.append((op.method, compile_path(template)[0], op))
                else:
                    self.fixed[(op.method, template)] = op

    def operation(self, method: str, path: str) -> Operation | None:
        op = self.fixed.get((method, path))
        if op is not None:
            return op
        for op_method, regex, candidate in self.templated:
            if op_method == method and regex.match(path):
                return candidate
        return None


@cache
def contract_for(path: Path) -> Contract:
    return Contract(load(path))


class ContractLayer:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.contract = contract_for(emulator.provider.contract_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        op = self.contract.operation(scope["method"], scope["path"])
        status = 0
        content_type = ""
        chunks: list[bytes] = []
        size = 0

        async def send_and_keep(message: Message) -> None:
            nonlocal status, content_type, size
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body" and "json" in content_type:
                body = message.get("body", b"")
                size += len(body)
                if size <= MAX_CHECKED_BODY:
                    chunks.append(body)
            await send(message)

        await self.app(scope, receive, send_and_keep)
        head = scope["method"] == "HEAD"
        if op is None and head and status < 400:  # a HEAD the contract does not list answers as
            op = self.contract.operation("GET", scope["path"])  # its GET, without the body (RFC 9110)
        if op is None:
            if status < 400:  # undocumented paths are fine to refuse, not to serve
                scope["emulator.violations"] = [f"{scope['method']} {scope['path']}: not in the contract"]
            return
        if size <= MAX_CHECKED_BODY and status:
            violations = op.check(status, content_type, b"".join(chunks), with_body=not head)
            if violations:
                scope["emulator.violations"] = violations
