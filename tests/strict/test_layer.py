"""Strict mode in the emulator: request violations are journaled beside the response's, never
change the answer, and are judged whatever the handler read of the body."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from emulators import providers
from emulators.engine import strict
from emulators.engine.emulator import Emulator

AUTH = {"Authorization": "Bearer test-token"}
ARIA = "clsys00000000000000000001"
BAD_TTS = {"text": "Hello", "voiceId": ARIA, "format": "flac", "speed": 2}


def _answers(em: Emulator, requests: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[int, Any]]:
    async def go() -> list[tuple[int, Any]]:
        out = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=em), base_url="http://testserver") as c:
            for method, path, kwargs in requests:
                r = await c.request(method, path, **kwargs)
                body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.content
                if isinstance(body, dict):  # ids and times differ between two emulators
                    body = {k: v for k, v in body.items() if k not in ("speechId", "speech")}
                out.append((r.status_code, body))
        return out

    return asyncio.run(go())


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/tts", {"json": BAD_TTS, "headers": AUTH}),  # refused: flac
    ("POST", "/api/v1/tts", {"json": {"text": "Hello", "voiceId": ARIA, "speed": 2}, "headers": AUTH}),  # ignored
    ("POST", "/api/v1/tts", {"json": {}, "headers": {}}),  # no key: 401 before the body is read
    ("GET", "/api/v1/voices?limit=500&colour=red", {"headers": AUTH}),
    ("GET", "/api/v1/nowhere", {"headers": AUTH}),
]


def test_strict_mode_never_changes_an_answer() -> None:
    plain = Emulator(providers.get("voiceclone"), contract_check=True)
    checked = Emulator(providers.get("voiceclone"), contract_check=True)
    strict.enable(checked)
    assert _answers(plain, REQUESTS) == _answers(checked, REQUESTS)
    assert not any(e["violations"] for e in plain.journal.as_json())
    journal = checked.journal.as_json()
    assert [bool(e["violations"]) for e in journal] == [True, True, True, True, True]
    for em in (plain, checked):
        em.blobs.discard()


def test_request_violations_are_journaled_with_rule_and_value(emulator_factory: Any) -> None:
    em = emulator_factory("voiceclone")
    with em.allow_bad_requests():
        r = em.client().post("/api/v1/tts", json=BAD_TTS, headers=AUTH)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"  # the provider's own refusal
    [entry] = em.control.violations("request")
    assert entry["violations"] == [
        {"side": "request", "where": "$.format", "message": "'flac' is not one of ['mp3', 'wav', 'opus', 'pcm']",
         "rule": "/components/schemas/TtsRequest/properties/format/enum", "value": "flac"},
        {"side": "request", "where": "$.speed", "message": "undocumented field",
         "rule": "/components/schemas/TtsRequest/properties", "value": 2}]


def test_the_body_is_judged_even_when_the_handler_never_reads_it(emulator_factory: Any) -> None:
    em = emulator_factory("voiceclone")
    with em.allow_bad_requests():
        r = em.client().post("/api/v1/tts", json={"text": "", "voiceId": ARIA})  # no key: refused first
    assert r.status_code == 401
    [entry] = em.control.violations("request")
    assert [v["where"] for v in entry["violations"]] == ["$.text"]


def test_a_body_over_the_checked_size_streams_through_unjudged(emulator_factory: Any) -> None:
    from emulators.engine.contracts import MAX_CHECKED_BODY

    em = emulator_factory("voiceclone")
    big = json.dumps({"text": "x" * (MAX_CHECKED_BODY + 10), "voiceId": ARIA}).encode()
    r = em.client().post("/api/v1/tts", content=big, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"  # over the provider's limit
    assert not em.control.violations("request")  # too large to check: not reported as anything


def test_both_sides_share_an_entry(emulator_factory: Any) -> None:
    em = emulator_factory("voiceclone")
    em.emulator.backend.credits = lambda account: {"credits": "lots"}  # breaks the answer's shape
    with em.allow_bad_requests():
        em.client().get("/api/v1/credits?verbose=1", headers=AUTH)
    [entry] = em.control.violations()
    assert {v["side"] for v in entry["violations"]} == {"request", "response"}
    assert {"side": "request", "where": "query:verbose", "message": "undocumented parameter",
            "rule": "/paths/~1api~1v1~1credits/get/parameters", "value": "1"} in entry["violations"]
    em.control.clear_journal()  # seen: the factory would fail the test on the response


def test_a_socket_server_checks_streamed_bodies(emulator_factory: Any) -> None:
    em = emulator_factory("voiceclone", server=True)

    def chunks() -> Any:
        yield b'{"text": "Hello", '
        yield b'"voiceId": "' + ARIA.encode() + b'", "pitch": 3}'

    with em.allow_bad_requests():
        r = httpx.post(em.base_url + "/api/v1/tts", content=chunks(),
                       headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 200
    [entry] = em.control.violations("request")
    assert [(v["where"], v["message"]) for v in entry["violations"]] == [("$.pitch", "undocumented field")]


def test_head_is_checked_as_the_get_it_stands_for(emulator_factory: Any) -> None:
    em = emulator_factory("kie")
    r = em.client().head("/files/f_missing.png")
    assert r.status_code == 404
    assert not em.control.violations("request")


@pytest.mark.parametrize("responses", [True, False])
def test_strict_without_answer_checks(responses: bool) -> None:
    em = Emulator(providers.get("voiceclone"), contract_check=True)
    strict.enable(em, responses=responses)
    em.backend.credits = lambda account: {"credits": "lots"}
    _answers(em, [("GET", "/api/v1/credits", {"headers": AUTH})])
    [entry] = em.journal.as_json()
    assert bool(entry["violations"]) is responses
    em.blobs.discard()


def test_values_json_cannot_carry_are_shown_as_text(emulator_factory: Any) -> None:
    """Infinity (a number too large for a double), 5000 digits, MessagePack bytes: the journal
    stays JSON that the control API can serve."""
    import msgpack

    em = emulator_factory("kitta")
    auth = {"Authorization": "Bearer test-token"}
    with em.allow_bad_requests():
        em.client().post("/api/open/tts", content=b'{"reference_id": "v", "text": "hi", "speed": 1e999}',
                         headers={**auth, "content-type": "application/json"})
        em.client().post("/api/open/tts", content=b'{"reference_id": "v", "text": "hi", "speed": ' + b"9" * 5000 + b"}",
                         headers={**auth, "content-type": "application/json"})
        em.client().post("/api/open/tts", content=msgpack.packb({"reference_id": "v", "text": b"hi"}),
                         headers={**auth, "content-type": "application/msgpack"})
    entries = em.control.violations("request")  # served as JSON
    values = [v.get("value") for e in entries for v in e["violations"]]
    assert values[0] == "inf" and all(isinstance(v, (str, int, float)) for v in values), values
    assert values[1].startswith('{"reference_id": "v", "text": "hi", "speed": 9999') and values[1].endswith("...")
    assert "b'hi'" in values, values


def test_a_failing_check_is_said_and_never_breaks_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulators.engine.contracts import Operation

    def broken(self: Operation, **kwargs: Any) -> list[Any]:
        raise RuntimeError("bug")

    monkeypatch.setattr(Operation, "check_request", broken)
    em = Emulator(providers.get("voiceclone"), contract_check=True)
    strict.enable(em)
    assert _answers(em, [("GET", "/api/v1/credits", {"headers": AUTH})])[0][0] == 200
    [entry] = em.journal.as_json()
    assert entry["violations"] == [{"side": "request", "where": "body",
                                    "message": "the strict check failed: RuntimeError: bug"}]
    em.blobs.discard()
