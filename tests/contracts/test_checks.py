"""The contract checks every user shares (the emulator's layer, verify, proxy): problems named by
side and JSON path, closed objects, headers, content types, sniffed bytes, undocumented statuses,
the `x-unmatched` answers, and requests."""
from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from emulators import providers
from emulators.engine.contracts import Contract, contract_for
from emulators.engine.schema_checks import Problem, close_objects, json_path
from emulators.media.audio import make_test_audio
from emulators.media.image import make_image

RATE = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "99", "x-ratelimit-reset": "1700000000"}
JSON_TYPE = {"content-type": "application/json"}


def contract(provider_id: str) -> Contract:
    return contract_for(providers.get(provider_id).contract_path)


def wheres(problems: list[Problem]) -> set[str]:
    return {p.where for p in problems}


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


CREDITS = {"success": True, "credits": 5000,
           "breakdown": {"regular": 3000, "permanent": 2000, "resetAt": "2026-01-01T00:00:00.000Z"}}


def test_json_paths_name_fields_as_users_write_them() -> None:
    assert json_path([]) == "$"
    assert json_path(["data", 0, "voiceId"]) == "$.data[0].voiceId"
    assert json_path(["files[]", "a b"]) == "$['files[]']['a b']"


def test_a_documented_answer_has_no_problems() -> None:
    op = contract("voiceclone").by_id["getCredits"]
    assert op.check_response(200, {**JSON_TYPE, **RATE}, body(CREDITS), closed=True) == []


@pytest.mark.parametrize("change, where, message", [
    (lambda d: d.pop("credits"), "$.credits", "required field missing"),
    (lambda d: d.update(credits="lots"), "$.credits", "'lots' is not of type 'integer'"),
    (lambda d: d["breakdown"].update(regularCredits=1), "$.breakdown.regularCredits", "undocumented field"),
    (lambda d: d["breakdown"].pop("resetAt"), "$.breakdown.resetAt", "required field missing"),
])
def test_body_drift_is_named_by_json_path(change: Any, where: str, message: str) -> None:
    data = json.loads(json.dumps(CREDITS))
    change(data)
    problems = contract("voiceclone").by_id["getCredits"].check_response(200, {**JSON_TYPE, **RATE}, body(data),
                                                                           closed=True)
    assert Problem("response", where, message) in problems


def test_undocumented_fields_are_drift_only_when_closed() -> None:
    op = contract("voiceclone").by_id["getCredits"]
    data = {**CREDITS, "plan": "pro"}
    assert op.check_response(200, {**JSON_TYPE, **RATE}, body(data)) == []
    assert op.check_response(200, {**JSON_TYPE, **RATE}, body(data), closed=True) == [
        Problem("response", "$.plan", "undocumented field")]


def test_closing_respects_explicit_additional_properties_and_allof_parts() -> None:
    schema = {"allOf": [{"type": "object", "required": ["code"], "properties": {"code": {"type": "integer"}}},
                        {"properties": {"data": {"type": "object", "properties": {"id": {"type": "string"}}}}}],
              "properties": {"map": {"type": "object", "additionalProperties": {"type": "string"}}}}
    closed = close_objects(schema)
    assert closed["x-closed"] is True  # allOf merged: code and data known together
    assert closed["properties"]["data"]["x-closed"] is True
    assert "x-closed" not in closed["properties"]["map"]  # its author said what extra keys may be


def test_a_failed_oneof_is_explained_by_the_branch_that_was_meant() -> None:
    op = contract("kreado").by_id["listVideos"]
    page = {"pageIndex": 1, "pageSize": 1, "totalCount": 1, "totalPages": 1,
            "data": [{"taskId": 1, "taskName": "t", "status": 3}]}
    answer = {"code": "200", "message": "Success", "data": page, "requestId": "1" * 19}
    problems = op.check_response(200, JSON_TYPE, body(answer), closed=True)
    assert "$.data.data[0].videoUrl" in wheres(problems)  # not "$: not valid under any of the given schemas"
    error = {"code": "10002", "msg": "Request parameter error.", "data": None, "requestId": "1" * 19}
    problems = op.check_response(200, JSON_TYPE, body(error), closed=True)
    assert set(problems) == {Problem("response", "$.message", "required field missing"),
                             Problem("response", "$.msg", "undocumented field")}


