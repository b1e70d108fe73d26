"""Job ids: Java Longs beyond 2^53 sent as JSON numbers (as the docs show them), which a client
whose numbers are doubles (JavaScript) cannot keep; the `idsAsStrings` switch sends them as
strings of digits, so such clients can be tested too. Queries take either form, always."""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from tests.kreado.conftest import DOC_PHOTO, DOC_VIDEO, Api

CLONE = "https://aigc-cdn.kreadoai.com/digitalhuman/upload_simple_clone_video/2024/12/a3389d0323cb4f948a9d68f71062efeb.mp4"
RAW_JOB_ID = re.compile(r'"jobId":("?)([0-9]+)("?)')


def javascript_parse(text: str) -> Any:
    """JSON.parse: every number becomes a double."""
    return json.loads(text, parse_int=float)


def _submissions(api: Api) -> dict[str, tuple[Callable[[], Any], str]]:
    """Each submit endpoint (a fresh call) and the query that polls its job."""
    def submit(path: str, body: dict[str, Any]) -> Callable[[], Any]:
        def call() -> Any:
            api.next_second()
            return api.raw(path, body)
        return call

    return {
        "photo": (submit("/avatar/v3/uploadAvatar", {"fileUrl": DOC_PHOTO}), "/avatar/v3/getUploadCustomAvatar"),
        "clone": (submit("/video/v3/uploadCloneVideo", {"videoUrl": CLONE}), "/video/v3/getUploadCloneVideoStatus"),
        "lip": (submit("/video/v3/submitLipTask", {"taskName": "t", "videoUrl": DOC_VIDEO,
                                                   "audioUrl": DOC_VIDEO.replace(".mp4", ".mp3")}),
                "/video/v3/getLipVideoResult"),
        "system": (submit("/video/v3/submitSystemLipTask", {
            "taskName": "t", "videoRatio": 1, "digitalHuman": {"digitalHumanId": 9},
            "audio": {"audioUrl": "https://example.com/a.mp3"}}), "/video/v3/getLipVideoResult"),
        "subtitle": (submit("/subtitle_removal/v3/submitTask", {"taskName": "s", "srcFileUrl": DOC_VIDEO}),
                     "/subtitle_removal/v3/taskResult"),
    }


def test_job_ids_are_json_numbers_beyond_2_53_by_default(api: Api) -> None:
    assert api.em.control.settings() == {"idsAsStrings": False}
    for kind, (submit, query) in _submissions(api).items():
        r = submit()
        assert r.json()["code"] == "200", (kind, r.text)
        quote, digits, _ = RAW_JOB_ID.search(r.text).groups()
        assert quote == "" and len(digits) == 19, (kind, r.text)  # a bare JSON number, as in the docs
        job = r.json()["data"]["jobId"]
        assert isinstance(job, int) and job > 2**53 and str(job) == digits
        # what a JavaScript client holds is another number: it can never poll its task
        lost = javascript_parse(r.text)["data"]["jobId"]
        assert int(lost) != job
        assert api.post(query, {"jobId": int(lost)})["code"] == "10009", kind
        # an exact client polls with the number or its digits alike
        assert api.ok(query, {"jobId": job}) == api.ok(query, {"jobId": str(job)})
    result = api.http.post("/apis/open/subtitle_removal/v3/taskResult", json={"jobId": job},
                           headers=api.headers())
    assert RAW_JOB_ID.search(result.text).group(1) == ""


def test_ids_as_strings_lets_a_javascript_client_poll(api: Api, kr) -> None:
    assert kr.control.set_settings(idsAsStrings=True) == {"idsAsStrings": True}
    for kind, (submit, query) in _submissions(api).items():
        r = submit()
        quote, digits, end = RAW_JOB_ID.search(r.text).groups()
        assert quote == end == '"' and len(digits) == 19, (kind, r.text)
        job = javascript_parse(r.text)["data"]["jobId"]
        assert job == digits  # exact, even through JSON.parse
        polled = api.http.post("/apis/open" + query, json={"jobId": job}, headers=api.headers())
        assert javascript_parse(polled.text)["code"] == "200", (kind, polled.text)
        assert api.ok(query, {"jobId": int(job)}) == api.ok(query, {"jobId": job})  # numbers still work
        if kind == "subtitle":
            assert api.ok(query, {"jobId": job})["jobId"] == job  # the result carries it as a string too
    # the other ids are Java Integers, far below 2^53: they stay numbers
    tts = api.tts("Numbers stay numbers.")["data"]
    assert isinstance(tts["textToSpeech"]["fileId"], int)
    listed = api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 1})["data"][0]
    assert isinstance(listed["taskId"], int)
    # off again: numbers again; a reset forgets the switch
    kr.control.set_settings(idsAsStrings=False)
    assert isinstance(_submissions(api)["photo"][0]().json()["data"]["jobId"], int)
    kr.control.set_settings(idsAsStrings=True)
    kr.control.reset()
    assert kr.control.settings() == {"idsAsStrings": False}


def test_ids_as_strings_survives_a_state_round_trip(api: Api, kr) -> None:
    kr.control.set_settings(idsAsStrings=True)
    state = kr.control.state()
    kr.control.reset()
    kr.control.restore(state)
    assert kr.control.settings() == {"idsAsStrings": True}
    assert isinstance(_submissions(api)["photo"][0]().json()["data"]["jobId"], str)


def test_settings_are_validated(api: Api) -> None:
    for body in ({"idsAsString": True}, {"idsAsStrings": "yes"}, {"idsAsStrings": 1}):
        r = api.http.put("/_emulator/settings", json=body)
        assert r.status_code == 400, body
    assert api.em.control.settings() == {"idsAsStrings": False}
