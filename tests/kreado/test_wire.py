"""Wire format, authentication, membership expiry and the control API."""
from __future__ import annotations

import re

import pytest

from tests.kreado.conftest import P, Api

ID19 = re.compile(r"^[0-9]{19}$")


@pytest.mark.emulator(strict=False)  # an error answer needs a bad request, on purpose
def test_every_answer_is_http_200_with_the_envelope_and_a_fresh_request_id(api: Api) -> None:
    a = api.get("/user/v3/getInfo")
    b = api.get("/user/v3/getInfo")
    assert a["code"] == "200" and a["message"] == "Success"
    assert ID19.match(a["requestId"]) and ID19.match(b["requestId"])
    assert a["requestId"] != b["requestId"]
    err = api.post("/avatar/v3/list", {"pageIndex": 1})
    assert err == {**err, "code": "10002", "message": "Request parameter error.", "data": None}
    assert ID19.match(err["requestId"])


@pytest.mark.emulator(strict=False)  # an empty body: the token is refused first, on purpose
def test_missing_or_unknown_api_token_is_login_expired(api: Api) -> None:
    expected = "To ensure account security, login has expired. Please log in again"
    r = api.http.get(P + "/user/v3/getInfo")
    assert r.status_code == 200 and r.json()["code"] == "405" and r.json()["message"] == expected
    r = api.raw("/avatar/v3/list", {}, token="nobody")
    assert r.status_code == 200 and r.json()["code"] == "405"
    # the documented header name is what counts, not a bearer token
    r = api.http.get(P + "/user/v3/getInfo", headers={"Authorization": "Bearer test-token"})
    assert r.json()["code"] == "405"


@pytest.mark.emulator(strict=False)  # malformed bodies, on purpose
def test_malformed_bodies_are_parameter_errors_never_500(api: Api) -> None:
    for content in (b"", b"{", b"[]", b'"x"', b"null", b"\xff\xfe", b'{"pageIndex": 1e999}',
                    b"[" * 100000, b'{"pageIndex": NaN, "pageSize": 1}'):
        r = api.http.post(P + "/video/v3/list", content=content,
                          headers={"apiToken": "test-token", "Content-Type": "application/json"})
        assert r.status_code == 200, content
        assert r.json()["code"] == "10002", content
    wrong_types = [
        {"pageIndex": "one", "pageSize": 1}, {"pageIndex": True, "pageSize": 1}, {"pageIndex": 1.5, "pageSize": 1},
        {"pageIndex": 0, "pageSize": 1}, {"pageIndex": 1, "pageSize": 0}, {"pageIndex": 1, "pageSize": [1]},
        {"pageIndex": 1, "pageSize": 1, "status": 9}, {"pageIndex": 1, "pageSize": 1, "status": "x"},
    ]
    for body in wrong_types:
        assert api.post("/video/v3/list", body)["code"] == "10002", body


@pytest.mark.emulator(strict=False)  # digit strings where the docs say integer, on purpose
def test_integer_fields_accept_digit_strings_like_the_servers_json_binding(api: Api) -> None:
    data = api.ok("/video/v3/emoList", {"pageIndex": "1", "pageSize": "2"})
    assert data["pageSize"] == 2 and len(data["data"]) == 2


@pytest.mark.emulator(strict=False)  # paths and methods the API does not have, on purpose
def test_unknown_path_and_wrong_method(api: Api) -> None:
    r = api.http.post(P + "/video/v3/nothing", json={}, headers=api.headers())
    assert r.status_code == 404 and r.json()["code"] == "10009"
    r = api.http.post(P + "/user/v3/getInfo", headers=api.headers())
    assert r.status_code == 405 and r.json()["code"] == "400"


def test_get_info_shows_balance_as_two_decimals_and_expiry(api: Api) -> None:
    info = api.info()
    assert info["balance"] == "100000.00"
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", info["vipExpireTime"])
    assert api.info("poor-token")["balance"] == "0.00"
    assert api.info("61FDB6A8A14FE77EE2DF893058572EE3")["balance"] == "138744.00"  # the docs' token


