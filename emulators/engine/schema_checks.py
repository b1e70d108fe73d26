"""Checking values against the schemas of a contract, and naming what is wrong by where it is.

A problem names the side of the exchange ("request" / "response"), where ("$.data[0].voiceId",
"header:Retry-After", "query:limit", "status") and what; when it comes from a schema, also the
rule it breaks (a JSON pointer into the contract: the keyword that failed) and the value found.
Schemas are compiled once; the "closed" variant (verify's undocumented-field check, the strict
check of requests) is built only when asked for.

Two keywords of our own live in the contracts' schemas: `x-strict` holds keywords that replace
the schema's own in the closed variant (what the docs ask of a careful client, where the provider
accepts more), and `x-at` is written into each inlined schema node (its pointer in the contract),
so that a failed keyword can be named where it is written.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Final, Iterable, Iterator

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from emulators.engine.fast_schema import CLOSED, compile_schema
from emulators.media.sniff import MIME_TYPES, sniff

MAX_PROBLEMS = 25
MAX_MESSAGE = 200


MAX_VALUE = 120  # characters of an offending value shown in a problem


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()  # a problem about something absent has no value to show


@dataclass(frozen=True, slots=True)
class Problem:
    """Equal (and deduplicated) by side, where and message: rule and value only explain them."""

    side: str  # "request" | "response"
    where: str  # a JSON path into the body, "header:<name>", "query:<name>", "path:<name>", "status",
    #             on the request side also "body" and "content-type"
    message: str
    rule: str | None = field(default=None, compare=False)  # JSON pointer into the contract
    value: Any = field(default=MISSING, compare=False)  # the offending value, shortened

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"side": self.side, "where": self.where, "message": self.message}
        if self.rule is not None:
            out["rule"] = self.rule
        if self.value is not MISSING:
            out["value"] = self.value
        return out


def shown_value(value: Any, where: str = "") -> Any:
    """A value as a problem shows it: short strings and small structures as they are, longer ones
    cut (as text), whatever JSON cannot carry as text (infinity, bytes, huge integers); the
    values of secret-named fields (`token`, `apiKey`, ...) never, at any depth."""
    from emulators.engine.journal import is_secret_name

    name = re.split(r"[.:\[\]']+", where.rstrip("]'"))[-1] if where else ""
    if name and is_secret_name(name):
        return "***"
    if isinstance(value, str):
        return _cut(value)
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 10**18):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (dict, list)):
        value = _without_secrets(value, 32)
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            return _cut(_plain(value))
        return value if len(text) <= MAX_VALUE else _cut(text)
    return _cut(_plain(value))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 3] + "..."


def _plain(value: Any) -> str:
    """Text for a value JSON cannot hold as it is (never a 5000-digit conversion)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if abs(value) < 10**4000 else "<an integer of over 4000 digits>"
    try:
        return repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def _without_secrets(value: Any, depth: int) -> Any:
    from emulators.engine.journal import is_secret_name

    if depth <= 0:
        return "..."
    if isinstance(value, dict):
        return {k: "***" if isinstance(k, str) and is_secret_name(k) else _without_secrets(v, depth - 1)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v, depth - 1) for v in value]
    return value


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    """`$.data[0].voiceId`; keys that are not identifiers as `$['files[]']`."""
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- closing object schemas (undocumented fields are drift) ---------------------------------------
_CLOSED = CLOSED  # our keyword: properties no subschema declares are reported one by one


