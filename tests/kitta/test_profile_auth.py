"""Profile by GET and POST, the token in the header or in the body, and the auth errors."""
from __future__ import annotations

import msgpack
import pytest

from tests.kitta.conftest import Api

PROFILE = "/api/open/profile"


def test_get_profile_with_bearer(api: Api) -> None:
    assert api.profile() == {"user_id": "user_test", "api_quota_remaining": 1000000,
                             "tier": "enterprise", "credits": 100000}


def test_docs_example_account(kitta) -> None:
    assert Api(kitta, "free-token").profile() == {
        "user_id": "user_123", "api_quota_remaining": 1500, "tier": "free", "credits": 1000}


def test_post_profile_header_and_body(kitta) -> None:
    anon = Api(kitta, None)
    via_header = Api(kitta, "pro-token").post(PROFILE, json={})
    via_body = anon.post(PROFILE, json={"token": "pro-token"})
    with kitta.allow_bad_requests():  # the docs give MessagePack for TTS only; accepted here too
        via_msgpack = anon.post(PROFILE, content=msgpack.packb({"token": "pro-token"}),
                                headers={"Content-Type": "application/msgpack"})
    no_body = Api(kitta, "pro-token").post(PROFILE)
    for r in (via_header, via_body, via_msgpack, no_body):
        assert r.status_code == 200, r.text
        assert r.json()["user_id"] == "user_pro" and r.json()["tier"] == "pro"


def test_header_token_wins_over_body_token(kitta) -> None:
    r = Api(kitta, "free-token").post(PROFILE, json={"token": "pro-token"})
    assert r.json()["user_id"] == "user_123"
    r = Api(kitta, "wrong").post(PROFILE, json={"token": "pro-token"})
    assert r.status_code == 401


def test_missing_and_invalid_tokens(kitta) -> None:
    anon = Api(kitta, None)
    r = anon.get(PROFILE)
    assert r.status_code == 401
    assert r.json() == {"error": "API token is required", "code": "UNAUTHORIZED"}
    r = anon.post(PROFILE, json={"token": "nope"})
    assert r.status_code == 401 and r.json()["error"] == "Invalid API Token"
    r = Api(kitta, "nope").get(PROFILE)
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
    # a GET never reads a body token
    with kitta.allow_bad_requests():  # a body on a GET, on purpose
        r = anon.http.request("GET", PROFILE, json={"token": "test-token"})
    assert r.status_code == 401


def test_disabled_token_is_forbidden(kitta) -> None:
    r = Api(kitta, "disabled-token").get(PROFILE)
    assert r.status_code == 403
    assert r.json()["error"] == "Access forbidden" and r.json()["code"] == "FORBIDDEN"
    kitta.control.set_account("disabled-token", status="active")
    assert Api(kitta, "disabled-token").get(PROFILE).status_code == 200


@pytest.mark.emulator(strict=False)  # malformed bodies, on purpose
def test_malformed_bodies_are_400(api: Api) -> None:
    for content, ctype in ((b"{not json", "application/json"), (b"[1, 2]", "application/json"),
                           (b"\xc1", "application/msgpack"), (b'{"token": 5}', "application/json")):
        r = api.post(PROFILE, content=content, headers={"Content-Type": ctype})
        assert r.status_code == 400, (content, r.text)
        assert r.json()["code"] == "INVALID_PARAMETERS"


@pytest.mark.emulator(strict=False)  # paths and methods the API does not have, on purpose
def test_unknown_path_and_method(api: Api) -> None:
    r = api.get("/api/open/nothing")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = api.http.put(PROFILE, headers=api.headers)
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"
    assert r.headers["Allow"] == "GET, POST"


def test_control_api_account_round_trip(kitta) -> None:
    view = kitta.control.set_account("new-token", tier="pro", api_quota_remaining=7, credits=3)
    assert view["tier"] == "pro" and view["api_quota_remaining"] == 7 and view["credits"] == 3
    assert Api(kitta, "new-token").profile()["credits"] == 3
    with pytest.raises(RuntimeError):
        kitta.control.set_account("new-token", tier="gold")


@pytest.mark.emulator(strict=False)  # hostile bodies, on purpose
def test_hostile_bodies_never_500(api: Api) -> None:
    ARIA = "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a"
    bodies = [
        b"[" * 100000 + b"]" * 100000,
        b'{"reference_id": "%s", "text": "hi", "speed": 1%s}' % (ARIA.encode(), b"0" * 5000),
        b'{"reference_id": "%s", "text": "hi", "speed": 1%s}' % (ARIA.encode(), b"0" * 400),
        b'{"reference_id": "%s", "text": "hi", "volume": NaN}' % ARIA.encode(),
        b'{"reference_id": "%s", "text": "hi", "speed": 1e999}' % ARIA.encode(),
        b'{"reference_id": "%s", "text": "\\ud800"}' % ARIA.encode(),
        b"\xff\xfe not utf-8",
    ]
    for body in bodies:
        r = api.post("/api/open/tts", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body[:60], r.status_code, r.text)
        assert r.json()["code"] == "INVALID_PARAMETERS"
    for body in (b"\x91" * 5000 + b"\xc0", b"\xd9\x05abc", b"\x81\xc4\x03abc\x01"):
        r = api.post("/api/open/tts", content=body, headers={"Content-Type": "application/msgpack"})
        assert r.status_code == 400, (body[:20], r.status_code, r.text)