def _every_call(api: Api, token: str) -> dict[str, str]:
    """The code each documented endpoint answers `token` (minimal bodies: auth comes first)."""
    from emulators.providers.kreado.urls import endpoints

    codes = {}
    for ep in endpoints:
        if ep.method == "GET":
            r = api.http.get(ep.path, headers={"apiToken": token})
        else:
            r = api.http.post(ep.path, json={"pageIndex": 1, "pageSize": 1}, headers={"apiToken": token})
        assert r.status_code == 200, (ep.path, r.text)
        codes[ep.path] = r.json()["code"]
        if codes[ep.path] == "10022":
            assert r.json()["message"] == "Please upgrade to Pro Membership." and r.json()["data"] is None
    return codes


@pytest.mark.emulator(strict=False)  # minimal bodies: the membership is refused first, on purpose
def test_expired_membership_fails_every_call_get_info_included(api: Api, kr) -> None:
    """"Requests will fail after the membership expires": the docs say so of getInfo too."""
    limits = {name: 10**6 for name in kr.emulator.backend.state.settings.limits["per_second"]}
    kr.control.set_account("expired-token", limits=limits)
    codes = _every_call(api, "expired-token")
    assert len(codes) == 18 and set(codes.values()) == {"10022"}, codes
    assert api.get("/user/v3/getInfo", "expired-token")["code"] == "10022"
    assert kr.control.account("expired-token")["vipExpired"] is True  # the control API still shows it


@pytest.mark.emulator(strict=False)  # minimal bodies: the membership is refused first, on purpose (no job is made)
def test_membership_expires_on_the_emulated_clock(api: Api, kr) -> None:
    from emulators.providers.kreado.models import fmt_time

    limits = {name: 10**6 for name in kr.emulator.backend.state.settings.limits["per_second"]}
    expiry = fmt_time(kr.emulator.clock.now() + 3600)
    kr.control.set_account("test-token", vipExpireTime=expiry, limits=limits)
    assert api.info()["vipExpireTime"] == expiry
    body = {"pageIndex": 1, "pageSize": 1}
    assert api.post("/video/v3/emoList", body)["code"] == "200"
    kr.control.advance(3590)  # (the expiry is shown, and kept, to the second: 10 s of real time to spare)
    assert api.post("/video/v3/emoList", body)["code"] == "200"
    assert "10022" not in _every_call(api, "test-token").values()
    kr.control.advance(11)
    codes = _every_call(api, "test-token")
    assert set(codes.values()) == {"10022"}, codes  # getInfo included
    assert kr.control.account("test-token")["balance"] == "100000.00"  # nothing was taken
    # renewing the membership (control API) brings the account back
    kr.control.set_account("test-token", vipExpireTime="2099-01-01 00:00:00")
    assert api.post("/video/v3/emoList", body)["code"] == "200"
    assert api.info()["balance"] == "100000.00"


def test_control_api_account_fields(api: Api, kr) -> None:
    view = kr.control.account("test-token")
    assert view["balance"] == "100000.00" and view["limits"]["voice.textToSpeech"] == 1
    assert view["videoQueueLimit"] == 8 and view["subtitleQueueLimit"] == 4
    kr.control.set_account("new-token", balance="12.34", vipExpireTime="2030-01-01 08:00:00")
    assert api.info("new-token") == {"balance": "12.34", "vipExpireTime": "2030-01-01 08:00:00"}
    r = api.http.put("/_emulator/accounts/new-token", json={"balance": "1.234"})
    assert r.status_code == 400
    r = api.http.put("/_emulator/accounts/new-token", json={"limits": {"nope": 1}})
    assert r.status_code == 400


def test_state_round_trips(api: Api, kr) -> None:
    job = api.system_task()["data"]["jobId"]
    state = kr.control.state()
    kr.control.reset()
    assert api.post("/video/v3/getLipVideoResult", {"jobId": job})["code"] == "10009"
    kr.control.restore(state)
    assert api.ok("/video/v3/getLipVideoResult", {"jobId": job})["videoTask"]["taskId"] == 122165
    assert kr.control.state()["backend"] == state["backend"]


def test_over_a_real_socket_urls_point_at_the_emulator(emulator_factory) -> None:
    em = emulator_factory("kreado", server=True)
    api = Api(em)
    tts = api.tts("Over the wire.")["data"]["textToSpeech"]
    assert tts["audioUrl"].startswith(em.base_url + "/files/")
    audio = api.http.get(tts["audioUrl"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    missing = api.http.get(em.base_url + "/files/f_nothing.mp4")
    assert missing.status_code == 404 and missing.json()["code"] == "10009"
    assert not em.control.violations()
