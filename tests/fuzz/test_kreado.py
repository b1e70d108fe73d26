"""KreadoAI under fuzzing: every V3 endpoint (errors are HTTP 200 with a code in the body, so
every answer whose code is not "200" must leave the state as it was)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.fuzz.conftest import closing  # noqa: F401 (fixture)
from tests.fuzz.harness import Fuzzer, body_code_error, fuzz_operation, sweep_operation
from tests.fuzz.mutations import Auth, Spec, filled
from tests.fuzz.wire import Wire, get, json_of, post_json

P = "/apis/open"
DOC_VIDEO = ("https://aigc-cdn.kreadoai.com/digitalhuman/upload_simple_clone_video/2024/11/"
             "ea634216760c4d87a0709a7d00eddc9e.mp4")
DOC_AUDIO = "https://aigc-cdn.kreadoai.com/digitalhuman/audio/2024/11/2b150387595c4efba35db553740cb47a.mp3"
DOC_SUBTITLE_VIDEO = "https://aigc-cdn.kreadoai.com/web_static/image/videoSubtitleRemove/sy.mp4"
DOC_PHOTO = "https://cdn.pixabay.com/video/2021/06/24/78732-567321517_medium.jpg"
MANDARIN = "1767068435675340832"
AUTH = Auth(lambda token: [(b"apitoken", token)], ("poor-token", "expired-token"))
IDS: dict[str, Any] = {}
PAGE = {"pageIndex": 1, "pageSize": 10}


TOKEN = [(b"apitoken", b"test-token")]


def readers(wire: Wire, response: Any) -> list[Wire]:
    """What shows a successful case's task, avatar or speech, an hour later."""
    out = [post_json(P + "/video/v3/list", TOKEN, PAGE), get(P + "/user/v3/getInfo", TOKEN),
           post_json(P + "/avatar/v3/list", TOKEN, {"cloneDigitalHuman": 1, "supportTypeId": 100, **PAGE}),
           post_json(P + "/avatar/v3/list", TOKEN, {"cloneDigitalHuman": 1, "supportTypeId": 101, **PAGE})]
    body = json_of(response)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and data.get("jobId") is not None:
        for path in ("/video/v3/getLipVideoResult", "/avatar/v3/getUploadCustomAvatar",
                     "/video/v3/getUploadCloneVideoStatus", "/subtitle_removal/v3/taskResult"):
            out.append(post_json(P + path, TOKEN, {"jobId": data["jobId"]}))
    return out


def specs() -> list[Spec]:
    def post(path: str, body: dict[str, Any], examples: int = 14) -> Spec:
        return Spec("POST", P + path, "json", json=body, examples=examples, label=path)
    return [
        post("/avatar/v3/list", {"cloneDigitalHuman": 0, "supportTypeId": 101, "tagIds": [211, 137],
                                 "areaTypeIds": [140], **PAGE}, 18),
        post("/avatar/v3/uploadAvatar", {"fileUrl": DOC_PHOTO}, 18),
        post("/avatar/v3/getUploadCustomAvatar", {"jobId": "@photo_job"}),
        post("/video/v3/submitLipTask", {"taskName": "t", "videoUrl": DOC_VIDEO, "audioUrl": "@tts_url",
                                         "audioId": "@audio_id"}, 28),
        post("/video/v3/submitSystemLipTask", {
            "taskName": "t", "videoRatio": 2, "audio": {"audioUrl": DOC_AUDIO},
            "digitalHuman": {"digitalHumanId": 9, "mask": 1, "x": 10, "y": -10, "resize": "1.5", "templateId": 6},
            "background": {"type": 303, "color": "#ffffff", "backgroundElements": [
                {"elementType": 330, "fileUrl": DOC_PHOTO, "resize": "0.5"}]}}, 35),
        post("/video/v3/getLipVideoResult", {"jobId": "@video_job"}),
        post("/video/v3/list", {"status": 3, **PAGE}),
        post("/video/v3/detail", {"taskId": "@video_task"}),
        post("/video/v3/emoList", {"id": 6, **PAGE}, 10),
        post("/video/v3/uploadCloneVideo", {"videoUrl": DOC_VIDEO}, 18),
        post("/video/v3/getUploadCloneVideoStatus", {"jobId": "@clone_job"}),
        Spec("GET", P + "/user/v3/getInfo", examples=8, label="/user/v3/getInfo"),
        Spec("GET", P + "/voice/v3/getVoiceLanguage", examples=8, label="/voice/v3/getVoiceLanguage"),
        post("/voice/v3/getVoiceList", {"language": "Chinese", "languageCityType": "", "gender": "male",
                                        "ageGroup": "young", "voiceClone": 0, "voiceSource": 3, **PAGE}),
        post("/voice/v3/textToSpeech", {"languageId": MANDARIN, "content": "Hello there", "voiceId": "zhida",
                                        "voiceSource": 3, "voiceClone": 0, "volume": 50, "prosodyRate": 0,
                                        "prosodyPitch": 0}, 28),
        post("/subtitle_removal/v3/submitTask", {"taskName": "sub", "srcFileUrl": DOC_SUBTITLE_VIDEO,
                                                 "customRectAreaList": [{"lt_x": 0, "lt_y": 0, "rb_x": 10, "rb_y": 5}]},
             22),
        post("/subtitle_removal/v3/taskResult", {"jobId": "@subtitle_job"}),
        post("/subtitle_removal/v3/detail", {"jobId": "@subtitle_job"}, 8),
        Spec("GET", "/files/{file_id}", params=(("file_id", "avatar-1-cover.jpeg"),), examples=8),
        Spec("HEAD", "/files/{file_id}", params=(("file_id", "emo-6.mp4"),), examples=8),
    ]


