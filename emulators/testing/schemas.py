"""A small compiler from the JSON Schema subset the contracts use to Hypothesis strategies.

Values are drawn with their edges in reach: strings and arrays at their documented maximum,
numbers at their bounds, optional properties absent, every enum value, every oneOf branch.
Objects get only the properties their schema declares (a contract check with undocumented
fields reported still passes). The result is filtered by the schema itself, so what comes out
is valid even where the compiler is approximate (oneOf exclusivity, patterns and lengths).
"""
from __future__ import annotations

import json
import math
import re
import string
from datetime import datetime, timezone
from typing import Any, Callable

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from emulators.engine.fast_schema import compile_schema

MAX_ITEMS = 3  # arrays beyond their minimum: at most this many more items (maxima aside)
MAX_TEXT = 20  # free text beyond its minimum length (maxima aside)
MAX_EDGE_ITEMS = 50  # arrays are drawn at their documented maxItems up to this size
MAX_EDGE_TEXT = 10_000  # strings are drawn at their documented maxLength up to this length
TEXT = string.ascii_letters + string.digits + " -_.,:;!?'()"
URLS = ("https://example.com/a.png", "https://example.com/files/b.mp3", "https://cdn.example.org/v/c.mp4")
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
INT32 = (-2**31, 2**31 - 1)  # unbounded integers are drawn in this range: what servers parse
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(TEXT, max_size=10))


