"""Credits, createTask / recordInfo over the model catalog, states on the clock, errors."""
from __future__ import annotations

import json

import pytest

from emulators.media.probe import probe
from emulators.media.sniff import sniff
from tests.kie.conftest import AUDIO_TIMINGS, IMAGE_TIMINGS, VIDEO_TIMINGS, Api


def test_credit_balance(api: Api) -> None:
    r = api.get("/api/v1/chat/credit")
    assert r.status_code == 200
    assert r.json() == {"code": 200, "msg": "success", "data": 100000}
    assert Api(api.em, "poor-token").credits() == 0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic test-token"}])
def test_unauthorized(api: Api, headers: dict[str, str]) -> None:
    r = api.http.get("/api/v1/chat/credit", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == 401 and r.json()["data"] is None and r.json()["msg"]


def test_image_task_walks_the_states_and_yields_a_real_png(api: Api) -> None:
    task_id = api.create_ok("nano-banana-2", prompt="a red fox", aspect_ratio="16:9")
    assert api.credits() == 100000 - 8
    data = api.record(task_id)
    assert data["state"] == "waiting" and data["model"] == "nano-banana-2"
    assert json.loads(data["param"]) == {"model": "nano-banana-2",
                                         "input": {"prompt": "a red fox", "aspect_ratio": "16:9"}}
    assert data["resultJson"] is None and data["completeTime"] is None
    seen = []
    for step in (IMAGE_TIMINGS[0], IMAGE_TIMINGS[1], IMAGE_TIMINGS[2]):
        api.em.control.advance(step)
        seen.append(api.record(task_id)["state"])
    assert seen == ["queuing", "generating", "success"]
    done = api.record(task_id)
    assert done["failCode"] is None and done["failMsg"] is None
    assert done["costTime"] == sum(IMAGE_TIMINGS) * 1000
    assert done["completeTime"] - done["createTime"] == sum(IMAGE_TIMINGS) * 1000
    (url,) = api.result_urls(task_id)
    r = api.download(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    info = probe(r.content)
    assert info is not None and (info.width, info.height) == (1344, 768)


def test_video_task_price_duration_and_sound(api: Api) -> None:
    task_id = api.create_ok("kling-2.6/text-to-video", prompt="waves", duration="10", sound=True,
                            aspect_ratio="9:16")
    assert api.credits() == 100000 - 220
    api.em.control.advance(sum(VIDEO_TIMINGS))
    (url,) = api.result_urls(task_id)
    r = api.download(url)
    assert r.headers["content-type"] == "video/mp4"
    info = probe(r.content)
    assert info is not None and info.has_video and info.has_audio
    assert abs(info.duration - 10) < 0.5 and (info.width, info.height) == (360, 640)


KLING_26 = {"prompt": "x", "aspect_ratio": "16:9"}


@pytest.mark.parametrize("inputs,price", [
    ({"duration": 5, "sound": False}, 55), ({"duration": 10, "sound": False}, 110),
    ({"duration": "5", "sound": True}, 110), ({"duration": "10", "sound": True}, 220)])
def test_kling_prices(api: Api, inputs: dict, price: int) -> None:
    api.create_ok("kling-2.6/text-to-video", **KLING_26, **inputs)
    assert api.credits() == 100000 - price


def test_audio_task_yields_speech(api: Api) -> None:
    task_id = api.create_ok("elevenlabs/text-to-speech-multilingual-v2", text="Hello from the emulator")
    api.em.control.advance(sum(AUDIO_TIMINGS))
    (url,) = api.result_urls(task_id)
    r = api.download(url)
    assert sniff(r.content[:64]) == "mp3"


def test_catalog_models_from_public_clients(api: Api) -> None:
    image = "https://example.com/a.png"
    api.create_ok("nano-banana-pro", prompt="p", resolution="4K")
    api.create_ok("kling-2.6/image-to-video", prompt="p", image_urls=[image], duration=5, sound=False)
    api.create_ok("kling-3.0/video", prompt="p", mode="std", duration=5, sound=False)
    # an outside driving video the emulator cannot measure counts as 5 s
    api.create_ok("kling-3.0/motion-control", input_urls=[image], video_urls=["https://example.com/v.mp4"])
    assert api.credits() == 100000 - 24 - 55 - 5 * 14 - 5 * 20


def test_fail_marker_fails_and_refunds(api: Api) -> None:
    task_id = api.create_ok("nano-banana-2", prompt="EMULATOR_FAIL please")
    assert api.credits() == 100000 - 8
    api.em.control.advance(sum(IMAGE_TIMINGS) - 0.5)
    assert api.record(task_id)["state"] == "generating"
    api.em.control.advance(1)
    data = api.record(task_id)
    assert data["state"] == "fail"
    assert data["failCode"] == "501" and "EMULATOR_FAIL" in data["failMsg"]
    assert data["resultJson"] is None
    assert api.credits() == 100000


def test_forced_states(api: Api) -> None:
    task_id = api.create_ok("nano-banana-2", prompt="x")
    api.em.control.force_job(task_id, "generating")
    assert api.record(task_id)["state"] == "generating"
    api.em.control.force_job(task_id, "fail")
    assert api.record(task_id)["state"] == "fail"
    assert api.credits() == 100000


def test_insufficient_credits(api: Api) -> None:
    poor = Api(api.em, "poor-token")
    r = poor.create("nano-banana-2", prompt="x")
    assert r.status_code == 402 and r.json()["code"] == 402
    low = Api(api.em, "low-token")
    r = low.create("kling-2.6/text-to-video", **KLING_26, duration=5, sound=False)
    assert r.status_code == 402
    assert low.credits() == 20
    low.create_ok("nano-banana-2", prompt="x")
    low.create_ok("nano-banana-2", prompt="x")
    assert low.credits() == 4
    assert low.create("nano-banana-2", prompt="x").status_code == 402


@pytest.mark.emulator(strict=False)  # inputs the provider refuses, on purpose
@pytest.mark.parametrize("body,needle", [
    ({}, "model"),
    ({"model": 5}, "model"),
    ({"model": "no-such-model", "input": {"prompt": "x"}}, "not supported"),
    ({"model": "nano-banana-2"}, "prompt"),
    ({"model": "nano-banana-2", "input": {"prompt": ""}}, "prompt"),
    ({"model": "nano-banana-2", "input": "prompt"}, "input"),
    ({"model": "nano-banana-2", "input": {"prompt": 3}}, "prompt"),
    ({"model": "nano-banana-2", "input": {"prompt": "x", "aspect_ratio": "5:1"}}, "aspect_ratio"),
    ({"model": "kling-2.6/text-to-video", "input": {**KLING_26, "sound": False, "duration": "7"}}, "duration"),
    ({"model": "kling-2.6/text-to-video", "input": {**KLING_26, "duration": 5, "sound": "yes"}}, "sound"),
    ({"model": "kling-2.6/text-to-video", "input": {**KLING_26, "prompt": "x" * 2501}}, "2500"),
    ({"model": "kling-2.6/text-to-video", "input": {**KLING_26, "duration": 5}}, "sound cannot be empty"),
    ({"model": "kling-2.6/image-to-video", "input": {"prompt": "x"}}, "image_urls"),
    ({"model": "kling-2.6/image-to-video", "input": {"prompt": "x", "image_urls": "http://a/b.png"}}, "image_urls"),
    ({"model": "kling-2.6/image-to-video", "input": {"prompt": "x", "image_urls": ["ftp://a/b"]}}, "image_urls"),
    ({"model": "nano-banana-2", "callBackUrl": "not a url", "input": {"prompt": "x"}}, "callBackUrl"),
])
def test_invalid_input_is_422(api: Api, body: dict, needle: str) -> None:
    r = api.post("/api/v1/jobs/createTask", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == 422 and needle in r.json()["msg"]
    assert api.credits() == 100000


@pytest.mark.emulator(strict=False)  # malformed bodies, on purpose
@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b"\xff\xfe", b"null"])
def test_malformed_bodies_are_422(api: Api, raw: bytes) -> None:
    r = api.post("/api/v1/jobs/createTask", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == 422


@pytest.mark.emulator(strict=False)  # a missing taskId among the refusals, on purpose
def test_unknown_and_foreign_tasks_are_404(api: Api) -> None:
    r = api.get("/api/v1/jobs/recordInfo", params={"taskId": "nope"})
    assert r.status_code == 404 and r.json()["code"] == 404
    task_id = api.create_ok("nano-banana-2", prompt="mine")
    other = Api(api.em, "low-token")
    r = other.get("/api/v1/jobs/recordInfo", params={"taskId": task_id})
    assert r.status_code == 404
    r = api.get("/api/v1/jobs/recordInfo")
    assert r.status_code == 422 and "taskId" in r.json()["msg"]


def test_create_task_rate_limit(api: Api) -> None:
    api.em.control.advance(10 - (api.em.emulator.clock.now() % 10) + 0.01)  # start of a window
    for _ in range(20):
        api.create_ok("nano-banana-2", prompt="x")
    r = api.create("nano-banana-2", prompt="x")
    assert r.status_code == 429 and r.json()["code"] == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 10
    assert api.credits() == 100000 - 20 * 8
    assert api.get("/api/v1/chat/credit").status_code == 200  # other endpoints are not limited
    api.em.control.advance(10)
    api.create_ok("nano-banana-2", prompt="x")


def test_concurrent_tasks_never_overspend(api: Api) -> None:
    import asyncio

    async def race() -> list[int]:
        async with api.em.async_client(headers={"Authorization": "Bearer low-token"}) as client:
            body = {"model": "nano-banana-2", "input": {"prompt": "x"}}
            responses = await asyncio.gather(*[client.post("/api/v1/jobs/createTask", json=body)
                                               for _ in range(5)])
            return sorted(r.status_code for r in responses)

    assert asyncio.run(race()) == [200, 200, 402, 402, 402]
    assert Api(api.em, "low-token").credits() == 4
