"""Editing an answer at the edges of its contract (chaos mode): optional fields left out,
strings and arrays at their documented maximum, a list page emptied or made the last one.

The walkers follow the schema that applies to each value (allOf members, the oneOf/anyOf
branches the value matches), so a field is called optional only where no applicable schema
requires it. Callers check the edited answer against the contract before sending it.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from emulators.engine.fast_schema import compile_schema

MAX_PADDED_LENGTH = 100_000  # a documented maxLength beyond this is not worth sending
MAX_REPEATED_ITEMS = 1000
Path_ = tuple[str | int, ...]
_MISSING = object()


@dataclass(frozen=True)
class PageFields:
    items: tuple[str, ...]
    page: tuple[str, ...] | None = None
    size: tuple[str, ...] | None = None
    total: tuple[str, ...] | None = None
    pages: tuple[str, ...] | None = None
    has_next: tuple[str, ...] | None = None
    has_prev: tuple[str, ...] | None = None


# -- schema walking -----------------------------------------------------------------------------------
def path_of(text: str) -> tuple[str, ...]:
    """`$.data.pageIndex` -> ("data", "pageIndex")."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"not a path: {text!r}")
    return tuple(p for p in text[1:].split(".") if p)


def nodes(schema: Any) -> list[dict[str, Any]]:
    """`schema` and every allOf/oneOf/anyOf member in it (statically: all branches)."""
    out: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.append(node)
            for key in ("allOf", "oneOf", "anyOf"):
                stack.extend(node.get(key) or [])
    return out


def _walk(schema: Any, seen: set[int] | None = None) -> Iterable[dict[str, Any]]:
    """Every schema node reachable from `schema` (properties, items, applicators)."""
    seen = seen if seen is not None else set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        for key in ("allOf", "oneOf", "anyOf", "prefixItems"):
            stack.extend(node.get(key) or [])
        for key in ("properties", "patternProperties"):
            stack.extend((node.get(key) or {}).values())
        for key in ("items", "additionalProperties"):
            stack.append(node.get(key))


def has_optional(schema: Any) -> bool:
    """Whether some object of the schema has a property it does not require (nodes that only
    constrain properties declared elsewhere, such as `{"properties": {"code": {"const": 1}}}`
    branches, do not count)."""
    return any(set(node.get("properties") or {}) - set(node.get("required") or [])
               for node in _walk(schema) if "required" in node or node.get("type") == "object")


def _paddable(node: dict[str, Any]) -> bool:
    return not any(k in node for k in ("enum", "const", "pattern", "format"))


def has_maxima(schema: Any) -> bool:
    return any(("maxLength" in n and _paddable(n)) or ("maxItems" in n and not n.get("uniqueItems"))
               for n in _walk(schema))


_validators: dict[int, tuple[Any, Callable[[Any], bool]]] = {}


def _valid(schema: Any, value: Any) -> bool:
    entry = _validators.get(id(schema))
    if entry is None or entry[0] is not schema:
        check = compile_schema(schema) or Draft202012Validator(schema).is_valid
        entry = _validators[id(schema)] = (schema, check)
    return entry[1](value)


def _applicable(schemas: Iterable[Any], value: Any) -> list[dict[str, Any]]:
    """The schema nodes that apply to `value`: allOf members, and the oneOf/anyOf branches it matches."""
    out: list[dict[str, Any]] = []
    stack = list(schemas)
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        out.append(node)
        stack.extend(node.get("allOf") or [])
        for key in ("oneOf", "anyOf"):
            stack.extend(b for b in node.get(key) or [] if _valid(b, value))
    return out


def _children(nodes: list[dict[str, Any]], key: str) -> list[Any]:
    out = []
    for node in nodes:
        props = node.get("properties") or {}
        if key in props:
            out.append(props[key])
        elif isinstance(node.get("additionalProperties"), dict):
            out.append(node["additionalProperties"])
    return out


def _item_schemas(nodes: list[dict[str, Any]], index: int) -> list[Any]:
    out = []
    for node in nodes:
        prefix = node.get("prefixItems") or []
        if index < len(prefix):
            out.append(prefix[index])
        elif isinstance(node.get("items"), dict):
            out.append(node["items"])
    return out



