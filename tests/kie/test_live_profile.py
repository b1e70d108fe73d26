"""The two profiles, pinned shape by shape against what kie-live.md recorded of the live service
(the `live` profile) and against kie.md / kie-extra.md (the `documented` default).

The recorded bodies are read from kie-live.md itself, so a change of the recordings shows here.
Every response of every test is also checked against contracts/kie.yaml (emulator_factory).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emulators.media.image import make_image
from emulators.providers.kie.models import set_launch_profile
from tests.kie.conftest import IMAGE_TIMINGS, Api

LIVE_MD = (Path(__file__).resolve().parents[3] / "shared" / "providers" / "kie-live.md").read_text()
SEEN = LIVE_MD.split("## Responses seen live", 1)[1].split("\n## ", 1)[0]
PNG = make_image(320, 320, fmt="png", seed="live")


def _bullet(start: str) -> str:
    """The bullet of "Responses seen live" that starts with `start` (continuation lines joined)."""
    bullets = re.split(r"\n(?=- )", SEEN)
    (found,) = [b for b in bullets if b.startswith(f"- {start}")]
    return " ".join(line.strip() for line in found.splitlines())


def _recorded_credit() -> dict[str, Any]:
    return json.loads(re.search(r"-> `(\{.*?\})`", _bullet("`GET /api/v1/chat/credit`")).group(1))


def _recorded_param() -> dict[str, Any]:
    """The recorded `param`, its elisions ([...] and ,...) dropped: {"input": {...}, "model": ...}."""
    literal = re.search(r"`(\"\{.*\}\")`", _bullet("`param`")).group(1)
    outer = json.loads(json.loads(literal).replace("[...]", "[]").replace(",...", "")
                       .replace('\\"[...]', '').replace(',\\"...', ''))
    return outer


@pytest.fixture(params=["documented", "live"])
def profile(request: pytest.FixtureRequest, api: Api) -> str:
    api.em.control.set_settings(profile=request.param)
    return str(request.param)


def _image_task(api: Api, **extra: Any) -> str:
    return api.create_ok("nano-banana-2", prompt="a lighthouse", aspect_ratio="9:16", **extra)


# -- credit ------------------------------------------------------------------------------------

def test_credit_balance_with_decimals(api: Api, profile: str) -> None:
    recorded = _recorded_credit()
    assert recorded == {"code": 200, "msg": "success", "data": 60.62}
    api.em.control.set_account("test-token", credits=recorded["data"])
    body = api.get("/api/v1/chat/credit").json()
    assert body.keys() == recorded.keys()
    if profile == "live":
        assert body == recorded and isinstance(body["data"], float)
    else:
        assert body == {**recorded, "data": 60}  # the docs' example: whole credits
    assert api.em.control.account("test-token")["credits"] == 60.62  # the control API: exact


def test_fractional_balance_is_spent_exactly(api: Api) -> None:
    api.em.control.set_settings(profile="live")
    api.em.control.set_account("test-token", credits=8.5)
    _image_task(api)
    assert api.credits() == 0.5
    assert api.create("nano-banana-2", prompt="x").json()["code"] == 402


# -- createTask --------------------------------------------------------------------------------

def test_create_task_data(api: Api, profile: str) -> None:
    recorded = re.search(r'"data": (\{.*?\})', _bullet("`createTask`")).group(1)
    keys = re.findall(r'"(\w+)":', recorded)
    assert keys == ["taskId", "recordId"]
    data = api.post("/api/v1/jobs/createTask", json={"model": "nano-banana-2", "input": {"prompt": "x"}}).json()["data"]
    assert re.fullmatch(r"[0-9a-f]{32}", data["taskId"])
    if profile == "live":
        assert list(data) == keys and data["recordId"] == data["taskId"]
    else:
        assert list(data) == ["taskId"]  # kie-extra.md: {"taskId": "<id>"}


# -- recordInfo before the end -----------------------------------------------------------------

def test_record_before_the_end(api: Api, profile: str) -> None:
    bullet = _bullet("`recordInfo` while not finished")
    nulls = re.search(r'not null\), (.*?) all `null`', bullet).group(1)
    null_fields = re.findall(r"`(\w+)`", nulls)
    assert null_fields == ["failCode", "failMsg", "costTime", "completeTime"]
    assert "no `updateTime` field" in bullet and '`"resultJson": ""`' in bullet
    task_id = _image_task(api)
    seen = []
    for step in (0, *IMAGE_TIMINGS[:2], IMAGE_TIMINGS[2] - 0.5):
        api.em.control.advance(step)
        data = api.record(task_id)
        seen.append(data["state"])
        assert all(data[name] is None for name in null_fields)
        if profile == "live":
            assert "updateTime" not in data and data["resultJson"] == ""
        else:
            assert isinstance(data["updateTime"], int) and data["resultJson"] is None
    # live: `waiting` for the whole life, then straight to success
    assert seen == (["waiting"] * 4 if profile == "live" else ["waiting", "queuing", "generating", "generating"])
    api.em.control.advance(0.5)
    assert api.record(task_id)["state"] == "success"


def test_a_forced_phase_shows_as_waiting_live(api: Api) -> None:
    api.em.control.set_settings(profile="live")
    task_id = _image_task(api)
    api.em.control.force_job(task_id, "generating")
    assert api.record(task_id)["state"] == "waiting"
    api.em.control.set_settings(profile="documented")
    assert api.record(task_id)["state"] == "generating"


# -- recordInfo on success -----------------------------------------------------------------------

def test_record_on_success(api: Api, profile: str) -> None:
    bullet = _bullet("`recordInfo` on success")
    example = json.loads(re.search(r"`resultJson` = `(\".*?\")`", bullet).group(1))
    assert list(json.loads(example.replace("...", "x"))) == ["resultUrls"]
    cost, span = (int(n.replace(",", "")) for n in re.search(
        r"`costTime` = ([\d,]+) while `completeTime - createTime` = ([\d,]+) ms", bullet).groups())
    assert cost == round(span / 1000)  # the live rule: seconds
    task_id = _image_task(api, output_format="jpg")
    api.em.control.advance(sum(IMAGE_TIMINGS))
    data = api.record(task_id)
    assert data["state"] == "success" and data["failCode"] is None and data["failMsg"] is None
    result = json.loads(data["resultJson"])
    assert list(result) == ["resultUrls"]
    (url,) = result["resultUrls"]
    assert url.endswith(".jpeg")  # "output_format: jpg ... produced a .jpeg result"
    assert api.download(url).content[:3] == b"\xff\xd8\xff"
    span = data["completeTime"] - data["createTime"]
    assert span == sum(IMAGE_TIMINGS) * 1000
    if profile == "live":
        assert data["costTime"] == round(span / 1000) == sum(IMAGE_TIMINGS)
    else:
        assert data["costTime"] == span  # kie-extra.md: times in ms
    assert data["updateTime"] == data["completeTime"]  # present once the task has ended


# -- param -------------------------------------------------------------------------------------

def test_param(api: Api, profile: str) -> None:
    recorded = _recorded_param()
    assert list(recorded) == ["input", "model"] and isinstance(recorded["input"], str)
    assert isinstance(json.loads(recorded["input"]), dict)
    assert "sorted alphabetically" in _bullet("`param`")
    inputs = {"prompt": "a lighthouse", "image_input": [], "aspect_ratio": "9:16", "output_format": "jpg"}
    body = {"model": "nano-banana-2", "input": inputs}
    task_id = api.post("/api/v1/jobs/createTask", json=body).json()["data"]["taskId"]
    param = api.record(task_id)["param"]
    outer = json.loads(param)
    if profile == "live":
        assert list(outer) == list(recorded) and outer["model"] == "nano-banana-2"
        assert isinstance(outer["input"], str)
        inner = json.loads(outer["input"])
        assert inner == inputs and list(inner) == sorted(inputs)
        assert ", " not in param and ": " not in param  # compact, like the recording
    else:
        assert outer == body  # kie-extra.md: "the original request body as a JSON string"


# -- uploads -----------------------------------------------------------------------------------

def test_upload_data(api: Api, profile: str) -> None:
    bullet = _bullet("Upload (`/api/file-stream-upload`)")
    assert '`"success": true`' in bullet
    pattern = re.search(r"`filePath` is `(.*?)`", bullet).group(1)
    assert pattern == "kieai/<numeric user id>/images/user-uploads/<fileName>"
    r = api.post("/api/file-stream-upload", files={"file": ("cat.png", PNG, "image/png")},
                 data={"uploadPath": "images/user-uploads", "fileName": "cat.png"})
    body = r.json()
    assert body["success"] is True and body["code"] == 200
    data = body["data"]
    user_id = api.em.control.account("test-token")["userId"]
    if profile == "live":
        expected = pattern.replace("<numeric user id>", str(user_id)).replace("<fileName>", "cat.png")
        assert re.fullmatch(r"kieai/\d+/images/user-uploads/cat\.png", data["filePath"])
        assert data["filePath"] == expected and data["success"] is True
    else:
        assert data["filePath"] == "images/user-uploads/cat.png" and "success" not in data
    # the same file either way, reachable and usable in a task
    assert api.download(data["downloadUrl"]).content == PNG
    _image_task(api, image_input=[data["downloadUrl"]])


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.emulator(strict=False)  # each error needs its bad request, on purpose
@pytest.mark.parametrize("call", ["bad-token", "no-credits", "invalid", "unknown-task", "upload"])
def test_errors(api: Api, profile: str, call: str) -> None:
    if call == "bad-token":
        r = api.http.get("/api/v1/chat/credit", headers={"Authorization": "Bearer nope"})
    elif call == "no-credits":
        r = Api(api.em, "poor-token").create("nano-banana-2", prompt="x")
    elif call == "invalid":
        r = api.create("kling-3.0/video", prompt="x", mode="std", duration=5)
    elif call == "unknown-task":
        r = api.get("/api/v1/jobs/recordInfo", params={"taskId": "0" * 32})
    else:
        r = api.post("/api/file-base64-upload", json={"uploadPath": "x"})
    code = r.json()["code"]
    assert code == {"bad-token": 401, "no-credits": 402, "invalid": 422, "unknown-task": 404, "upload": 400}[call]
    assert r.status_code == (200 if profile == "live" else code)
    assert r.json()["data"] is None
    if call == "invalid":
        assert r.json()["msg"] == "sound cannot be empty"  # the live service's own words


# -- the switch ----------------------------------------------------------------------------------

def test_launch_profile_survives_reset_and_yields_to_the_switch(api: Api) -> None:
    set_launch_profile(api.em.emulator, "live")
    ctl = api.em.control
    assert ctl.settings()["profile"] == "live"
    assert api.http.get("/api/v1/chat/credit").status_code == 200  # 401 in the body
    ctl.set_settings(profile="documented")
    assert api.http.get("/api/v1/chat/credit").status_code == 401
    ctl.reset()
    assert ctl.settings()["profile"] == "live"
    with pytest.raises(ValueError):
        set_launch_profile(api.em.emulator, "sometimes")


def test_a_state_saved_with_the_old_switch_name_is_live(api: Api) -> None:
    snapshot = api.em.control.state()
    snapshot["settings"] = {"httpStatus": "live"}
    api.em.control.restore(snapshot)
    assert api.em.control.settings()["profile"] == "live"
    assert api.http.get("/api/v1/chat/credit").status_code == 200
