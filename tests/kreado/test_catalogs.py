"""Catalogs: avatars, expression templates, languages and voices, with filters and pages."""
from __future__ import annotations


import pytest

from tests.kreado.conftest import Api

AVATARS = "/avatar/v3/list"


def body_of() -> dict:
    return {"cloneDigitalHuman": 0, "supportTypeId": 100, "pageIndex": 1, "pageSize": 1}


def avatars(api: Api, **body):
    return api.ok(AVATARS, {"cloneDigitalHuman": 0, "supportTypeId": 100, "pageIndex": 1, "pageSize": 100, **body})


def test_photo_avatar_catalog_matches_the_docs_total_and_pages(api: Api) -> None:
    first = avatars(api, pageSize=1)
    assert (first["totalCount"], first["totalPages"], first["pageIndex"], first["pageSize"]) == (68, 68, 1, 1)
    assert first["data"][0]["digitalHumanId"] == 4192 and first["data"][0]["supportTypeId"] == 100
    page = avatars(api, pageSize=30, pageIndex=3)
    assert page["totalPages"] == 3 and len(page["data"]) == 8
    assert avatars(api, pageSize=30, pageIndex=4)["data"] == []  # past the end: empty
    ids = [a["digitalHumanId"] for p in (1, 2, 3) for a in avatars(api, pageSize=30, pageIndex=p)["data"]]
    assert len(set(ids)) == 68


@pytest.mark.emulator(strict=False)  # filters the provider refuses, on purpose
def test_avatar_filters(api: Api) -> None:
    video = avatars(api, supportTypeId=101)
    assert video["totalCount"] == 40 and all(a["supportTypeId"] == 101 for a in video["data"])
    female = avatars(api, tagIds=[211])["totalCount"]
    male = avatars(api, tagIds=[210])["totalCount"]
    assert female + male == 68 and female > 0 and male > 0
    assert avatars(api, tagIds=[210, 211])["totalCount"] == 68  # genders: either
    premium_female = avatars(api, tagIds=[211, 139])["totalCount"]
    assert 0 < premium_female < female  # gender and style: both
    by_area = sum(avatars(api, areaTypeIds=[a])["totalCount"] for a in (140, 141, 142, 143, 144, 145, 146))
    assert by_area == 68
    assert avatars(api, digitalHumanId=4192)["totalCount"] == 1
    assert avatars(api, digitalHumanId=9)["totalCount"] == 0  # 9 is a video avatar
    assert avatars(api, cloneDigitalHuman=1)["totalCount"] == 0  # no clones yet
    assert api.post(AVATARS, {"cloneDigitalHuman": 2, "supportTypeId": 100, "pageIndex": 1, "pageSize": 1})["code"] == "10002"
    assert api.post(AVATARS, {**body_of(), "tagIds": [999]})["code"] == "10002"
    assert api.post(AVATARS, {**body_of(), "areaTypeIds": ["x"]})["code"] == "10002"
    assert api.post(AVATARS, {"cloneDigitalHuman": 0, "supportTypeId": 102, "pageIndex": 1, "pageSize": 1})["code"] == "10002"


def test_avatar_urls_are_real_files(api: Api) -> None:
    photo = avatars(api, pageSize=1)["data"][0]
    video = avatars(api, supportTypeId=101, pageSize=1)["data"][0]
    from emulators.media.probe import probe

    for url, fmt in ((photo["digitalHumanThumbnailUrl"], "jpeg"), (photo["digitalHumanPhotoUrl"], "png"),
                     (video["digitalHumanPreviewVideoUrl"], "mp4")):
        r = api.http.get(url)
        assert r.status_code == 200
        assert probe(r.content).format == fmt


def test_emotion_templates(api: Api) -> None:
    page = api.ok("/video/v3/emoList", {"pageIndex": 1, "pageSize": 1})
    assert (page["totalCount"], page["totalPages"]) == (11, 11)
    assert page["data"][0]["id"] == 6 and page["data"][0]["emoEnDescription"] == "Amazed"
    one = api.ok("/video/v3/emoList", {"id": 3, "pageIndex": 1, "pageSize": 10})
    assert [e["id"] for e in one["data"]] == [3]
    assert api.http.get(page["data"][0]["emoVideoUrl"]).headers["content-type"] == "video/mp4"


def test_languages_with_dialects(api: Api) -> None:
    data = api.get("/voice/v3/getVoiceLanguage")["data"]
    chinese = next(lang for lang in data if lang["language"] == "Chinese")
    dialects = {d["languageId"]: d["languageCityType"] for d in chinese["languageDetails"]}
    assert dialects["1767068435121692686"] == "Chinese (Taiwanese Mandarin, Traditional) - 台湾话22"
    assert len(dialects) >= 3 and len(data) >= 10


def voices(api: Api, **body):
    return api.ok("/voice/v3/getVoiceList", {"pageIndex": 1, "pageSize": 200, "language": "Chinese",
                                             "voiceClone": 0, **body})


def test_voices_for_every_source_and_filters(api: Api) -> None:
    for source in (1, 3, 4, 5, 6, 21):
        page = voices(api, voiceSource=source)
        assert page["totalCount"] > 0 and all(v["voiceSource"] == source for v in page["data"]), source
        english = voices(api, voiceSource=source, language="English")
        assert english["totalCount"] > 0
    males = voices(api, voiceSource=3, gender="male")
    assert all(v["gender"] == "male" for v in males["data"])
    assert males["data"][0]["voiceId"] == "zhida"
    cantonese = voices(api, voiceSource=1, languageCityType="Cantonese")
    assert cantonese["totalCount"] > 0 and all("Cantonese" in v["languageCityType"] for v in cantonese["data"])
    assert voices(api, voiceSource=3, ageGroup="children")["totalCount"] >= 0
    assert api.post("/voice/v3/getVoiceList", {"pageIndex": 1, "pageSize": 1, "language": "Chinese",
                                               "voiceClone": 0})["code"] == "10002"  # voiceSource required
    assert voices(api, voiceClone=1)["totalCount"] == 0
    sample = api.http.get(males["data"][0]["defaultVoiceUrl"])
    assert sample.headers["content-type"] == "audio/mpeg" and len(sample.content) > 1000
