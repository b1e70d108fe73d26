"""Auth, rate limits and their headers, unknown routes, and the control API on voiceclone."""
from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from tests.voiceclone.conftest import Api

ENDPOINTS = [("GET", "/api/v1/credits"), ("GET", "/api/v1/voices"), ("POST", "/api/v1/tts"),
             ("GET", "/api/v1/tts/abc"), ("POST", "/api/v1/voice-clone")]


BODIES: dict[str, dict[str, Any]] = {  # a request as documented, but for its key
    "/api/v1/tts": {"json": {"text": "Hello", "voiceId": "clsys00000000000000000001"}},
    "/api/v1/voice-clone": {"files": {"voice": ("voice.wav", b"RIFF", "audio/wav")}},
}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_key_is_401_on_every_endpoint(vc, method: str, path: str) -> None:
    r = Api(vc, None).http.request(method, path, **BODIES.get(path, {}))
    assert r.status_code == 401
    assert r.json() == {"code": "UNAUTHORIZED", "error": "Authentication required"}
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic dGVzdA==", "test-token"])
def test_bad_keys_are_401(vc, header: str) -> None:
    r = vc.client().get("/api/v1/credits", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"


def test_rate_limit_headers_count_down_and_429_at_the_limit(vc) -> None:
    api = Api(vc, "limited-token")  # 3 requests per 60 s
    vc.control.advance(60 - _now(vc) % 60 + 0.01)  # windows align to the minute: start a fresh one
    seen = []
    for _ in range(3):
        r = api.get("/api/v1/credits")
        assert r.status_code == 200
        seen.append(int(r.headers["x-ratelimit-remaining"]))
        assert r.headers["x-ratelimit-limit"] == "3"
    assert seen == [2, 1, 0]
    before = _now(vc)
    r = api.get("/api/v1/credits")
    after = _now(vc)
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == "RATE_LIMITED" and body["retryAfter"] >= 1
    assert r.headers["x-ratelimit-remaining"] == "0"
    reset = int(r.headers["x-ratelimit-reset"])
    assert reset % 60 == 0 and 0 < reset - after <= 60
    # Retry-After: the whole seconds from the refusal to the reset, rounded up
    assert int(r.headers["retry-after"]) == body["retryAfter"]
    assert reset - after <= body["retryAfter"] <= math.ceil(reset - before)
    # the reset time is true: just before it still limited, at it free again
    vc.control.advance(reset - _now(vc) - 1.5)
    assert api.get("/api/v1/credits").status_code == 429
    vc.control.advance(2)
    r = api.get("/api/v1/credits")
    assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "2"


def test_limits_are_per_token(vc) -> None:
    limited = Api(vc, "limited-token")
    for _ in range(3):
        limited.get("/api/v1/credits")
    assert limited.get("/api/v1/credits").status_code == 429
    assert Api(vc).get("/api/v1/credits").status_code == 200


def test_rejected_requests_do_not_charge(vc) -> None:
    limited = Api(vc, "limited-token")
    start = limited.credits()["credits"]
    limited.tts("hello")
    limited.tts("hello")
    assert limited.tts("hello").status_code == 429
    vc.control.advance(61)
    assert limited.credits()["credits"] == start - 10


def test_rate_limit_is_settable_on_the_account(vc) -> None:
    vc.control.set_account("test-token", rateLimit=1, rateWindowSeconds=5)
    api = Api(vc)
    assert api.get("/api/v1/credits").status_code == 200
    r = api.get("/api/v1/credits")
    assert r.status_code == 429 and int(r.headers["retry-after"]) <= 5


@pytest.mark.emulator(strict=False)  # paths and methods the API does not have, on purpose
def test_unknown_path_and_method_in_provider_format(vc) -> None:
    api = Api(vc)
    r = api.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = api.http.delete("/api/v1/credits", headers=api.headers)
    assert r.status_code == 405 and set(r.json()) == {"code", "error"}


def test_health_and_account_view(vc) -> None:
    assert vc.control.health() == {"status": "ok", "provider": "voiceclone"}
    account = vc.control.account("test-token")
    assert {"regular", "permanent", "resetAt", "rateLimit", "rateWindowSeconds", "credits"} <= set(account)
    created = vc.control.set_account("new-token", regular=5, permanent=7)
    assert (created["regular"], created["permanent"], created["credits"]) == (5, 7, 12)
    assert Api(vc, "new-token").credits()["credits"] == 12
    r = vc.client().put("/_emulator/accounts/test-token", json={"regular": -1})
    assert r.status_code == 400
    r = vc.client().put("/_emulator/accounts/test-token", json={"bogus": 1})
    assert r.status_code == 400
    assert vc.client().get("/_emulator/accounts/unknown").status_code == 404


def test_reset_restores_fixtures_and_real_time(vc) -> None:
    api = Api(vc)
    api.tts("spend")
    vc.control.advance(3600)
    vc.control.reset()
    assert vc.control.clock()["offset_seconds"] == 0
    assert api.credits()["credits"] == 150000


def test_state_snapshot_restores_exactly(vc) -> None:
    api = Api(vc)
    speech_id = api.tts("remember me").json()["speechId"]
    vc.control.advance(5)
    state = vc.control.state()
    api.tts("later spending")
    vc.control.advance(100)
    restored = vc.control.restore(state)
    assert restored == state
    assert vc.control.state() == state
    assert vc.control.clock()["offset_seconds"] == state["engine"]["clock_offset"]
    assert api.speech(speech_id)["status"] in ("PROCESSING", "COMPLETED")
    assert api.credits()["credits"] == 150000 - len("remember me")


def test_restore_rejects_garbage_and_keeps_state(vc) -> None:
    before = vc.control.state()
    for bad in ([], {"provider": "kai"}, {"provider": "voiceclone", "engine": 3}):
        assert vc.client().put("/_emulator/state", json=bad).status_code == 400
    assert vc.control.state() == before


def test_clock_rejects_bad_advances(vc) -> None:
    client = vc.client()
    for body in ({"advance_seconds": -1}, {"advance_seconds": "5"}, {}, {"advance_seconds": True}):
        assert client.post("/_emulator/clock", json=body).status_code == 400
    assert vc.control.advance(0)["offset_seconds"] == 0


def test_fault_rules_answer_count_and_clear(vc) -> None:
    api = Api(vc)
    fid = vc.control.add_fault(path="/api/v1/credits", status=503, body={"code": "INTERNAL_ERROR", "error": "down"},
                               headers={"X-Fault": "yes"}, times=2)
    assert fid
    for _ in range(2):
        r = api.get("/api/v1/credits")
        assert r.status_code == 503 and r.json()["error"] == "down" and r.headers["x-fault"] == "yes"
    assert api.get("/api/v1/credits").status_code == 200
    vc.control.add_fault(method="POST", path="/api/v1/tts*", token="test-token", status=500)
    assert api.tts("x").status_code == 500
    assert Api(vc, "starter-token").tts("x").status_code == 200  # other token untouched
    assert api.get("/api/v1/credits").status_code == 200  # other method untouched
    assert len(vc.control.faults()) == 1
    vc.control.clear_faults()
    assert api.tts("x").status_code == 200


def test_bad_fault_rules_are_refused(vc) -> None:
    client = vc.client()
    for rule in ({"status": 42}, {"times": 0}, {"nope": 1}, [], {"drop": "yes"}):
        assert client.post("/_emulator/faults", json=rule).status_code == 400


def test_delay_only_fault_passes_through(vc) -> None:
    import time

    api = Api(vc)
    vc.control.add_fault(path="/api/v1/credits", delay_ms=300, times=1)
    started = time.monotonic()
    r = api.get("/api/v1/credits")
    assert r.status_code == 200 and r.json()["success"] is True
    assert time.monotonic() - started >= 0.3
    assert vc.control.faults() == []  # used up


def test_journal_records_and_redacts(vc) -> None:
    vc.control.clear_journal()
    Api(vc).get("/api/v1/credits")
    Api(vc, "nope-wrong-key").get("/api/v1/voices?page=2")
    entries = vc.control.journal()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/api/v1/credits", 200), ("GET", "/api/v1/voices", 401)]
    assert entries[1]["query"] == "page=2"
    for e in entries:
        assert "test-token" not in str(e) and "nope-wrong-key" not in str(e)
        assert e["token"] and "***" in e["token"] and e["time"].endswith("Z")
        assert e["violations"] == []
    vc.control.clear_journal()
    assert vc.control.journal() == []


def test_contract_violations_reach_the_journal(vc) -> None:
    """The contract layer checks what the gateway answers (injected faults are the user's own)."""
    import asyncio

    from starlette.responses import JSONResponse

    from emulators.engine.contracts import ContractLayer

    async def off_contract(scope, receive, send):
        await JSONResponse({"credits": "lots"})(scope, receive, send)

    layer = ContractLayer(off_contract, vc.emulator)
    scope = {"type": "http", "method": "GET", "path": "/api/v1/credits", "headers": [], "query_string": b""}

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    asyncio.run(layer(scope, receive, send))
    violations = [{k: v[k] for k in ("side", "where", "message")} for v in scope["emulator.violations"]]
    assert {"side": "response", "where": "$.success", "message": "required field missing"} in violations
    assert {"side": "response", "where": "$.credits", "message": "'lots' is not of type 'integer'"} in violations
    assert {"side": "response", "where": "header:X-RateLimit-Limit",
            "message": "required header missing"} in violations


def test_force_job_control_errors(vc) -> None:
    client = vc.client()
    assert client.post("/_emulator/jobs/none", json={"state": "FAILED"}).status_code == 404
    speech_id = Api(vc).tts("x").json()["speechId"]
    assert client.post(f"/_emulator/jobs/{speech_id}", json={"state": "EXPLODED"}).status_code == 400
    assert client.post(f"/_emulator/jobs/{speech_id}", json={}).status_code == 400
    assert client.post(f"/_emulator/jobs/{speech_id}", json={"state": "COMPLETED"}).json()["state"] == "COMPLETED"


def _now(vc) -> float:
    from emulators.engine.clock import parse_iso

    return parse_iso(vc.control.clock()["now"])


def test_dropped_connection_on_a_real_socket(emulator_factory) -> None:
    em = emulator_factory("voiceclone", server=True)
    em.control.add_fault(path="/api/v1/credits", drop=True, times=1)
    with httpx.Client(base_url=em.base_url) as client:
        with pytest.raises(httpx.TransportError):
            client.get("/api/v1/credits", headers={"Authorization": "Bearer test-token"})
        r = client.get("/api/v1/credits", headers={"Authorization": "Bearer test-token"})
        assert r.status_code == 200
    assert any(e["status"] == 0 for e in em.control.journal())


def test_file_whose_bytes_are_gone_is_not_found(vc) -> None:
    from emulators.media.audio import make_test_audio

    api = Api(vc)
    voice = api.clone(make_test_audio(1.0, "wav")).json()["voice"]
    assert api.http.get(voice["audioUrl"]).status_code == 200
    state = vc.control.state()
    for record in state["engine"]["files"].values():
        if record["sha256"]:
            record["sha256"] = "0" * 64  # bytes this machine never stored
    vc.control.restore(state)
    r = api.http.get(voice["audioUrl"])
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    assert api.http.get("/files/nothing.mp3").status_code == 404


def test_settings_control_call(vc) -> None:
    client = vc.client()
    assert vc.control.settings() == {}
    assert vc.control.set_settings() == {}
    r = client.put("/_emulator/settings", json={"maintenance": True})
    assert r.status_code == 400 and "no switches" in r.json()["error"]
    assert client.put("/_emulator/settings", json=[1]).status_code == 400
