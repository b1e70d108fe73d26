"""Lip-sync video tasks: submission, every status path, billing and refunds, list and detail."""
from __future__ import annotations

import re

import pytest

from emulators.media.probe import probe
from tests.kreado.conftest import BAD, DOC_AUDIO, DOC_VIDEO, Api
from tests.media_checks import quiet_share

TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def result(api: Api, job: int | str) -> dict:
    return api.ok("/video/v3/getLipVideoResult", {"jobId": job})


def test_system_task_moves_through_the_statuses_and_yields_a_real_video(api: Api, kr) -> None:
    r = api.system_task()
    assert r["code"] == "200"
    job = r["data"]["jobId"]
    assert isinstance(job, int) and len(str(job)) == 19
    assert api.balance() == "99998.40"  # 16 s of audio at 0.10 K-coin per second
    first = result(api, job)
    assert first["status"] == 1 and first["videoTask"]["videoUrl"] is None
    kr.control.advance(5)
    assert result(api, str(job))["status"] == 2  # the id as a string works too
    kr.control.advance(36)  # 20 s + 1 s per audio second
    done = result(api, job)
    assert done["status"] == 3
    video = api.http.get(done["videoTask"]["videoUrl"])
    assert video.headers["content-type"] == "video/mp4"
    info = probe(video.content)
    assert info.format == "mp4" and info.height > info.width  # videoRatio 2: 9:16
    assert abs(info.duration - 16) < 0.5 and info.has_audio
    detail = api.ok("/video/v3/detail", {"taskId": done["videoTask"]["taskId"]})
    assert detail["status"] == 3 and detail["supportTypeId"] == 101 and detail["audioDuration"] == "00:00:16"
    assert TIME.match(detail["createTime"]) and TIME.match(detail["successTime"])
    assert detail["successTime"] > detail["createTime"]
    assert probe(api.http.get(detail["videoThumbnailUrl"]).content).format == "png"
    assert probe(api.http.get(detail["audioUrl"]).content).format == "mp3"
    assert api.balance() == "99998.40"


def test_general_lip_task_keeps_the_input_orientation(api: Api, kr) -> None:
    job = api.lip_task()["data"]["jobId"]
    kr.control.advance(120)
    url = result(api, job)["videoTask"]["videoUrl"]
    info = probe(api.http.get(url).content)
    assert info.height > info.width  # the doc video is 1080x1920


def test_failure_and_timeout_refund_the_task(api: Api, kr) -> None:
    failing = api.system_task(taskName="EMULATOR_FAIL")["data"]["jobId"]
    timing_out = api.system_task(taskName="EMULATOR_TIMEOUT please")["data"]["jobId"]
    assert api.balance() == "99996.80"
    kr.control.advance(120)
    assert result(api, failing)["status"] == 4
    assert result(api, timing_out)["status"] == 5
    assert result(api, failing)["videoTask"]["videoUrl"] is None
    assert api.balance() == "100000.00"
    detail = api.ok("/video/v3/detail", {"taskId": result(api, failing)["videoTask"]["taskId"]})
    assert detail["status"] == 4 and detail["successTime"] is None and detail["videoUrl"] is None


def test_forcing_a_job_through_the_control_api(api: Api, kr) -> None:
    job = api.system_task()["data"]["jobId"]
    kr.control.force_job(str(job), 5)
    assert result(api, job)["status"] == 5
    assert api.balance() == "100000.00"
    job2 = api.system_task()["data"]["jobId"]
    kr.control.force_job(str(job2), 3)
    assert result(api, job2)["status"] == 3 and result(api, job2)["videoTask"]["videoUrl"]


def test_insufficient_balance(api: Api, kr) -> None:
    kr.control.set_account("poor-token", balance="1.59")
    assert api.system_task(token="poor-token")["code"] == "10017"
    kr.control.set_account("poor-token", balance="1.60")
    assert api.system_task(token="poor-token")["code"] == "200"
    assert api.balance("poor-token") == "0.00"