def test_headers_the_contract_names_are_checked() -> None:
    op = contract("voiceclone").by_id["getCredits"]
    missing = {**JSON_TYPE, "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1"}
    assert op.check_response(200, missing, body(CREDITS)) == [
        Problem("response", "header:X-RateLimit-Limit", "required header missing")]
    wrong = {**JSON_TYPE, **RATE, "x-ratelimit-limit": "many"}
    [problem] = op.check_response(200, wrong, body(CREDITS))
    assert problem.where == "header:X-RateLimit-Limit" and "'many'" in problem.message
    kai = contract("kai").by_id["listModels"]
    headers = {**JSON_TYPE, **RATE, "x-request-id": "req_1"}
    models = {"object": "list", "data": []}
    assert kai.check_response(200, headers, body(models)) == []
    assert wheres(kai.check_response(200, {**JSON_TYPE, **RATE}, body(models))) == {"header:x-request-id"}


def test_optional_headers_are_checked_when_present() -> None:
    op = contract("kitta").by_id["getProfile"]
    profile = {"user_id": "u", "api_quota_remaining": 1, "tier": "free", "credits": 1}
    assert op.check_response(200, JSON_TYPE, body(profile)) == []  # an emulator extension: optional
    assert wheres(op.check_response(200, {**JSON_TYPE, "x-ratelimit-reset": "soon"}, body(profile))) == {
        "header:X-RateLimit-Reset"}


def test_an_undocumented_status_is_drift() -> None:
    op = contract("voiceclone").by_id["getCredits"]
    [problem] = op.check_response(418, JSON_TYPE, body({}))
    assert problem.where == "status" and problem.message.startswith("418 is not documented")


def test_content_types_and_binary_bodies() -> None:
    tts = contract("kitta").by_id["textToSpeech"]
    mp3 = make_test_audio(0.5, "mp3")
    assert tts.check_response(200, {"content-type": "audio/mpeg"}, None, mp3[:64]) == []
    assert tts.check_response(200, {"content-type": "audio/mpeg"}, None, make_test_audio(0.5, "wav")[:64]) == [
        Problem("response", "$", "bytes served as audio/mpeg look like audio/wav")]
    assert tts.check_response(200, {"content-type": "video/mp4"}, None, mp3[:64]) == [
        Problem("response", "header:content-type",
                "'video/mp4' is not documented (audio/mpeg, audio/wav, audio/pcm, application/json)")]
    assert tts.check_response(200, {"content-type": "audio/pcm"}, None, b"\x00\x01" * 32) == []  # no signature
    strip = contract("kai").by_id["stripMetadata"]
    headers = {"content-type": "image/png", **RATE, "x-request-id": "r", "x-metadata-stripped": "true",
               "x-strip-method": "pillow", "x-stripped-fields": "none", "x-original-size": "1",
               "x-sanitized-size": "1"}
    assert strip.check_response(200, headers, None, make_image(8, 8, fmt="png")[:64]) == []
    assert wheres(strip.check_response(200, headers, None, b"")) == {"$"}


def test_a_body_that_is_not_json_is_named() -> None:
    op = contract("voiceclone").by_id["getCredits"]
    assert op.check_response(200, {**JSON_TYPE, **RATE}, b"{oops") == [Problem("response", "$", "body is not JSON")]


@pytest.mark.emulator(strict=False)  # paths and methods the contract does not have, on purpose
@pytest.mark.parametrize("provider_id", providers.ids())
def test_unknown_paths_and_methods_answer_as_x_unmatched_says(provider_id: str, emulator_factory: Any) -> None:
    em = emulator_factory(provider_id)  # the factory fails the test on any journaled violation
    client = em.client()
    first = em.emulator.provider.endpoints[0]
    assert client.get("/no/such/path").status_code == 404
    wrong = "DELETE" if first.method != "DELETE" else "PUT"
    r = client.request(wrong, first.path)
    assert r.status_code == 405 and r.headers["allow"]
    assert contract(provider_id).unmatched is not None


