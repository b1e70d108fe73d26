"""Custom photo uploads and instant avatar clones: jobs that create avatars."""
from __future__ import annotations


import pytest

from emulators.media.probe import probe
from tests.kreado.conftest import BAD, DOC_PHOTO, DOC_VIDEO, Api

CLONE = "https://aigc-cdn.kreadoai.com/digitalhuman/upload_simple_clone_video/2024/12/a3389d0323cb4f948a9d68f71062efeb.mp4"


def upload_photo(api: Api, url: str = DOC_PHOTO) -> dict:
    return api.post("/avatar/v3/uploadAvatar", {"fileUrl": url})


def photo_status(api: Api, job) -> dict:
    return api.ok("/avatar/v3/getUploadCustomAvatar", {"jobId": job})


def clone_status(api: Api, job) -> dict:
    return api.ok("/video/v3/getUploadCloneVideoStatus", {"jobId": job})


def listed(api: Api, clone: int, kind: int) -> list[int]:
    page = api.ok("/avatar/v3/list", {"cloneDigitalHuman": clone, "supportTypeId": kind, "pageIndex": 1,
                                      "pageSize": 500})
    return [a["digitalHumanId"] for a in page["data"]]


def test_photo_upload_becomes_a_usable_avatar(api: Api, kr) -> None:
    r = upload_photo(api)
    assert r["code"] == "200"
    job = r["data"]["jobId"]
    assert photo_status(api, str(job)) == {"status": 1, "digitalHuman": None}
    kr.control.advance(2)
    running = photo_status(api, job)
    assert running["status"] == 2
    human = running["digitalHuman"]
    assert human["supportTypeId"] == 100 and human["digitalHumanId"] == 4193
    assert human["digitalHumanId"] not in listed(api, 0, 100)  # not usable before it passed
    assert api.system_task(avatar=human["digitalHumanId"])["code"] == "10020"
    kr.control.advance(5)
    assert photo_status(api, job)["status"] == 3
    assert listed(api, 0, 100)[0] == 4193
    assert probe(api.http.get(human["digitalHumanPhotoUrl"]).content).format == "jpeg"
    assert api.system_task(avatar=4193)["code"] == "200"
    # only its owner sees or uses it
    other = "61FDB6A8A14FE77EE2DF893058572EE3"
    assert api.system_task(avatar=4193, token=other)["code"] == "10020"
    assert api.post("/avatar/v3/getUploadCustomAvatar", {"jobId": job}, other)["code"] == "10009"


def test_photo_failing_the_face_check(api: Api, kr) -> None:
    job = upload_photo(api, "https://example.com/EMULATOR_FAIL/face.png")["data"]["jobId"]
    kr.control.advance(10)
    assert photo_status(api, job) == {"status": 4, "digitalHuman": None}
    assert 4193 not in listed(api, 0, 100)
    assert api.system_task(avatar=4193)["code"] == "10020"
    job = upload_photo(api, "https://example.com/EMULATOR_TIMEOUT.webp")["data"]["jobId"]
    kr.control.advance(10)
    assert photo_status(api, job)["status"] == 5


@pytest.mark.emulator(strict=False)  # URLs the provider refuses, on purpose
def test_photo_rules(api: Api) -> None:
    assert upload_photo(api, BAD + "photo-too-large.jpg")["code"] == "10007"
    assert upload_photo(api, BAD + "photo-too-small.jpg")["code"] == "10008"
    assert upload_photo(api, BAD + "photo-too-wide.png")["code"] == "10008"
    assert upload_photo(api, BAD + "photo-is-gif.jpg")["code"] == "10008"
    assert upload_photo(api, BAD + "missing.jpg")["code"] == "10006"
    assert upload_photo(api, "https://example.com/doc.pdf")["code"] == "10008"
    assert upload_photo(api, "https://example.com/照片.jpg")["code"] == "10002"
    assert upload_photo(api, "")["code"] == "10002"
    assert api.post("/avatar/v3/uploadAvatar", {"fileUrl": 5})["code"] == "10002"
    assert api.post("/avatar/v3/getUploadCustomAvatar", {"jobId": 1862021310686838786})["code"] == "10009"
    for ext in ("jpg", "jpeg", "png", "webp"):
        assert upload_photo(api, f"https://example.com/me.{ext}")["code"] == "200", ext


def test_clone_upload_becomes_a_clone_avatar(api: Api, kr) -> None:
    api.next_second()
    r = api.post("/video/v3/uploadCloneVideo", {"videoUrl": CLONE})
    assert r["code"] == "200"
    job = r["data"]["jobId"]
    assert clone_status(api, job) == {"status": 1, "digitalHuman": None}
    kr.control.advance(6)
    assert clone_status(api, job)["status"] == 2
    kr.control.advance(60)
    done = clone_status(api, str(job))
    assert done["status"] == 3
    human = done["digitalHuman"]
    preview = probe(api.http.get(human["digitalHumanPreviewVideoUrl"]).content)
    assert preview.format == "mp4" and preview.height > preview.width  # the source is 1080x1920
    assert listed(api, 1, 101) == [human["digitalHumanId"]]
    assert human["digitalHumanId"] not in listed(api, 0, 101)
    assert api.system_task(avatar=human["digitalHumanId"])["code"] == "200"
    # a clone job is not a photo job
    assert api.post("/avatar/v3/getUploadCustomAvatar", {"jobId": job})["code"] == "10009"


def test_clone_rules_and_failure(api: Api, kr) -> None:
    def clone(url: str) -> dict:
        api.next_second()
        return api.post("/video/v3/uploadCloneVideo", {"videoUrl": url})

    assert clone(BAD + "video-too-long.mp4")["code"] == "10008"  # over 10 minutes
    assert clone(BAD + "video-low-res.mp4")["code"] == "10008"  # under 360p
    assert clone(BAD + "video-too-large.mp4")["code"] == "10007"
    assert clone(BAD + "video-too-short.mp4")["code"] == "200"  # 5 s is within "5 seconds to 10 minutes"
    assert clone(BAD + "missing.mp4")["code"] == "10005"
    job = clone("https://example.com/EMULATOR_FAIL.mp4")["data"]["jobId"]
    kr.control.advance(70)
    assert clone_status(api, job) == {"status": 4, "digitalHuman": None}
    job = clone("https://example.com/EMULATOR_TIMEOUT.mov")["data"]["jobId"]
    kr.control.advance(70)
    assert clone_status(api, job) == {"status": 5, "digitalHuman": None}
    assert len(listed(api, 1, 101)) == 1  # only the 5 s one
    assert clone(DOC_VIDEO)["code"] == "200"
