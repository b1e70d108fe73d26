"""Per-endpoint per-second rate limits with cooldown extension, and the video queue cap."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from emulators.engine import clock
from tests.kreado.conftest import Api

BODY = {"cloneDigitalHuman": 0, "supportTypeId": 100, "pageIndex": 1, "pageSize": 1}


@pytest.fixture
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real time stands still for the emulators of this test, so only `advance` moves their
    clock: a one-second window cannot close behind a slow machine's back."""
    frozen = time.time()
    monkeypatch.setattr(clock, "time", SimpleNamespace(time=lambda: frozen))


def test_thirty_avatar_list_calls_per_second(still_clock: None, api: Api, kr) -> None:
    api.next_second()
    codes = [api.post("/avatar/v3/list", BODY)["code"] for _ in range(31)]
    assert codes[:30] == ["200"] * 30 and codes[30] == "429"
    r = api.raw("/avatar/v3/list", BODY)  # during the cooldown
    assert r.json()["message"] == "Too many requests, please try again later."
    assert r.headers["Retry-After"] == "1" and r.headers["X-RateLimit-Remaining"] == "0"
    kr.control.advance(2)
    api.next_second()
    first = api.raw("/avatar/v3/list", BODY)
    assert first.headers["X-RateLimit-Limit"] == "30" and first.headers["X-RateLimit-Remaining"] == "29"
    # other endpoints have their own budget
    assert api.post("/video/v3/emoList", {"pageIndex": 1, "pageSize": 1})["code"] == "200"


def test_second_submission_in_one_second_is_refused(api: Api) -> None:
    first = api.system_task()
    assert first["code"] == "200"
    second = api.post("/video/v3/submitSystemLipTask", {"taskName": "t", "videoRatio": 1,
                                                        "digitalHuman": {"digitalHumanId": 9},
                                                        "audio": {"audioUrl": "https://example.com/a.mp3"}})
    assert second["code"] == "429"
    assert api.balance() == "99998.40"  # the refused one cost nothing
    # the general lip task is another endpoint with its own one-per-second budget
    assert api.post("/video/v3/submitLipTask", {"taskName": "t", "videoUrl": "https://example.com/v.mp4",
                                                "audioUrl": "https://example.com/a.mp3"})["code"] == "200"


def test_retrying_during_the_cooldown_prolongs_it(still_clock: None, api: Api, kr) -> None:
    assert api.tts()["code"] == "200"
    tts = {"languageId": "1767068435675340832", "content": "hi", "voiceId": "zhida", "voiceSource": 3,
           "voiceClone": 0}
    assert api.post("/voice/v3/textToSpeech", tts)["code"] == "429"  # cooldown: 1 s from now
    kr.control.advance(0.6)
    assert api.post("/voice/v3/textToSpeech", tts)["code"] == "429"  # retry: cooldown moves on
    kr.control.advance(0.6)  # the first cooldown has passed, the extended one has not
    assert api.post("/voice/v3/textToSpeech", tts)["code"] == "429"
    kr.control.advance(1.1)  # waiting quietly ends it
    assert api.post("/voice/v3/textToSpeech", tts)["code"] == "200"


def test_limits_are_account_fields(api: Api, kr) -> None:
    kr.control.set_account("test-token", limits={"video.emoList": 2})
    api.next_second()
    body = {"pageIndex": 1, "pageSize": 1}
    codes = [api.post("/video/v3/emoList", body)["code"] for _ in range(3)]
    assert codes == ["200", "200", "429"]


def test_ninth_queued_video_task_is_refused(api: Api, kr) -> None:
    for _ in range(8):
        assert api.system_task()["code"] == "200"
    ninth = api.system_task()
    assert ninth["code"] == "10019"
    assert api.lip_task()["code"] == "10019"  # both kinds share the queue
    other = api.system_task(token="61FDB6A8A14FE77EE2DF893058572EE3")
    assert other["code"] == "200"  # per token
    kr.control.advance(60)  # all eight finish
    assert api.system_task()["code"] == "200"
    assert kr.control.account("test-token")["queued"]["video"] == 1


def test_sixty_queries_per_second(still_clock: None, api: Api, kr) -> None:
    job = api.system_task()["data"]["jobId"]
    kr.control.advance(2)
    api.next_second()
    codes = [api.post("/video/v3/getLipVideoResult", {"jobId": job})["code"] for _ in range(61)]
    assert codes[:60] == ["200"] * 60 and codes[60] == "429"
