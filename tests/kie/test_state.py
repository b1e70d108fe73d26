"""Snapshot and restore keep tasks, uploads, credits and the switches."""
from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.providers.kie.models import param_text

from tests.kie.conftest import IMAGE_TIMINGS, Api


def test_state_round_trip(api: Api) -> None:
    ctl = api.em.control
    task_id = api.create_ok("nano-banana-2", prompt="kept")
    up = api.post("/api/file-base64-upload", json={"base64Data": base64.b64encode(b"kept bytes").decode(),
                                                   "uploadPath": "s", "fileName": "k.txt"}).json()["data"]
    ctl.set_settings(httpStatus="live")
    snapshot = ctl.state()
    ctl.reset()
    assert api.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}).status_code == 404
    assert ctl.restore(snapshot) == snapshot
    assert ctl.settings()["httpStatus"] == "live"
    assert api.credits() == 100000 - 8
    api.em.control.advance(sum(IMAGE_TIMINGS))
    (url,) = api.result_urls(task_id)
    assert api.download(url).status_code == 200
    assert api.download(up["downloadUrl"]).content == b"kept bytes"


def test_expired_uploads_are_forgotten(api: Api) -> None:
    body = {"base64Data": base64.b64encode(b"old").decode(), "uploadPath": "s", "fileName": "o.txt"}
    first = api.post("/api/file-base64-upload", json=body).json()["data"]["downloadUrl"]
    api.em.control.advance(3 * 86400 + 1)
    assert api.download(first).status_code == 404
    assert not api.em.emulator.backend.state.uploads
    second = api.post("/api/file-base64-upload", json=body).json()["data"]["downloadUrl"]
    assert api.download(second).content == b"old"


def test_a_state_saved_before_hundredths_keeps_its_balances(api: Api) -> None:
    task_id = api.create_ok("nano-banana-2", prompt="EMULATOR_FAIL old")
    snapshot = api.em.control.state()
    accounts = snapshot["backend"]["accounts"]
    for account in accounts.values():  # as the previous version saved them
        account["wallet"]["pools"] = {"credits": account["wallet"]["pools"]["centicredits"] // 100}
        del account["userId"]
    task = snapshot["backend"]["tasks"][task_id]
    task["charge"], task["cost"] = {"credits": 8}, 8
    api.em.control.restore(snapshot)
    assert api.credits() == 100000 - 8
    api.em.control.advance(sum(IMAGE_TIMINGS))
    assert api.credits() == 100000  # the refund comes back in the same units
    assert 1_000_000 <= api.em.control.account("test-token")["userId"] < 10_000_000


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


@settings(max_examples=500)
@given(st.dictionaries(st.text(), JSON_VALUES, max_size=5))
def test_param_is_the_text_json_dumps_writes(body: dict) -> None:
    """recordInfo's `param` through orjson's fast path is exactly json.dumps' compact text
    (floats, big integers and escapes included)."""
    assert param_text(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":"))
