"""Lip-sync tasks: pending -> processing -> completed | failed on the emulated clock, progress,
credits charged and refunded, a real result video."""
from __future__ import annotations

import json
import math

import pytest

from emulators.media.audio import speech_duration
from emulators.media.probe import probe
from tests.kitta.conftest import Api
from tests.media_checks import quiet_share

FAIL_VIDEO = "https://example.com/EMULATOR_FAIL.mp4"


def test_create_charges_credits_and_starts_pending(api: Api) -> None:
    before = api.profile()["credits"]
    r = api.lip_sync()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["message"] == "Task created successfully"
    data = body["data"]
    assert data["status"] == "pending"
    # audio not served by the emulator: 10 s assumed, 5 credits per second
    assert data["credits_used"] == 50
    assert data["remaining_credits"] == before - 50 == api.profile()["credits"]


def test_task_moves_on_the_clock_to_a_real_video(kitta, api: Api) -> None:
    task_id = api.lip_sync().json()["data"]["id"]
    t = api.task(task_id)
    assert (t["status"], t["progress"], t["result_url"], t["completed_at"]) == ("pending", 0, None, None)
    kitta.control.advance(6)
    t = api.task(task_id)
    assert t["status"] == "processing" and 0 < t["progress"] < 100 and t["result_url"] is None
    assert t["updated_at"] > t["created_at"]
    first = t["progress"]
    kitta.control.advance(10)
    t = api.task(task_id)
    assert t["status"] == "processing" and first < t["progress"] < 100
    kitta.control.advance(30)  # 5 s pending + 20 s + 1 s per audio second (10) processing
    t = api.task(task_id)
    assert t["status"] == "completed" and t["progress"] == 100 and t["error_message"] is None
    assert t["completed_at"] == t["updated_at"] and t["credits_used"] == 50
    video = api.http.get(t["result_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    info = probe(video.content)
    assert info is not None and info.has_video and info.has_audio
    assert abs(info.duration - 10) < 0.5


def test_price_and_length_follow_an_emulator_served_audio(kitta, api: Api) -> None:
    text = "A short line of speech for the lip sync test."
    audio_url = api.tts(text, cache=True).json()["audio_url"]
    seconds = speech_duration(text)
    data = api.lip_sync(audio_url=audio_url).json()["data"]
    assert data["credits_used"] == max(10, math.ceil(seconds) * 5)
    kitta.control.advance(120)
    t = api.task(data["id"])
    assert t["status"] == "completed"
    video = api.http.get(t["result_url"]).content
    info = probe(video)
    assert abs(info.duration - seconds) < 0.5
    _, quiet = quiet_share(video)  # the result speaks the submitted speech, not a steady tone
    assert 0.05 < quiet < 0.9


def test_fail_marker_fails_and_refunds(kitta, api: Api) -> None:
    before = api.profile()["credits"]
    data = api.lip_sync(video_url=FAIL_VIDEO).json()["data"]
    assert api.profile()["credits"] == before - data["credits_used"]
    kitta.control.advance(6)
    assert api.task(data["id"])["status"] == "processing"
    kitta.control.advance(60)
    t = api.task(data["id"])
    assert t["status"] == "failed" and t["error_message"] and t["result_url"] is None
    assert t["progress"] == 100 and t["credits_used"] == 0 and t["completed_at"] is not None
    assert api.profile()["credits"] == before
    # settled once: polling again does not refund twice
    api.task(data["id"])
    assert api.profile()["credits"] == before


def test_forcing_a_state_through_the_control_api(kitta, api: Api) -> None:
    before = api.profile()["credits"]
    task_id = api.lip_sync().json()["data"]["id"]
    kitta.control.force_job(task_id, "processing")
    assert api.task(task_id)["status"] == "processing"
    kitta.control.force_job(task_id, "failed")
    assert api.task(task_id)["status"] == "failed"
    assert api.profile()["credits"] == before


def test_query_by_post_with_body_token(kitta, api: Api) -> None:
    task_id = api.lip_sync().json()["data"]["id"]
    r = Api(kitta, None).post("/api/open/lip-sync/query", json={"id": task_id, "token": "test-token"})
    assert r.status_code == 200 and r.json()["data"]["id"] == task_id


@pytest.mark.emulator(strict=False)  # a missing id among the refusals, on purpose
def test_other_accounts_and_unknown_ids_are_404(kitta, api: Api) -> None:
    task_id = api.lip_sync().json()["data"]["id"]
    r = Api(kitta, "pro-token").get("/api/open/lip-sync/query", params={"id": task_id})
    assert r.status_code == 404 and r.json() == {"error": "Task not found", "code": "NOT_FOUND"}
    assert api.get("/api/open/lip-sync/query", params={"id": "nope"}).status_code == 404
    r = api.get("/api/open/lip-sync/query")
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"
    assert api.post("/api/open/lip-sync/query", json={}).status_code == 400


@pytest.mark.emulator(strict=False)  # URLs the provider refuses, on purpose
@pytest.mark.parametrize("body", [
    {"audio_url": "https://example.com/a.mp3"},
    {"video_url": "https://example.com/v.mp4", "audio_url": "ftp://example.com/a.mp3"},
    {"video_url": "not a url", "audio_url": "https://example.com/a.mp3"},
    {"video_url": "https://example.com/v.mp4", "audio_url": 42},
    {"video_url": "https://example.com/v.mp4", "audio_url": "http://testserver/files/f_missing.mp3"},
])
def test_invalid_urls_are_400_and_free(api: Api, body: dict) -> None:
    before = api.profile()["credits"]
    r = api.post("/api/open/lip-sync/create", json=body)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"
    assert api.profile()["credits"] == before


def test_too_few_credits_is_429_insufficient_credits(kitta) -> None:
    poor = Api(kitta, "poor-token")
    r = poor.lip_sync()
    assert r.status_code == 429
    assert r.json()["code"] == "INSUFFICIENT_CREDITS" and r.json()["error"] == "Insufficient credits"
    kitta.control.set_account("poor-token", credits=49)
    assert poor.lip_sync().status_code == 429
    assert poor.profile()["credits"] == 49
    kitta.control.set_account("poor-token", credits=50)
    assert poor.lip_sync().json()["data"]["remaining_credits"] == 0


def test_state_snapshot_restores_tasks(kitta, api: Api) -> None:
    task_id = api.lip_sync().json()["data"]["id"]
    snapshot = kitta.control.state()
    kitta.control.reset()
    assert api.get("/api/open/lip-sync/query", params={"id": task_id}).status_code == 404
    kitta.control.restore(snapshot)
    assert api.task(task_id)["id"] == task_id
    assert json.dumps(kitta.control.state()["backend"]) == json.dumps(snapshot["backend"])


def test_the_result_is_derived_from_its_task(kitta, api: Api) -> None:
    """No file record per task: the result video is made from the task once it has completed
    (before that, and for a failed task, its URL is not found), it comes back with the task
    after a restore, and a task saved with a stored result (before derived ones) serves that."""
    em = kitta.emulator
    stored = len(em.state.files)
    task_id = api.lip_sync().json()["data"]["id"]
    failing = api.lip_sync(video_url=FAIL_VIDEO).json()["data"]["id"]
    assert len(em.state.files) == stored
    url = f"{kitta.base_url}/files/{em.backend.state.tasks[task_id].result_id()}"
    assert api.http.get(url).status_code == 404  # not completed yet
    kitta.control.advance(60)
    assert api.task(task_id)["result_url"] == url and api.task(failing)["status"] == "failed"
    video = api.http.get(url)
    assert video.status_code == 200 and probe(video.content).has_video
    assert api.http.get(f"{kitta.base_url}/files/{em.backend.state.tasks[failing].result_id()}").status_code == 404
    snapshot = kitta.control.state()
    kitta.control.reset()
    assert api.http.get(url).status_code == 404
    kitta.control.restore(snapshot)
    assert api.http.get(url).content == video.content

    old_id = "f_oldstyle.mp4"
    snapshot["engine"]["files"][old_id] = {"id": old_id, "content_type": "video/mp4", "created_at": 0,
                                           "owner": "test-token", "recipe_json": '{"kind":"video","duration":1,'
                                           '"width":64,"height":64,"format":"mp4","with_audio":false,"seed":"x"}'}
    snapshot["backend"]["tasks"][task_id]["result_file"] = old_id
    kitta.control.restore(snapshot)
    assert api.task(task_id)["result_url"] == f"{kitta.base_url}/files/{old_id}"
    assert probe(api.http.get(f"{kitta.base_url}/files/{old_id}").content).width == 64
    assert api.http.get(url).status_code == 404
