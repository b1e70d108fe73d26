"""The switches: documented vs live HTTP status, 455 maintenance, 505 feature disabled, 500."""
from __future__ import annotations

import pytest

from tests.kie.conftest import Api


def test_settings_are_read_and_written_through_the_control_api(api: Api) -> None:
    ctl = api.em.control
    assert ctl.settings() == {"profile": "documented", "httpStatus": "documented", "maintenance": False,
                              "disabledFeatures": [], "allowedHosts": [], "callbackRetryDelays": None}
    assert ctl.set_settings(profile="live")["profile"] == "live"
    assert ctl.set_settings(httpStatus="documented")["profile"] == "documented"  # the old name
    assert ctl.set_settings(httpStatus="live") == {**ctl.settings(), "profile": "live", "httpStatus": "live"}
    for bad in ({"httpStatus": "sometimes"}, {"profile": "sometimes"},
                {"profile": "live", "httpStatus": "documented"}):
        with pytest.raises(RuntimeError, match="400"):
            ctl.set_settings(**bad)
    assert ctl.settings()["profile"] == "live"
    with pytest.raises(RuntimeError, match="400"):
        ctl.set_settings(disabledFeatures=["teleport"])
    with pytest.raises(RuntimeError, match="400"):
        ctl.set_settings(bogus=True)
    ctl.reset()
    assert ctl.settings()["profile"] == "documented"


@pytest.mark.emulator(strict=False)  # error answers need bad requests, on purpose
def test_live_status_behaviour_answers_200_with_the_code_in_the_body(api: Api) -> None:
    api.em.control.set_settings(httpStatus="live")
    r = api.http.get("/api/v1/chat/credit", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 200 and r.json()["code"] == 401 and r.json()["data"] is None
    r = Api(api.em, "poor-token").create("nano-banana-2", prompt="x")
    assert r.status_code == 200 and r.json()["code"] == 402
    r = api.create("nano-banana-2")
    assert r.status_code == 200 and r.json()["code"] == 422
    r = api.get("/api/v1/jobs/recordInfo", params={"taskId": "missing"})
    assert r.status_code == 200 and r.json()["code"] == 404
    r = api.post("/api/file-base64-upload", json={"uploadPath": "x"})
    assert r.status_code == 200 and r.json() == {"success": False, "code": 400,
                                                 "msg": "base64Data is required", "data": None}
    # success is unchanged, and the CDN keeps real HTTP statuses
    assert api.get("/api/v1/chat/credit").json()["code"] == 200
    assert api.http.get("/files/f_missing.png").status_code == 404
    api.em.control.set_settings(httpStatus="documented")
    assert api.http.get("/api/v1/chat/credit").status_code == 401
    # the contract records the live envelope (errors under HTTP 200), so nothing is off-contract
    assert api.em.control.violations("response") == []


def test_maintenance_is_455_everywhere(api: Api) -> None:
    api.em.control.set_settings(maintenance=True)
    for r in (api.get("/api/v1/chat/credit"), api.create("nano-banana-2", prompt="x"),
              api.http.get("/api/v1/chat/credit")):
        assert r.status_code == 455 and r.json()["code"] == 455
    r = api.post("/api/file-url-upload", json={"fileUrl": "https://example.com/a.png", "uploadPath": "images"})
    assert r.status_code == 455 and r.json()["success"] is False
    api.em.control.set_settings(maintenance=False)
    assert api.credits() == 100000


def test_disabled_feature_is_505_for_that_feature_only(api: Api) -> None:
    api.em.control.set_settings(disabledFeatures=["createTask"])
    r = api.create("nano-banana-2", prompt="x")
    assert r.status_code == 505 and r.json()["code"] == 505
    assert api.credits() == 100000
    api.em.control.set_settings(disabledFeatures=["*"])
    assert api.get("/api/v1/chat/credit").status_code == 505
    api.em.control.set_settings(disabledFeatures=[])
    api.create_ok("nano-banana-2", prompt="x")


def test_unplanned_failure_is_the_providers_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    from emulators.providers.kie.catalog import Catalog

    monkeypatch.setattr(Catalog, "price_cents", staticmethod(boom))
    r = api.create("nano-banana-2", prompt="x")
    assert r.status_code == 500
    assert r.json() == {"code": 500, "msg": "Server error, please try again later", "data": None}
    assert "Traceback" not in r.text


@pytest.mark.emulator(strict=False)  # paths and methods the API does not have, on purpose
def test_unknown_path_and_method(api: Api) -> None:
    r = api.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["code"] == 404
    r = api.get("/api/v1/jobs/createTask")
    assert r.status_code == 405 and r.json()["code"] == 405


def test_account_control_fields(api: Api) -> None:
    ctl = api.em.control
    view = ctl.account("test-token")
    assert view["credits"] == 100000 and view["webhookHmacKey"] == "test-webhook-hmac-key"
    ctl.set_account("new-token", credits=30)
    assert Api(api.em, "new-token").credits() == 30
    with pytest.raises(RuntimeError, match="400"):
        ctl.set_account("new-token", credits=-1)
