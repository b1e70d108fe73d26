"""The strict check of requests: each violation names the side, the field, the contract's rule (a
JSON pointer to the keyword that failed, where it is written) and the value found."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from emulators import providers
from emulators.engine.contracts import Contract, contract_for
from emulators.engine.schema_checks import Problem

JSON = {"content-type": "application/json"}
TTS_REQUEST = "/components/schemas/TtsRequest"


def contract(provider_id: str) -> Contract:
    return contract_for(providers.get(provider_id).contract_path)


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def by_where(problems: list[Problem]) -> dict[str, dict[str, Any]]:
    return {p.where: p.as_json() for p in problems}


def test_a_documented_request_has_no_problems() -> None:
    op = contract("voiceclone").by_id["createSpeech"]
    assert op.check_request(headers=JSON, body=body({"text": "hi", "voiceId": "v", "format": "wav"}), closed=True) == []


def test_each_violation_names_its_rule_and_value() -> None:
    op = contract("voiceclone").by_id["createSpeech"]
    problems = op.check_request(headers=JSON, body=body({"voiceId": 7, "format": "flac", "speed": 2}), closed=True)
    assert by_where(problems) == {
        "$.text": {"side": "request", "where": "$.text", "message": "required field missing",
                   "rule": f"{TTS_REQUEST}/required"},
        "$.voiceId": {"side": "request", "where": "$.voiceId", "message": "7 is not of type 'string'",
                      "rule": f"{TTS_REQUEST}/properties/voiceId/type", "value": 7},
        "$.format": {"side": "request", "where": "$.format",
                     "message": "'flac' is not one of ['mp3', 'wav', 'opus', 'pcm']",
                     "rule": f"{TTS_REQUEST}/properties/format/enum", "value": "flac"},
        "$.speed": {"side": "request", "where": "$.speed", "message": "undocumented field",
                    "rule": f"{TTS_REQUEST}/properties", "value": 2},
    }


def test_rules_are_pointers_into_the_contract() -> None:
    """Every rule a check names resolves in the contract document (the keyword that failed)."""
    vc = contract("voiceclone")
    op = vc.by_id["createSpeech"]
    problems = op.check_request(headers=JSON, body=body({"voiceId": 7, "format": "flac", "x": 1}), closed=True)
    problems += vc.by_id["listVoices"].check_request(query=[("limit", "101"), ("status", "DONE")], closed=True)
    problems += op.check_request(headers={"content-type": "text/plain"}, body=b"hi", closed=True)
    problems += op.check_request(headers=JSON, body=b"", closed=True)
    assert len(problems) == 8
    for p in problems:
        assert p.rule is not None and p.rule.startswith("/"), p
        node: Any = vc.document  # the pointer leads somewhere (an IndexError / KeyError if not)
        for token in p.rule[1:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]


def test_unknown_fields_are_reported_only_strictly() -> None:
    op = contract("voiceclone").by_id["createSpeech"]
    sent = body({"text": "hi", "voiceId": "v", "speed": 2})
    assert op.check_request(headers=JSON, body=sent) == []  # the provider ignores it: accepted
    assert [p.where for p in op.check_request(headers=JSON, body=sent, closed=True)] == ["$.speed"]


def test_query_parameters_are_typed_bounded_and_known() -> None:
    op = contract("voiceclone").by_id["listVoices"]
    assert op.check_request(query=[("page", "2"), ("limit", "100")], closed=True) == []
    problems = by_where(op.check_request(query=[("limit", "101"), ("q", "x"), ("status", "DONE")], closed=True))
    assert problems["query:limit"]["value"] == 101
    assert problems["query:limit"]["rule"].endswith("/parameters/1/schema/maximum")
    assert problems["query:q"] == {"side": "request", "where": "query:q", "message": "undocumented parameter",
                                   "rule": "/paths/~1api~1v1~1voices/get/parameters", "value": "x"}
    assert problems["query:status"]["rule"] == "/components/schemas/ProcessingStatus/enum"  # behind its $ref


def test_content_type_and_body_problems_are_named_as_such() -> None:
    op = contract("voiceclone").by_id["createSpeech"]
    [wrong_type] = op.check_request(headers={"content-type": "text/plain"}, body=b"hi", closed=True)
    assert wrong_type.as_json() == {
        "side": "request", "where": "content-type", "message": "'text/plain' is not documented (application/json)",
        "rule": "/paths/~1api~1v1~1tts/post/requestBody/content", "value": "text/plain"}
    [missing] = op.check_request(headers=JSON, body=b"", closed=True)
    assert (missing.where, missing.rule) == ("body", "/paths/~1api~1v1~1tts/post/requestBody/required")
    [broken] = op.check_request(headers=JSON, body=b'{"text": ', closed=True)
    assert broken.where == "body" and broken.value == '{"text": '


def test_values_are_shortened_and_secrets_never_shown() -> None:
    op = contract("voiceclone").by_id["createSpeech"]
    [long] = op.check_request(headers=JSON, body=body({"text": "hi", "voiceId": "v", "format": "x" * 500}),
                              closed=True)
    assert isinstance(long.value, str) and len(long.value) <= 120 and long.value.endswith("...")
    problems = by_where(op.check_request(headers=JSON, body=body({"text": "hi", "voiceId": "v",
                                                                 "token": "sk-secret", "apiKey": "k"}), closed=True))
    assert problems["$.token"]["value"] == "***" and problems["$.apiKey"]["value"] == "***"


def test_multipart_fields_are_read_as_their_types() -> None:
    clone = contract("voiceclone").by_id["cloneVoice"]
    request = httpx.Request("POST", "http://x/api/v1/voice-clone", files={"voice": ("v.mp3", b"ID3", "audio/mpeg")},
                            data={"title": "Mine", "extra": "1"})
    headers = {k.lower(): v for k, v in request.headers.items()}
    problems = clone.check_request(headers=headers, body=request.read(), closed=True)
    assert [(p.where, p.message, p.value) for p in problems] == [("$.extra", "undocumented field", "1")]


def test_x_strict_keywords_apply_to_the_strict_check_only() -> None:
    """`x-strict` holds what the docs ask where the provider accepts more (data, not code)."""
    document: dict[str, Any] = {"openapi": "3.1.0", "paths": {"/t": {"post": {
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/T"}}}},
        "responses": {"200": {"description": "ok"}}}}},
        "components": {"schemas": {"T": {"type": "object", "properties": {
            "resize": {"type": ["string", "number"], "x-strict": {"type": "string"}},
            "extra": {"type": "object", "additionalProperties": True}}}}}}
    op = Contract(document).operation("POST", "/t")
    assert op is not None
    sent = body({"resize": 1.5, "extra": {"anything": 1}})
    assert op.check_request(headers=JSON, body=sent) == []
    [problem] = op.check_request(headers=JSON, body=sent, closed=True)
    assert problem.as_json() == {"side": "request", "where": "$.resize", "message": "1.5 is not of type 'string'",
                                 "rule": "/components/schemas/T/properties/resize/x-strict/type", "value": 1.5}


def test_every_operation_of_every_contract_compiles_its_request_checks() -> None:
    for provider_id in providers.ids():
        for op in contract(provider_id).operations:
            op.check_request(closed=True)  # builds the parameter and body checks
            for media in op.request.content.media:
                if media.schema is not None:
                    assert media.schema.fast_closed is not None, (provider_id, op.operation_id, media.name)


@pytest.mark.parametrize("sent", [
    {"reference_id": "v", "text": "hi"},
    {"reference_id": "v", "text": "hi", "version": "v3-turbo", "language": "en"},
    {"reference_id": "v", "text": "hi", "version": "v3-turbo", "language": "fr"},
    {"reference_id": "v", "text": "hi", "version": "v2", "language": "fr"},
    {"reference_id": "v", "text": "hi", "version": "v3-hd", "language": "en", "pitch": 1},
    {"reference_id": "v", "text": "hi", "language": "en", "pitch": 1},
])
def test_the_compiled_check_agrees_with_jsonschema_on_conditional_schemas(sent: dict[str, Any]) -> None:
    """kitta's TTS body has an if/then (v3 engines take fewer languages): compiled, not walked."""
    [media, _] = contract("kitta").by_id["textToSpeech"].request.content.media
    assert media.schema is not None
    for fast, slow in ((media.schema.fast_open, media.schema.open), (media.schema.fast_closed, media.schema.closed)):
        assert fast is not None and fast(sent) == slow.is_valid(sent), sent