def optional_paths(value: Any, schemas: list[Any], at: Path_ = ()) -> list[Path_]:
    """Paths of the fields present in `value` that no applicable schema requires."""
    nodes = _applicable(schemas, value)
    out: list[Path_] = []
    if isinstance(value, dict):
        required = {name for n in nodes for name in n.get("required") or []}
        for key, sub in value.items():
            if key not in required:
                out.append((*at, key))
            out.extend(optional_paths(sub, _children(nodes, key), (*at, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(optional_paths(item, _item_schemas(nodes, i), (*at, i)))
    return out


def maxima(value: Any, schemas: list[Any], at: Path_ = ()) -> list[tuple[Path_, str, int]]:
    """(path, "string" | "array", documented maximum) of what is below its maximum."""
    nodes = _applicable(schemas, value)
    out: list[tuple[Path_, str, int]] = []
    if isinstance(value, str):
        limits = [n["maxLength"] for n in nodes if "maxLength" in n]
        if limits and all(_paddable(n) for n in nodes) and len(value) < min(limits) <= MAX_PADDED_LENGTH:
            out.append((at, "string", min(limits)))
    elif isinstance(value, list):
        limits = [n["maxItems"] for n in nodes if "maxItems" in n]
        unique = any(n.get("uniqueItems") for n in nodes)
        if limits and value and not unique and len(value) < min(limits) <= MAX_REPEATED_ITEMS:
            out.append((at, "array", min(limits)))
        for i, item in enumerate(value):
            out.extend(maxima(item, _item_schemas(nodes, i), (*at, i)))
    elif isinstance(value, dict):
        for key, sub in value.items():
            out.extend(maxima(sub, _children(nodes, key), (*at, key)))
    return out


def _get(value: Any, path: Iterable[str | int]) -> Any:
    for part in path:
        if isinstance(value, dict) and isinstance(part, str) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return _MISSING
    return value


def _set(value: Any, path: tuple[str | int, ...], new: Any) -> None:
    parent = _get(value, path[:-1])
    if isinstance(parent, (dict, list)):
        parent[path[-1]] = new  # type: ignore[index]


def _delete(value: Any, path: Path_) -> None:
    parent = _get(value, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)




def shown(path: Path_) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out



def paginate(data: Any, fields: PageFields | None, *, empty: bool) -> str | None:
    if fields is None:
        return None
    items = _get(data, fields.items)
    if not isinstance(items, list):
        return None
    page: Any = _get(data, fields.page) if fields.page else _MISSING
    size: Any = _get(data, fields.size) if fields.size else _MISSING
    numbered = isinstance(page, int) and not isinstance(page, bool) and page >= 1
    if empty:
        _set(data, fields.items, [])
        kept = 0
    else:
        if not numbered:
            return None
        kept = len(items)
    if numbered and isinstance(size, int) and not isinstance(size, bool) and size > 0:
        before = (page - 1) * size  # the items of the pages before this one, which stay
        last_page = page if kept else page - 1
        for path, value in ((fields.total, before + kept), (fields.pages, last_page),
                            (fields.has_next, False), (fields.has_prev, page > 1)):
            if path and _get(data, path) is not _MISSING:
                _set(data, path, value)
    elif empty:
        for path, value in ((fields.total, 0), (fields.pages, 0), (fields.has_next, False)):
            if path and _get(data, path) is not _MISSING:
                _set(data, path, value)
    return "page_empty" if empty else "page_last"


def drop_optional(data: Any, schema: Any, rng: random.Random, check: Any) -> str | None:
    """Leaves out a random non-empty set of the fields no schema requires (each removal kept
    only while the whole still validates)."""
    paths = optional_paths(data, [schema])
    if not paths:
        return None
    chosen = rng.sample(paths, rng.randint(1, len(paths)))
    chosen.sort(key=len)
    dropped: list[Path_] = []
    for path in chosen:
        if any(path[:len(d)] == d for d in dropped):
            continue  # inside something already left out
        trial = copy.deepcopy(data)
        _delete(trial, path)
        if not check.problems(trial, "response"):
            _delete(data, path)
            dropped.append(path)
    if not dropped:
        return None
    return "optional_absent:" + ",".join(shown(p) for p in dropped)


def fill_maxima(data: Any, schema: Any, rng: random.Random) -> str | None:
    found = maxima(data, [schema])
    if not found:
        return None
    for path, kind, limit in found:
        value = _get(data, path)
        if kind == "string":
            new: Any = value + "x" * (limit - len(value))
        else:
            new = [copy.deepcopy(value[i % len(value)]) for i in range(limit)]
        if path:
            _set(data, path, new)
    return "max_sizes:" + ",".join(shown(p) for p, _, _ in found)
