"""A fast yes/no for the JSON Schema subset the contracts use, compiled into closures once.

The emulators check every answer against their contract, so the common case (the answer is
fine) must be cheap: jsonschema walks a schema anew for every value, about ten times slower.
`compile_schema` returns None for a schema with anything outside the subset (then jsonschema
decides alone), and otherwise a function that agrees with jsonschema's Draft 2020-12 validator
(formats not asserted, `x-closed` as schema_checks defines it). When it says "invalid",
jsonschema is asked what exactly is wrong; tests/contracts compares the two on mutated answers.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable

Check = Callable[[Any], bool]
Keys = Callable[[dict[str, Any]], set[str]]

CLOSED = "x-closed"
_ANNOTATIONS = {"title", "description", "default", "examples", "example", "deprecated", "readOnly",
                "writeOnly", "$comment", "$schema", "$id", "format", "contentMediaType", "contentEncoding",
                "components", "$defs", "discriminator", "xml", "externalDocs"}
_SUPPORTED = {"type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
              "multipleOf", "minLength", "maxLength", "pattern", "required", "properties",
              "additionalProperties", "patternProperties", "propertyNames", "minProperties", "maxProperties",
              "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "allOf", "anyOf", "oneOf", "not",
              "if", "then", "else", CLOSED}


class Unsupported(Exception):
    pass


def compile_schema(schema: Any) -> Check | None:
    try:
        return _Compiler().check(schema)
    except Unsupported:
        return None


# -- jsonschema's notion of sameness: 1 == 1.0, True != 1 ---------------------------------------------
def equal(one: Any, two: Any) -> bool:
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) != isinstance(two, bool):
        return False
    return bool(one == two)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "string": lambda x: isinstance(x, str),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer()),
}


_BOUNDS: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
    ("minimum", lambda x, v: x >= v), ("maximum", lambda x, v: x <= v),
    ("exclusiveMinimum", lambda x, v: x > v), ("exclusiveMaximum", lambda x, v: x < v))


def _bounded(test: Callable[[Any, Any], bool], bound: Any) -> Check:
    return lambda x: not _is_number(x) or test(x, bound)  # a bound says nothing of non-numbers


def _if_valid(valid: Check, keys: Keys) -> Keys:
    return lambda x: keys(x) if valid(x) else set()


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)
    return lambda x: all(c(x) for c in frozen)


class _Compiler:
    def check(self, node: Any) -> Check:
        if node is True:
            return lambda x: True
        if node is False:
            return lambda x: False
        if not isinstance(node, dict):
            raise Unsupported(node)
        for key in node:
            if key not in _SUPPORTED and key not in _ANNOTATIONS and not key.startswith("x-"):
                raise Unsupported(key)
        return _all([*self._generic(node), *self._numbers(node), *self._strings(node), *self._objects(node),
                     *self._arrays(node), *self._applicators(node)])

    # -- any value ---------------------------------------------------------------------------------
    def _generic(self, node: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        kind = node.get("type")
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            if any(k not in _TYPES for k in kinds):
                raise Unsupported(kind)
            tests = tuple(_TYPES[k] for k in kinds)
            checks.append(tests[0] if len(tests) == 1 else (lambda x: any(t(x) for t in tests)))
        if "enum" in node:
            values = list(node["enum"])
            plain = {v for v in values if isinstance(v, str)}
            others = [v for v in values if not isinstance(v, str)]
            checks.append(lambda x: (x in plain) if isinstance(x, str) else any(equal(x, v) for v in others))
        if "const" in node:
            const = node["const"]
            checks.append(lambda x: equal(x, const))
        return checks

    def _numbers(self, node: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        for key, test in _BOUNDS:
            if key in node:
                bound = node[key]
                if not _is_number(bound):
                    raise Unsupported(key)
                checks.append(_bounded(test, bound))
        if "multipleOf" in node:
            raise Unsupported("multipleOf")  # float subtleties: leave them to jsonschema
        return checks

    def _strings(self, node: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "minLength" in node:
            low = node["minLength"]
            checks.append(lambda x: not isinstance(x, str) or len(x) >= low)
        if "maxLength" in node:
            high = node["maxLength"]
            checks.append(lambda x: not isinstance(x, str) or len(x) <= high)
        if "pattern" in node:
            search = re.compile(node["pattern"]).search
            checks.append(lambda x: not isinstance(x, str) or search(x) is not None)
        return checks

    # -- objects --------------------------------------------------------------------------------------
    def _objects(self, node: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "required" in node:
            required = tuple(node["required"])
            checks.append(lambda x: not isinstance(x, dict) or all(k in x for k in required))
        if "minProperties" in node:
            low = node["minProperties"]
            checks.append(lambda x: not isinstance(x, dict) or len(x) >= low)
        if "maxProperties" in node:
            high = node["maxProperties"]
            checks.append(lambda x: not isinstance(x, dict) or len(x) <= high)
        props = {k: self.check(v) for k, v in (node.get("properties") or {}).items()}
        if props:
            items = tuple(props.items())
            checks.append(lambda x: not isinstance(x, dict) or all(c(x[k]) for k, c in items if k in x))
        patterns = tuple((re.compile(p).search, self.check(s)) for p, s in (node.get("patternProperties") or {}).items())
        if patterns:
            checks.append(lambda x: not isinstance(x, dict) or all(
                c(v) for k, v in x.items() for search, c in patterns if search(k)))
        if "additionalProperties" in node:
            extra = self.check(node["additionalProperties"])
            declared = frozenset(props)
            checks.append(lambda x: not isinstance(x, dict) or all(
                extra(v) for k, v in x.items() if k not in declared and not any(s(k) for s, _ in patterns)))
        if "propertyNames" in node:
            names = self.check(node["propertyNames"])
            checks.append(lambda x: not isinstance(x, dict) or all(names(k) for k in x))
        if node.get(CLOSED):
            keys = self.keys(node)
            checks.append(lambda x: not isinstance(x, dict) or keys(x).issuperset(x))
        return checks

    def keys(self, node: Any) -> Keys:
        """The keys of an object that `node` evaluates (jsonschema's find_evaluated_property_keys)."""
        if not isinstance(node, dict):
            return lambda x: set()
        if any(k in node for k in ("$ref", "$dynamicRef", "unevaluatedProperties", "dependentSchemas")):
            raise Unsupported("evaluated keys")
        parts: list[Keys] = []
        own = frozenset(node.get("properties") or {})
        if own:
            parts.append(lambda x: set(own & x.keys()))
        searches = tuple(re.compile(p).search for p in node.get("patternProperties") or {})
        if searches:
            parts.append(lambda x: {k for k in x if any(s(k) for s in searches)})
        if "additionalProperties" in node:
            extra = self.check(node["additionalProperties"])
            parts.append(lambda x: {k for k, v in x.items() if extra(v)})
        for keyword in ("allOf", "oneOf", "anyOf"):
            for sub in node.get(keyword) or []:
                parts.append(_if_valid(self.check(sub), self.keys(sub)))
        if "if" in node:  # the condition's and then's keys when it holds, else's otherwise
            condition, if_keys = self.check(node["if"]), self.keys(node["if"])
            then_keys, else_keys = self.keys(node.get("then")), self.keys(node.get("else"))
            parts.append(lambda x: (if_keys(x) | then_keys(x)) if condition(x) else else_keys(x))
        frozen = tuple(parts)
        return lambda x: set().union(*(p(x) for p in frozen)) if frozen else set()

    # -- arrays -----------------------------------------------------------------------------------------
    def _arrays(self, node: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        prefix = tuple(self.check(s) for s in node.get("prefixItems") or [])
        if prefix:
            checks.append(lambda x: not isinstance(x, list) or all(c(v) for c, v in zip(prefix, x)))
        if "items" in node:
            each = self.check(node["items"])
            start = len(prefix)
            checks.append(lambda x: not isinstance(x, list) or all(each(v) for v in x[start:]))
        if "minItems" in node:
            low = node["minItems"]
            checks.append(lambda x: not isinstance(x, list) or len(x) >= low)
        if "maxItems" in node:
            high = node["maxItems"]
            checks.append(lambda x: not isinstance(x, list) or len(x) <= high)
        if node.get("uniqueItems"):
            checks.append(lambda x: not isinstance(x, list) or all(
                not equal(a, b) for i, a in enumerate(x) for b in x[i + 1:]))
        return checks

    # -- applicators ----------------------------------------------------------------------------------------
    def _applicators(self, node: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "allOf" in node:
            checks.append(_all([self.check(s) for s in node["allOf"]]))
        if "anyOf" in node:
            branches = tuple(self.check(s) for s in node["anyOf"])
            checks.append(lambda x: any(b(x) for b in branches))
        if "oneOf" in node:
            branches = tuple(self.check(s) for s in node["oneOf"])
            checks.append(lambda x: sum(1 for b in branches if b(x)) == 1)
        if "not" in node:
            negated = self.check(node["not"])
            checks.append(lambda x: not negated(x))
        if "if" in node:  # without an `if`, `then` and `else` mean nothing
            condition = self.check(node["if"])
            then = self.check(node["then"]) if "then" in node else None
            otherwise = self.check(node["else"]) if "else" in node else None
            checks.append(lambda x: (then is None or then(x)) if condition(x) else (otherwise is None or otherwise(x)))
        return checks