def _closed_keyword(validator: Any, enabled: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if not enabled or not validator.is_type(instance, "object"):
        return
    declared = set(_evaluated_keys(validator, instance, schema))
    for key in instance:
        if key not in declared:
            yield ValidationError("undocumented field", path=(key,), validator_value=True)


try:  # jsonschema's own walk of what unevaluatedProperties would call evaluated
    from jsonschema._utils import find_evaluated_property_keys_by_schema as _evaluated_keys
except ImportError:  # pragma: no cover - a jsonschema without it: declared properties only
    def _evaluated_keys(validator: Any, instance: Any, schema: dict[str, Any]) -> list[str]:
        return [k for k in (schema.get("properties") or {}) if k in instance]


ClosingValidator = extend(Draft202012Validator, {_CLOSED: _closed_keyword})

_APPLICATORS = ("allOf", "oneOf", "anyOf")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_ONES = ("items", "additionalProperties", "unevaluatedProperties", "contains", "then", "else")


AT = "x-at"  # where an inlined schema node is written in the contract (a JSON pointer)
STRICT = "x-strict"  # keywords that replace the node's own in the closed (strict) variant
RULES = "x-rules"  # in the closed variant: keyword -> where the x-strict keyword that replaced it is
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SUBSCHEMA_ONES = ("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "contains",
                   "not", "if", "then", "else", "propertyNames", STRICT)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def escape(token: str) -> str:
    """One reference token of a JSON pointer (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def inline_schema(node: Any, document: dict[str, Any], at: str, stack: tuple[str, ...] = ()) -> Any:
    """`inline_refs` for a schema written at pointer `at`: every schema node of the copy also
    says where it is written (`x-at`; behind a `$ref`, where the target is)."""
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in stack:
        inlined = inline_schema(resolve_pointer(document, ref), document, ref[1:], stack + (ref,))
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if rest:  # 3.1 allows siblings next to $ref: both apply
            return {"allOf": [inlined, inline_schema(rest, document, at, stack)], AT: at}
        return inlined
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = f"{at}/{escape(key)}"
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: inline_schema(v, document, f"{here}/{escape(k)}", stack) for k, v in value.items()}
        elif key in _SUBSCHEMA_ONES:
            out[key] = inline_schema(value, document, here, stack)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [inline_schema(v, document, f"{here}/{i}", stack) for i, v in enumerate(value)]
        else:  # enum, const, examples, defaults...: values, not schemas
            out[key] = inline_refs(value, document, stack)
    out[AT] = at
    return out


def inline_refs(node: Any, document: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """A deep copy with local `$ref`s replaced by what they point to (a cyclic one stays a ref)."""
    if isinstance(node, list):
        return [inline_refs(item, document, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in stack:
        target = resolve_pointer(document, ref)
        rest = {k: v for k, v in node.items() if k != "$ref"}
        inlined = inline_refs(target, document, stack + (ref,))
        if rest:  # 3.1 allows siblings next to $ref: both apply
            return {"allOf": [inlined, inline_refs(rest, document, stack)]}
        return inlined
    return {k: inline_refs(v, document, stack) for k, v in node.items()}


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _is_object_schema(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return "properties" in node or kind == "object" or (isinstance(kind, list) and "object" in kind)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both at once (what allOf means), as one schema so that its properties are known together."""
    out = dict(a)
    for key, value in b.items():
        if key == "properties" and isinstance(out.get(key), dict):
            props = dict(out[key])
            for name, sub in value.items():
                both = name in props and isinstance(props[name], dict) and isinstance(sub, dict)
                props[name] = _merge(props[name], sub) if both else sub
            out[key] = props
        elif key == "required" and isinstance(out.get(key), list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == AT and key in out:  # merged nodes are named by the first one
            continue
        elif key == RULES and isinstance(out.get(key), dict):
            out[key] = {**value, **out[key]}
        elif key not in out or out[key] == value:
            out[key] = value
        else:  # two different constraints of one keyword: keep both
            out.setdefault("allOf", [])
            out["allOf"] = [*out["allOf"], {key: value}]
    return out


def _flatten_all_of(node: dict[str, Any]) -> dict[str, Any]:
    members = node.get("allOf")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        return node
    if any(k in m for m in members for k in ("additionalProperties", "unevaluatedProperties", "$ref")):
        return node  # merging would change what those mean
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for member in members:
        merged = _merge(merged, _flatten_all_of(member))
    return merged


def close_objects(node: Any, partial: bool = False) -> Any:
    """Marks every complete object schema closed. Members of an applicator next to the node's
    own properties only add to them (partial): they are left open, the node itself is closed."""
    if isinstance(node, list):
        return [close_objects(n, partial) for n in node]
    if not isinstance(node, dict):
        return node
    node = _flatten_all_of(_strict_keywords(node))
    out: dict[str, Any] = {}
    own_properties = "properties" in node or "allOf" in node
    for key, value in node.items():
        if key in _APPLICATORS and isinstance(value, list):
            out[key] = [close_objects(v, partial or own_properties or key == "allOf") for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: close_objects(v, partial) for k, v in value.items()}
        elif key in ("then", "else"):  # like an applicator's member: adds to the node's properties
            out[key] = close_objects(value, True)
        elif key in _SCHEMA_ONES or key == "prefixItems":
            out[key] = close_objects(value, partial)
        else:  # not, if, propertyNames, const, enum, examples...: left as written
            out[key] = value
    opened = "additionalProperties" in node or "unevaluatedProperties" in node
    if not partial and not opened and (_is_object_schema(node) or "allOf" in node):
        out[_CLOSED] = True
    return out


def _strict_keywords(node: dict[str, Any]) -> dict[str, Any]:
    """The node with its `x-strict` keywords in place of its own (each remembered in `x-rules`,
    so that a failure names the x-strict keyword)."""
    strict = node.get(STRICT)
    if not isinstance(strict, dict):
        return node
    out = {k: v for k, v in node.items() if k != STRICT}
    rules = dict(out.get(RULES) or {})
    base = strict.get(AT)
    for key, value in strict.items():
        if key == AT:
            continue
        out[key] = value
        if base is not None:
            rules[key] = f"{base}/{escape(key)}"
    if rules:
        out[RULES] = rules
    return out


# -- compiled schemas ------------------------------------------------------------------------------
class SchemaCheck:
    """One schema of a contract (a body, a parameter), compiled once; `closed=True` also reports
    properties the schema does not declare."""

    def __init__(self, schema: Any, document: dict[str, Any], at: str | None = None) -> None:
        self.schema = schema
        self.document = document
        self.at = at  # where the schema is written in the contract; None: rules are not named
        self._open: Any = None
        self._closed: Any = None

    def _root(self, schema: Any) -> Any:
        # refs inlined (a validator following $refs at run time is ~30% slower); a cyclic one
        # still resolves against the components
        if isinstance(schema, dict):
            return {**schema, "components": self.document.get("components") or {}}
        return schema

    @cached_property
    def inlined(self) -> Any:
        if self.at is not None:
            return inline_schema(self.schema, self.document, self.at)
        return inline_refs(self.schema, self.document)

    @property
    def open(self) -> Any:
        if self._open is None:
            self._open = Draft202012Validator(self._root(self.inlined))
        return self._open

    @property
    def closed(self) -> Any:
        if self._closed is None:
            schema = close_objects(self.inlined)
            self._closed = ClosingValidator(self._root(schema))
        return self._closed

    @cached_property
    def fast_open(self) -> Callable[[Any], bool] | None:
        return compile_schema(self.inlined)

    @cached_property
    def fast_closed(self) -> Callable[[Any], bool] | None:
        return compile_schema(close_objects(self.inlined))

    def problems(self, instance: Any, side: str, *, closed: bool = False, root: str = "$") -> list[Problem]:
        fast = self.fast_closed if closed else self.fast_open
        if fast is not None and fast(instance):
            return []
        validator = self.closed if closed else self.open
        if validator.is_valid(instance):
            return []
        out: list[Problem] = []
        for error in validator.iter_errors(instance):
            out.extend(explain(error, side, root))
            if len(out) >= MAX_PROBLEMS:
                break
        return dedupe(out)[:MAX_PROBLEMS]


def dedupe(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _rule(error: ValidationError, keyword: str | None = None) -> str | None:
    """Where the failed keyword is written in the contract (None: the schema is not annotated)."""
    schema = error.schema
    if not isinstance(schema, dict):
        return None
    keyword = keyword or str(error.validator)
    replaced = schema.get(RULES)
    if isinstance(replaced, dict) and keyword in replaced:
        return str(replaced[keyword])
    at = schema.get(AT)
    return None if at is None else f"{at}/{escape(keyword)}"


def explain(error: ValidationError, side: str, root: str = "$") -> list[Problem]:
    """Problems named by the JSON path of the field itself (a missing property by its own name;
    a failed oneOf/anyOf by what is wrong in the branch the value was most likely meant for)."""
    path = list(error.absolute_path)
    if error.validator in ("oneOf", "anyOf") and error.context:
        branch = _likely_branch(error.context)
        if branch is not None:
            return [p for e in branch for p in explain(e, side, root)]
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance and error.message == f"{name!r} is a required property":
                return [Problem(side, json_path([*path, name], root), "required field missing", _rule(error))]
    if error.validator == _CLOSED:
        where = json_path(path, root)
        instance = error.instance
        value = instance.get(path[-1], MISSING) if isinstance(instance, dict) and path else MISSING
        has_properties = isinstance(error.schema, dict) and "properties" in error.schema
        rule = _rule(error, "properties" if has_properties else "type")
        return [Problem(side, where, "undocumented field", rule,
                        MISSING if value is MISSING else shown_value(value, where))]
    where = json_path(path, root)
    return [Problem(side, where, shorten(error.message), _rule(error), shown_value(error.instance, where))]


def _depth(error: ValidationError) -> int:
    return len(error.absolute_path) + (1 if error.validator in ("required", _CLOSED) else 0)


def _likely_branch(context: list[ValidationError]) -> list[ValidationError] | None:
    """The branch whose errors reach deepest into the value (then: fewest errors)."""
    branches: dict[Any, list[ValidationError]] = {}
    for e in context:
        branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)
    if not branches:
        return None
    ranked = sorted(branches.values(), key=lambda errs: (-max(map(_depth, errs)), len(errs)))
    if len(ranked) > 1 and [max(map(_depth, ranked[0])), len(ranked[0])] == [max(map(_depth, ranked[1])), len(ranked[1])]:
        return None  # no telling which one was meant: the oneOf message itself
    return ranked[0]


# -- header values ---------------------------------------------------------------------------------
HeaderChecker = Callable[[str], "str | None"]


def header_checker(schema: dict[str, Any] | None) -> HeaderChecker:
    """A function from a header's text to None (fine) or what is wrong; the value is read as the
    schema's type first (a header is always text on the wire)."""
    if not schema:
        return lambda value: None
    types = schema.get("type") or "string"
    types = types if isinstance(types, list) else [types]
    validator = Draft202012Validator(schema)
    fast = compile_schema(schema) or validator.is_valid

    def check(value: str) -> str | None:
        typed: Any = value
        if "integer" in types and re.fullmatch(r"-?[0-9]+", value.strip()):
            typed = int(value)
        elif "number" in types:
            try:
                typed = float(value)
            except ValueError:
                pass
        elif "boolean" in types and value in ("true", "false"):
            typed = value == "true"
        if fast(typed) or validator.is_valid(typed):
            return None
        return shorten(next(iter(validator.iter_errors(typed))).message)

    return check


# -- media types -------------------------------------------------------------------------------------
def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def media_matches(declared: str, actual: str) -> bool:
    declared = declared.lower()
    if declared == "*/*" or declared == actual:
        return True
    return declared.endswith("/*") and actual.startswith(declared[:-1])


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


# the formats sniff() names, by the media type they are served as
SNIFFABLE: dict[str, frozenset[str]] = {}
for _fmt, _mime in MIME_TYPES.items():
    SNIFFABLE[_mime] = SNIFFABLE.get(_mime, frozenset()) | {_fmt}
SNIFFABLE.pop("audio/pcm", None)  # raw samples have no signature
SNIFFABLE.pop("audio/aac", None)
SNIFFABLE["audio/x-wav"] = SNIFFABLE["audio/wave"] = SNIFFABLE["audio/wav"]
SNIFFABLE["audio/mp3"] = SNIFFABLE["audio/mpeg"]


def sniff_problem(media: str, head: bytes) -> str | None:
    """What is wrong when bytes served as `media` do not look like it (None: fine or unknowable)."""
    formats = SNIFFABLE.get(media)
    if formats is None:
        return None
    if not head:
        return f"empty body served as {media}"
    found = sniff(head)
    if found in formats:
        return None
    return f"bytes served as {media} look like {MIME_TYPES.get(found or '', 'something else')}"