@pytest.fixture(scope="module")
def fuzzer(closing: list[Fuzzer]) -> Iterator[Fuzzer]:
    f = Fuzzer("kreado", is_error=body_code_error("200"), readers=readers)
    closing.append(f)

    def ok(path: str, body: Any) -> Any:
        f.control.advance(1.5)  # a fresh per-second rate-limit window
        r = f.client.post(P + path, json=body, headers={"apiToken": "test-token"})
        assert r.status_code == 200 and r.json()["code"] == "200", r.text
        return r.json()["data"]

    def round_of_tasks() -> None:
        tts = ok("/voice/v3/textToSpeech", {"languageId": MANDARIN, "content": "Hello there", "voiceId": "zhida",
                                            "voiceSource": 3, "voiceClone": 0})
        IDS["audio_id"], IDS["tts_url"] = tts["textToSpeech"]["fileId"], tts["textToSpeech"]["audioUrl"]
        IDS["photo_job"] = ok("/avatar/v3/uploadAvatar", {"fileUrl": DOC_PHOTO})["jobId"]
        IDS["clone_job"] = ok("/video/v3/uploadCloneVideo", {"videoUrl": DOC_VIDEO})["jobId"]
        IDS["video_job"] = ok("/video/v3/submitLipTask", {"taskName": "t", "videoUrl": DOC_VIDEO,
                                                          "audioUrl": DOC_AUDIO})["jobId"]
        IDS["video_task"] = ok("/video/v3/getLipVideoResult", {"jobId": IDS["video_job"]})["videoTask"]["taskId"]
        IDS["subtitle_job"] = ok("/subtitle_removal/v3/submitTask", {"taskName": "s", "srcFileUrl": DOC_SUBTITLE_VIDEO})["jobId"]

    round_of_tasks()
    f.control.advance(7200)  # the first round finished and settled
    round_of_tasks()  # the second still running
    f.freeze_baseline()
    yield f


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.id)
def test_kreado_fuzz(fuzzer: Fuzzer, spec: Spec) -> None:
    spec = filled(spec, IDS)
    fuzz_operation(fuzzer, spec, AUTH)


@pytest.mark.parametrize("spec", [s for s in specs() if s.body != "none" or s.query], ids=lambda s: s.id)
def test_kreado_sweep(fuzzer: Fuzzer, spec: Spec) -> None:
    """Every field, each with the values most likely to break it (mutations.SWEEP_*)."""
    spec = filled(spec, IDS)
    sweep_operation(fuzzer, spec, AUTH)