def valid(schema: Any) -> Any:
    """A yes/no function for `schema` (inlined, refs resolved)."""
    return compile_schema(schema) or Draft202012Validator(schema).is_valid


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Values valid by `schema` (an inlined schema: no `$ref`)."""
    return _build(schema).filter(valid(schema))


def _build(node: Any) -> st.SearchStrategy[Any]:
    if node is True or node == {}:
        return JSON_SCALARS
    if node is False or not isinstance(node, dict):
        return st.nothing()
    if "allOf" in node:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for member in node["allOf"]:
            merged = merge(merged, member)
        return _build(merged)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            rest = {k: v for k, v in node.items() if k != key}
            branches = [_build(merge(rest, branch)) for branch in node[key]]
            return st.one_of(branches)
    kind = node.get("type") or _inferred_type(node)
    if isinstance(kind, list):
        return st.one_of([_build({**node, "type": k}) for k in kind])
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    return builder(node) if builder else JSON_SCALARS


def _inferred_type(node: dict[str, Any]) -> str | None:
    if "properties" in node or "required" in node:
        return "object"
    if "items" in node or "prefixItems" in node:
        return "array"
    if any(k in node for k in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return None


def merge(a: Any, b: Any) -> Any:
    """Both schemas at once (what allOf means), as one, so a strategy can be built for it."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return b if isinstance(b, dict) else a
    if "allOf" in b:
        for member in b["allOf"]:
            a = merge(a, member)
        b = {k: v for k, v in b.items() if k != "allOf"}
    out = dict(a)
    for key, value in b.items():
        if key == "properties" and isinstance(out.get(key), dict):
            props = dict(out[key])
            for name, sub in value.items():
                props[name] = merge(props[name], sub) if name in props else sub
            out[key] = props
        elif key == "required" and isinstance(out.get(key), list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "type" and key in out:
            mine = set(out[key] if isinstance(out[key], list) else [out[key]])
            theirs = set(value if isinstance(value, list) else [value])
            both = sorted(mine & theirs) or sorted(theirs)
            out[key] = both[0] if len(both) == 1 else both
        elif key in ("oneOf", "anyOf") and key in out:
            out[key] = [merge(x, y) for x in out[key] for y in value]
        else:
            out[key] = value
    return out


# -- one builder per type ------------------------------------------------------------------------------
def _object(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    props: dict[str, Any] = node.get("properties") or {}
    required = list(node.get("required") or [])
    extra = node.get("additionalProperties")
    fallback = extra if isinstance(extra, dict) else True
    must = {name: _build(props.get(name, fallback)) for name in required}
    may = {name: _build(sub) for name, sub in props.items() if name not in must}
    return st.fixed_dictionaries(must, optional=may)


def _array(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    prefix = [_build(s) for s in node.get("prefixItems") or []]
    items = node.get("items", True)
    each = _build(items) if items is not False else st.nothing()
    low = max(int(node.get("minItems", 0)) - len(prefix), 0)
    high = node.get("maxItems")
    cap = low + MAX_ITEMS if high is None else min(int(high) - len(prefix), low + MAX_ITEMS)
    unique = bool(node.get("uniqueItems"))

    def lists(lo: int, hi: int) -> st.SearchStrategy[list[Any]]:
        return st.lists(each, min_size=lo, max_size=max(lo, hi),
                        unique_by=(lambda v: json.dumps(v, sort_keys=True)) if unique else None)

    rest = lists(low, cap)
    if high is not None and int(high) - len(prefix) > cap and int(high) <= MAX_EDGE_ITEMS:
        rest = st.one_of(rest, lists(int(high) - len(prefix), int(high) - len(prefix)))  # at its maximum
    if prefix:
        return st.tuples(*prefix, rest).map(lambda t: [*t[:-1], *t[-1]])
    return rest


def _string(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = int(node.get("minLength", 0))
    high = node.get("maxLength")
    fmt = node.get("format")
    if "pattern" in node:
        return _matching(node["pattern"]).filter(lambda s: len(s) >= low and (high is None or len(s) <= high))
    if fmt in _FORMATS:
        return _FORMATS[fmt].filter(lambda s: len(s) >= low and (high is None or len(s) <= high))
    cap = low + MAX_TEXT if high is None else min(int(high), low + MAX_TEXT)
    text = st.text(TEXT, min_size=low, max_size=cap)
    if high is not None and int(high) > cap and int(high) <= MAX_EDGE_TEXT:
        text = st.one_of(text, st.text(TEXT, min_size=int(high), max_size=int(high)))  # at its maximum
    return text


def _matching(pattern: str) -> st.SearchStrategy[str]:
    """Printable ASCII strings in which `pattern` is found (JSON Schema patterns search)."""
    body = st.from_regex(re.compile(pattern, re.ASCII), fullmatch=True, alphabet=PRINTABLE)
    before = st.just("") if pattern.startswith("^") else st.text(TEXT, max_size=5)
    after = st.just("") if pattern.endswith("$") else st.text(TEXT, max_size=5)
    search = re.compile(pattern).search
    return st.tuples(before, body, after).map("".join).filter(lambda s: search(s) is not None)


def _integer(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = _int_bounds(node)
    low = INT32[0] if low is None else low
    high = INT32[1] if high is None else high
    if low is not None and high is not None and low > high:
        return st.nothing()
    return st.integers(low, high)


def _int_bounds(node: dict[str, Any]) -> tuple[int | None, int | None]:
    low = None if node.get("minimum") is None else math.ceil(node["minimum"])
    high = None if node.get("maximum") is None else math.floor(node["maximum"])
    if node.get("exclusiveMinimum") is not None:
        bound = math.floor(node["exclusiveMinimum"]) + 1
        low = bound if low is None else max(low, bound)
    if node.get("exclusiveMaximum") is not None:
        bound = math.ceil(node["exclusiveMaximum"]) - 1
        high = bound if high is None else min(high, bound)
    return low, high


def _number(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if low is None and high is None:
        return st.one_of(_integer(node), st.floats(-1e6, 1e6, allow_nan=False))
    floats = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False,
                       exclude_min="minimum" not in node and low is not None,
                       exclude_max="maximum" not in node and high is not None)
    return st.one_of(_integer(node), floats)


Builder = Callable[[dict[str, Any]], st.SearchStrategy[Any]]
_BUILDERS: dict[str, Builder] = {
    "object": _object, "array": _array, "string": _string, "integer": _integer, "number": _number,
    "boolean": lambda node: st.booleans(), "null": lambda node: st.none(),
}


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date-time": st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
        lambda d: _iso(d.replace(tzinfo=timezone.utc))),
    "date": st.dates().map(lambda d: d.isoformat()),
    "uri": st.sampled_from(URLS),
    "url": st.sampled_from(URLS),
    "email": st.sampled_from(["someone@example.com", "a.b@example.org"]),
    "uuid": st.uuids().map(str),
    "binary": st.text(TEXT, max_size=MAX_TEXT),
}