def test_video_list_pages_and_filters_by_status(api: Api, kr) -> None:
    assert api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 10})["totalCount"] == 0
    jobs = [api.system_task()["data"]["jobId"] for _ in range(3)]
    kr.control.force_job(str(jobs[0]), 3)
    page = api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 2})
    assert (page["totalCount"], page["totalPages"], len(page["data"])) == (3, 2, 2)
    assert page["data"][0]["taskId"] > page["data"][1]["taskId"]  # newest first
    done = api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 10, "status": 3})
    assert [v["status"] for v in done["data"]] == [3] and done["data"][0]["videoUrl"]
    assert api.ok("/video/v3/list", {"pageIndex": 3, "pageSize": 2})["data"] == []
    # other tokens see none of it
    assert api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 10}, "61FDB6A8A14FE77EE2DF893058572EE3")["totalCount"] == 0
    assert api.post("/video/v3/getLipVideoResult", {"jobId": jobs[0]}, "61FDB6A8A14FE77EE2DF893058572EE3")["code"] == "10009"


@pytest.mark.emulator(strict=False)  # ids of the wrong shape among the refusals, on purpose
def test_unknown_ids(api: Api) -> None:
    assert api.post("/video/v3/getLipVideoResult", {"jobId": 1861664658419253250})["code"] == "10009"
    assert api.post("/video/v3/getLipVideoResult", {"jobId": "abc"})["code"] == "10002"
    assert api.post("/video/v3/getLipVideoResult", {})["code"] == "10002"
    assert api.post("/video/v3/detail", {"taskId": 122164})["code"] == "10009"
    assert api.system_task(avatar=999999)["code"] == "10020"


def test_tts_audio_feeds_a_video_task(api: Api, kr) -> None:
    tts = api.tts("A sentence long enough to last a few seconds of speech.")["data"]["textToSpeech"]
    r = api.system_task(audio_url=tts["audioUrl"], audio={"audioUrl": tts["audioUrl"], "audioId": tts["fileId"]})
    assert r["code"] == "200"
    kr.control.advance(60)
    detail = api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 1})["data"][0]
    assert detail["audioUrl"] == tts["audioUrl"]
    _, quiet = quiet_share(api.http.get(detail["videoUrl"]).content)
    assert 0.05 < quiet < 0.9  # the video speaks the TTS text (pauses and sound), not a steady tone
    assert api.system_task(audio={"audioUrl": tts["audioUrl"], "audioId": 42})["code"] == "10009"


@pytest.mark.emulator(strict=False)  # values the provider refuses, on purpose
def test_system_task_parameters(api: Api) -> None:
    assert api.system_task(videoRatio=3)["code"] == "10002"
    assert api.system_task(digitalHuman={"digitalHumanId": 9, "mask": 3})["code"] == "10002"
    assert api.system_task(digitalHuman={"digitalHumanId": 9, "resize": "1.005"})["code"] == "10002"
    assert api.system_task(digitalHuman={"digitalHumanId": 4192, "templateId": 99})["code"] == "10002"
    assert api.system_task(digitalHuman={"digitalHumanId": 4192, "templateId": 6, "mask": 1, "x": 10, "y": 20,
                                         "resize": "1.25"})["code"] == "200"
    assert api.system_task(background={"type": 302})["code"] == "10002"  # color required
    assert api.system_task(background={"type": 302, "color": "rgb(0, 255, 0)"})["code"] == "200"
    assert api.system_task(background={"type": 303})["code"] == "10002"  # elements required
    assert api.system_task(background={"type": 303, "backgroundElements": [
        {"elementType": 330, "fileUrl": "https://example.com/bg.png", "resize": "1.00"}]})["code"] == "200"
    assert api.system_task(audio=None)["code"] == "10002"
    assert api.system_task(taskName="")["code"] == "10002"


