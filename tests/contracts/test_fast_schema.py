"""The compiled yes/no of fast_schema agrees with jsonschema: on the keywords one by one, and on the
emulators' real answers mutated at random, against every response schema of every contract,
open and closed."""
from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators import providers
from emulators.contract_tools.verify import Verifier
from emulators.engine.contracts import Operation
from emulators.engine.emulator import Emulator
from emulators.engine.fast_schema import compile_schema
from emulators.engine.schema_checks import ClosingValidator, SchemaCheck, close_objects


def agree(schema: dict[str, Any], instance: Any) -> bool:
    fast = compile_schema(schema)
    assert fast is not None
    expected = ClosingValidator(schema).is_valid(instance)  # jsonschema, plus x-closed
    assert fast(instance) == expected, (schema, instance)
    return expected


@pytest.mark.parametrize("schema, instance, valid", [
    ({"type": "integer"}, 1.0, True),
    ({"type": "integer"}, True, False),
    ({"type": "number"}, False, False),
    ({"enum": [1, 2]}, True, False),
    ({"enum": [1, 2]}, 1.0, True),
    ({"const": False}, 0, False),
    ({"const": [1, {"a": None}]}, [1.0, {"a": None}], True),
    ({"minimum": 1}, True, True),  # not a number: the bound does not apply
    ({"maximum": 2, "exclusiveMinimum": 0}, 0, False),
    ({"pattern": "^[0-9]+$"}, "12a", False),
    ({"pattern": "\\S"}, "  x ", True),  # a search, not a full match
    ({"minLength": 2}, "é", False),
    ({"required": ["a"]}, [], True),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, False),  # both: not exactly one
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None, True),
    ({"not": {"type": "null"}}, None, False),
    ({"items": {"type": "string"}, "prefixItems": [{"type": "integer"}]}, [1, "a"], True),
    ({"additionalProperties": False, "patternProperties": {"^x-": {}}, "properties": {"a": {}}}, {"a": 1, "x-b": 2}, True),
    ({"additionalProperties": {"type": "string"}}, {"a": 1}, False),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"A": 1}, False),
    ({"uniqueItems": True}, [1, 1.0], False),
])
def test_keywords_as_jsonschema_reads_them(schema: dict[str, Any], instance: Any, valid: bool) -> None:
    assert agree(schema, instance) is valid


def test_closed_objects_count_what_valid_branches_declare() -> None:
    schema = close_objects({"properties": {"code": {"type": "string"}},
                            "oneOf": [{"properties": {"code": {"const": "a"}, "x": {}}},
                                      {"properties": {"code": {"const": "b"}, "y": {}}}]})
    assert agree(schema, {"code": "a", "x": 1})
    assert not agree(schema, {"code": "a", "y": 1})  # y is declared by the branch that failed
    assert not agree(schema, {"code": "a", "z": 1})
    closed = close_objects({"type": "object", "properties": {"m": {"additionalProperties": {"type": "string"}}}})
    assert agree(closed, {"m": {"any": "thing"}})


def test_schemas_outside_the_subset_are_left_to_jsonschema() -> None:
    assert compile_schema({"multipleOf": 0.1}) is None
    assert compile_schema({"$ref": "#/x"}) is None
    assert compile_schema({"dependentSchemas": {}}) is None


# -- real answers, mutated -----------------------------------------------------------------------------------
def _answers() -> list[tuple[str, SchemaCheck, Any]]:
    """(label, schema, body) of every JSON answer the verify plans get from the emulators."""
    from starlette.testclient import TestClient

    found: list[tuple[str, SchemaCheck, Any]] = []
    for provider_id in providers.ids():
        em = Emulator(providers.get(provider_id))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = TestClient(em, base_url="http://testserver")
        verifier = Verifier(provider_id, "http://testserver" + em.provider.api_prefix, "test-token",
                            allow_spend=True, client=client, sleep=lambda s: em.clock.advance(60), poll_interval=0,
                            timeout=30)
        seen: list[tuple[Operation, Any]] = []
        original = verifier._send

        def send(prepared: Any, original: Any = original, seen: list[Any] = seen) -> Any:
            answer = original(prepared)
            if "json" in answer.headers.get("content-type", ""):
                seen.append((prepared.op, answer))
            return answer

        verifier._send = send  # type: ignore[method-assign]
        assert verifier.run().exit_code == 0
        for op, answer in seen:
            spec = op.responses.get(answer.status)
            media = spec.content.match("application/json") if spec else None
            if media is not None and media.schema is not None:
                found.append((f"{provider_id} {op.operation_id} {answer.status}", media.schema, json.loads(answer.body)))
    return found


ANSWERS = _answers()
ODD_VALUES = [None, 0, -1, 1.5, 2**70, "", "x", "200", True, False, [], {}, [1], {"k": "v"}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw: Any) -> tuple[str, SchemaCheck, Any]:
    label, schema, body = draw(st.sampled_from(ANSWERS))
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(body)))
        if not path:
            continue
        parent: Any = body
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        if action == "replace":
            parent[key] = draw(st.sampled_from(ODD_VALUES))
        elif action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "zz", key + "_"]))] = draw(st.sampled_from(ODD_VALUES))
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key).upper() + "x"] = parent.pop(key)
    return label, schema, body


def test_the_emulators_answers_were_collected() -> None:
    assert {label.split()[0] for label, _, _ in ANSWERS} == set(providers.ids())
    assert len(ANSWERS) > 50


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(case=mutated())
def test_fast_answers_agree_with_jsonschema_on_mutated_answers(case: tuple[str, SchemaCheck, Any]) -> None:
    label, schema, body = case
    for closed in (False, True):
        fast = schema.fast_closed if closed else schema.fast_open
        slow = schema.closed if closed else schema.open
        assert fast is not None
        assert fast(body) == slow.is_valid(body), (label, closed, body)