def test_unmatched_answers_are_checked_against_x_unmatched() -> None:
    vc = contract("voiceclone")
    ok = vc.check_unmatched("GET", "/x", 404, {**JSON_TYPE, **RATE}, body({"code": "NOT_FOUND", "error": "Not found"}))
    assert ok == []
    wrong = vc.check_unmatched("GET", "/x", 404, {**JSON_TYPE, **RATE}, body({"message": "Not found"}), closed=True)
    assert {"$.code", "$.error", "$.message"} <= wheres(wrong)
    [status] = vc.check_unmatched("GET", "/x", 200, JSON_TYPE, body({}))
    assert status.where == "status"


def test_the_layer_journals_problems_as_objects(emulator_factory: Any) -> None:
    em = emulator_factory("voiceclone")
    em.emulator.backend.credits = lambda account: {"credits": "lots"}  # breaks the shape
    assert em.client().get("/api/v1/credits", headers={"Authorization": "Bearer test-token"}).status_code == 200
    [entry] = em.control.violations()
    assert {"side": "response", "where": "$.credits", "message": "'lots' is not of type 'integer'",
            "rule": "/components/schemas/CreditsResponse/properties/credits/type", "value": "lots"} in entry["violations"]
    assert {"side": "response", "where": "$.breakdown", "message": "required field missing",
            "rule": "/components/schemas/CreditsResponse/required"} in entry["violations"]
    em.control.clear_journal()  # seen: the factory would fail the test on it


# -- requests ------------------------------------------------------------------------------------------------
def test_request_parameters_are_read_as_their_types() -> None:
    op = contract("voiceclone").by_id["listVoices"]
    assert op.check_request(query=[("page", "2"), ("limit", "100"), ("status", "COMPLETED")]) == []
    problems = op.check_request(query=[("limit", "101"), ("page", "x"), ("status", "DONE")])
    assert wheres(problems) == {"query:limit", "query:page", "query:status"}
    assert all(p.side == "request" for p in problems)
    speech = contract("voiceclone").by_id["getSpeech"]
    assert wheres(speech.check_request()) == {"path:speechId"}
    assert speech.check_request(path_params={"speechId": "abc"}) == []


def test_request_json_bodies() -> None:
    op = contract("voiceclone").by_id["createSpeech"]
    headers = {"content-type": "application/json"}
    assert op.check_request(headers=headers, body=body({"text": "hi", "voiceId": "v"})) == []
    assert op.check_request(headers=headers, body=body({"text": "", "voiceId": "v", "format": "flac"})) == [
        Problem("request", "$.text", "'' should be non-empty"),
        Problem("request", "$.format", "'flac' is not one of ['mp3', 'wav', 'opus', 'pcm']")]
    assert op.check_request(headers=headers, body=b"") == [Problem("request", "body", "required body missing")]
    assert wheres(op.check_request(headers={"content-type": "text/plain"}, body=b"hi")) == {"content-type"}
    assert op.check_request(headers=headers, body=b"{") == [
        Problem("request", "body", "body is not application/json: body must be JSON (UTF-8)")]


def test_request_msgpack_and_multipart_bodies() -> None:
    import httpx

    tts = contract("kitta").by_id["textToSpeech"]
    packed = msgpack.packb({"reference_id": "v", "text": "hello", "speed": 9})
    assert tts.check_request(headers={"content-type": "application/msgpack"}, body=packed) == [
        Problem("request", "$.speed", "9 is greater than the maximum of 2")]
    clone = contract("voiceclone").by_id["cloneVoice"]
    request = httpx.Request("POST", "http://x/api/v1/voice-clone", files={"voice": ("v.mp3", b"ID3...", "audio/mpeg")},
                            data={"title": "Mine"})
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert clone.check_request(headers=headers, body=request.read()) == []
    request = httpx.Request("POST", "http://x/api/v1/voice-clone", files={"sample": ("v.mp3", b"ID3", "audio/mpeg")},
                            data={"title": ""})
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert wheres(clone.check_request(headers=headers, body=request.read(), closed=True)) == {
        "$.voice", "$.title", "$.sample"}
