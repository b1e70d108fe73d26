"""What `emulators verify` calls for a provider: a plan kept as data (`contracts/verify/<id>.yaml`).

A plan is a list of steps, each one call of a contract operation. What a step sends is written
in the plan or derived from the contract: its example body (`example: true`), a value its
schema refuses (`invalid: <parameter or field>`), how the token travels (the security scheme).
Steps that spend money or create things say `spend: true`; a step may save values of its answer
(`save: {name: <JSON path>}`) for later steps (`"{name}"` in any string) and `follow` a job to
its end by polling another operation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emulators.engine.contracts import Contract, Operation, deref
from emulators.engine.provider import CONTRACTS_DIR
from emulators.engine.schema_checks import inline_refs

PLANS_DIR = CONTRACTS_DIR / "verify"

Matcher = dict[str, list[Any]]  # "status" or a JSON path -> the values that match


class PlanError(ValueError):
    """A plan that does not fit its contract (a step naming an unknown operation, ...)."""


@dataclass
class Call:
    """One request of a step (or of a follow)."""

    operation: str
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    example: bool = False  # start from the contract's example body
    form: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth: str = "token"  # "token" | "none"
    invalid: str | None = None  # a parameter or body field to give a value its schema refuses


@dataclass
class Follow:
    call: Call
    until: Matcher  # JSON path -> terminal values
    every: float = 3.0  # seconds between polls (the provider's documented interval)
    save: dict[str, str] = field(default_factory=dict)


@dataclass
class Step:
    name: str
    call: Call
    spend: bool = False
    expect: Matcher = field(default_factory=dict)
    save: dict[str, str] = field(default_factory=dict)
    follow: Follow | None = None


@dataclass
class Plan:
    provider: str
    steps: list[Step]
    token_refused: list[Matcher] = field(default_factory=list)
    throttled: list[Matcher] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


def _matcher(raw: Any, where: str) -> Matcher:
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: a mapping of status / JSON path to values")
    return {str(k): (v if isinstance(v, list) else [v]) for k, v in raw.items()}


_CALL_KEYS = {"operation", "path", "query", "headers", "json", "example", "form", "files", "auth", "invalid"}


def _call(raw: dict[str, Any], contract: Contract, where: str) -> Call:
    operation = raw.get("operation")
    if operation not in contract.by_id:
        raise PlanError(f"{where}: no operation {operation!r} in the contract")
    auth = raw.get("auth", "token")
    if auth not in ("token", "none"):
        raise PlanError(f"{where}: auth is 'token' or 'none'")
    return Call(operation=operation, path=dict(raw.get("path") or {}), query=dict(raw.get("query") or {}),
                headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
                json=raw.get("json"), example=bool(raw.get("example")), form=dict(raw.get("form") or {}),
                files=dict(raw.get("files") or {}), auth=auth, invalid=raw.get("invalid"))


def parse_plan(data: dict[str, Any], contract: Contract) -> Plan:
    steps = []
    for i, raw in enumerate(data.get("steps") or []):
        where = f"step {i + 1}"
        unknown = set(raw) - _CALL_KEYS - {"name", "spend", "expect", "save", "follow"}
        if unknown:
            raise PlanError(f"{where}: unknown keys {sorted(unknown)}")
        call = _call(raw, contract, where)
        follow = None
        if raw.get("follow"):
            f = raw["follow"]
            follow = Follow(call=_call(f, contract, where + " follow"), until=_matcher(f.get("until"), where),
                            every=float(f.get("every", 3)), save=dict(f.get("save") or {}))
        steps.append(Step(name=str(raw.get("name") or call.operation), call=call, spend=bool(raw.get("spend")),
                          expect=_matcher(raw.get("expect") or {}, where), save=dict(raw.get("save") or {}),
                          follow=follow))
    return Plan(provider=str(data.get("provider")), steps=steps,
                token_refused=[_matcher(m, "token_refused") for m in data.get("token_refused") or []],
                throttled=[_matcher(m, "throttled") for m in data.get("throttled") or []],
                vars=dict(data.get("vars") or {}))


def load_plan(provider_id: str, contract: Contract, path: Path | None = None) -> Plan:
    path = path or PLANS_DIR / f"{provider_id}.yaml"
    return parse_plan(yaml.safe_load(path.read_text()), contract)


# -- values --------------------------------------------------------------------------------------------
_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariable(KeyError):
    pass


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """`"{name}"` alone keeps the saved value's type (a numeric job id stays a number)."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            if whole.group(1) not in variables:
                raise MissingVariable(whole.group(1))
            return variables[whole.group(1)]

        def one(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise MissingVariable(m.group(1))
            return str(variables[m.group(1)])

        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['([^']*)'\]|\[\?\(?@\.([A-Za-z_][A-Za-z0-9_]*)==(?:'([^']*)'|"([^"]*)"|(-?\d+))\)?\]""")


def get_path(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a small JSONPath: `$.a.b[0]['c d']`, `$.voices[?(@.id=='x')].status`."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSON path: {path}")
    pos, node = 1, data
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise ValueError(f"cannot read JSON path {path!r} at {path[pos:]!r}")
        pos = m.end()
        name, index, quoted, field_name, s1, s2, number = m.groups()
        key = name if name is not None else quoted
        if key is not None:
            if not isinstance(node, dict) or key not in node:
                return False, None
            node = node[key]
        elif index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return False, None
            node = node[int(index)]
        else:
            wanted: Any = s1 if s1 is not None else s2 if s2 is not None else int(number)
            if not isinstance(node, list):
                return False, None
            hits = [item for item in node if isinstance(item, dict) and _same(item.get(field_name), wanted)]
            if not hits:
                return False, None
            node = hits[0]
    return True, node


def _same(value: Any, wanted: Any) -> bool:
    return value == wanted or (value is not None and str(value) == str(wanted))


def example_body(op: Operation, document: dict[str, Any]) -> Any:
    """The contract's example request body of an operation (JSON media first)."""
    body = deref(op.spec.get("requestBody") or {}, document)
    for media in (body.get("content") or {}).values():
        if "example" in media:
            return media["example"]
        if media.get("examples"):
            first = next(iter(media["examples"].values()))
            return deref(first, document).get("value")
        schema = deref(media.get("schema") or {}, document)
        if schema.get("examples"):
            return schema["examples"][0]
        if "example" in schema:
            return schema["example"]
    raise PlanError(f"{op.operation_id}: the contract has no example request body")


def invalid_value(schema: Any, document: dict[str, Any]) -> Any:
    """A value the schema refuses, picked from its own constraints (None: none found)."""
    s = inline_refs(schema, document) if isinstance(schema, dict) else {}
    types = s.get("type") or []
    types = types if isinstance(types, list) else [types]
    if "enum" in s:
        values = s["enum"]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None):
            return max([v for v in values if v is not None] or [0]) + 1000
        return "not-" + "-".join(str(v) for v in values[:2])
    if "maximum" in s:
        return s["maximum"] + 1
    if "minimum" in s:
        return s["minimum"] - 1
    if "maxLength" in s:
        return "x" * (s["maxLength"] + 1)
    if s.get("minLength"):
        return ""
    if types and not set(types) & {"string", "null"}:
        return "not-a-" + str(types[0])
    return None


def body_field_schema(op: Operation, document: dict[str, Any], name: str) -> Any:
    body = deref(op.spec.get("requestBody") or {}, document)
    for media in (body.get("content") or {}).values():
        schema = inline_refs(media.get("schema") or {}, document)
        props = schema.get("properties") or {}
        if name in props:
            return props[name]
    return None