@pytest.mark.emulator(strict=False)  # URLs the provider refuses, on purpose
def test_lip_task_media_rules(api: Api) -> None:
    assert api.lip_task(audio=BAD + "audio-too-long.mp3")["code"] == "10004"
    assert api.lip_task(audio=BAD + "audio-too-short.mp3")["code"] == "10004"
    assert api.lip_task(audio=BAD + "missing.mp3")["code"] == "10003"
    assert api.lip_task(audio="https://example.com/voice.ogg")["code"] == "10008"
    assert api.lip_task(video=BAD + "video-too-short.mp4")["code"] == "10008"  # must be longer than 5 s
    assert api.lip_task(video=BAD + "video-too-large.mp4")["code"] == "10007"
    assert api.lip_task(video=BAD + "video-250mb.mp4")["code"] == "200"  # <= 300 MB is fine here
    assert api.lip_task(video=BAD + "missing.mp4")["code"] == "10005"
    assert api.lip_task(video=BAD + "video-is-webm.mp4")["code"] == "10008"  # the content decides
    assert api.lip_task(video="https://example.com/clip.avi")["code"] == "10008"
    assert api.lip_task(video="https://example.com/视频.mp4")["code"] == "10002"
    assert api.lip_task(video="https://example.com/my clip.mp4")["code"] == "10002"
    assert api.lip_task(audio="ftp://example.com/a.mp3")["code"] == "10002"
    assert api.lip_task(video="https://example.com/any.mov", audio="https://example.com/any.m4a")["code"] == "200"
    assert api.balance() == "99996.80"  # only the two accepted tasks were billed (16 s of audio each)


def test_real_files_the_emulator_serves_are_probed(api: Api) -> None:
    from emulators.media.audio import make_test_audio
    from emulators.media.video import make_video

    short = api.stage(make_video(3, 320, 240), "mp4")
    assert api.lip_task(video=short)["code"] == "10008"
    good = api.stage(make_video(6, 640, 360), "mp4")
    audio = api.stage(make_test_audio(2.5, "wav"), "wav")
    assert api.lip_task(video=good, audio=audio)["code"] == "200"
    not_audio = api.stage(make_video(6, 640, 360), "mp4")
    assert api.lip_task(video=good, audio=not_audio)["code"] == "10008"
    assert api.lip_task(video=DOC_VIDEO, audio=DOC_AUDIO)["code"] == "200"


def test_a_video_tasks_files_are_derived_from_it_and_outlive_a_restore(api: Api, kr) -> None:
    """Its audio, video and thumbnail are made from the task, not stored as file records (a
    task costs no records of its own files), and they come back with the task after a restore;
    a task saved with stored file ids (before derived files) still serves those."""
    stored = len(kr.emulator.state.files)
    job = api.system_task()["data"]["jobId"]
    assert len(kr.emulator.state.files) == stored
    kr.control.advance(60)
    detail = api.ok("/video/v3/detail", {"taskId": result(api, job)["videoTask"]["taskId"]})
    urls = [detail["videoUrl"], detail["videoThumbnailUrl"], detail["audioUrl"]]
    before = [api.http.get(url).content for url in urls]
    assert [probe(data).format for data in before] == ["mp4", "png", "mp3"]
    snapshot = kr.control.state()
    kr.control.reset()
    assert api.http.get(urls[0]).status_code == 404  # its task is gone, and so are its files
    kr.control.restore(snapshot)
    assert [api.http.get(url).content for url in urls] == before

    task = snapshot["backend"]["videos"][str(job)]
    old_id = "f_oldstyle.mp4"
    snapshot["engine"]["files"][old_id] = {"id": old_id, "content_type": "video/mp4", "created_at": 0,
                                           "owner": "test-token", "recipe_json": '{"kind":"video","duration":1,'
                                           '"width":64,"height":64,"format":"mp4","with_audio":false,"seed":"x"}'}
    task["videoFile"] = old_id
    kr.control.restore(snapshot)
    detail = api.ok("/video/v3/detail", {"taskId": task["taskId"]})
    assert detail["videoUrl"].endswith("/files/" + old_id)
    old = probe(api.http.get(detail["videoUrl"]).content)
    assert old.format == "mp4" and old.width == 64 and not old.has_audio
    assert api.http.get(urls[0]).status_code == 404  # the derived name of a task holding its own ids
