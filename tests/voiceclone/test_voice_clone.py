"""POST /api/v1/voice-clone: content-checked uploads, size limit, metadata, billing, processing."""
from __future__ import annotations

import io
import json

import pytest

from emulators.media.audio import make_test_audio
from emulators.media.video import make_video
from tests.voiceclone.conftest import Api

MB20 = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def wav3() -> bytes:
    return make_test_audio(3.0, "wav")


def test_clone_charges_1000_and_measures_duration(vc, api: Api, wav3: bytes) -> None:
    before = api.credits()["credits"]
    r = api.clone(wav3, title="My Voice Clone", description="A custom voice description",
                  coverImage="https://example.com/cover.jpg", tags='["male","young"]')
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["voiceId"] == body["voice"]["id"]
    voice = body["voice"]
    assert voice["title"] == "My Voice Clone"
    assert voice["description"] == "A custom voice description"
    assert voice["coverImage"] == "https://example.com/cover.jpg"
    assert voice["tags"] == ["male", "young"]
    assert voice["duration"] == pytest.approx(3.0, abs=0.1)
    assert api.credits()["credits"] == before - 1000
    served = api.http.get(voice["audioUrl"])
    assert served.status_code == 200 and served.content == wav3


@pytest.mark.parametrize(("fmt", "name"), [("mp3", "x.mp3"), ("wav", "x.wav")])
def test_format_is_judged_by_content_not_name(api: Api, fmt: str, name: str) -> None:
    data = make_test_audio(2.0, fmt)
    assert api.clone(data, filename="misleading.txt", ctype="text/plain").status_code == 200
    r = api.clone(b"this is text, not audio" * 10, filename=name, ctype="audio/mpeg")
    assert r.status_code == 400
    assert r.json() == {"code": "INVALID_PARAMETERS", "error": "Invalid file type. Supported formats: MP3, WAV, WebM"}


def test_webm_is_accepted_and_other_media_refused(api: Api) -> None:
    webm = make_video(2.0, 64, 64, fmt="webm", with_audio=True)
    r = api.clone(webm, filename="v.webm", ctype="audio/webm")
    assert r.status_code == 200, r.text
    assert r.json()["voice"]["duration"] == pytest.approx(2.0, abs=0.2)
    for data in (make_test_audio(1.0, "opus"), make_test_audio(1.0, "flac"), make_video(1.0, 64, 64)):
        r = api.clone(data)
        assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"


def test_truncated_audio_header_is_refused(api: Api) -> None:
    r = api.clone(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"


def _wav_of_size(size: int) -> bytes:
    head = make_test_audio(1.0, "wav")
    return head + b"\x00" * (size - len(head))


def test_20mb_is_accepted_and_one_byte_more_is_not(api: Api) -> None:
    r = api.clone(_wav_of_size(MB20))
    assert r.status_code == 200, r.text
    r = api.clone(_wav_of_size(MB20 + 1))
    assert r.status_code == 400
    assert r.json() == {"code": "INVALID_PARAMETERS", "error": "File size exceeds 20MB limit"}


def test_far_too_large_body_is_refused_without_being_kept(vc, api: Api) -> None:
    before = api.credits()["credits"]
    blobs_before = sum(1 for p in vc.emulator.blobs.root.rglob("*") if p.is_file())
    r = api.clone(_wav_of_size(MB20 + 3 * 1024 * 1024))
    assert r.status_code == 400 and r.json()["error"] == "File size exceeds 20MB limit"
    assert api.credits()["credits"] == before
    assert sum(1 for p in vc.emulator.blobs.root.rglob("*") if p.is_file()) == blobs_before


@pytest.mark.emulator(strict=False)  # forms without the file, on purpose
def test_missing_or_non_file_voice(api: Api) -> None:
    r = api.post("/api/v1/voice-clone", data={"title": "x"}, files={"other": ("a", b"x")})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"
    r = api.post("/api/v1/voice-clone", json={"voice": "x"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"
    r = api.post("/api/v1/voice-clone", content=b"--xx\r\nbroken", headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"


def test_title_is_generated_when_absent(api: Api, wav3: bytes) -> None:
    first = api.clone(wav3).json()["voice"]["title"]
    second = api.clone(wav3).json()["voice"]["title"]
    assert first and second and first != second


@pytest.mark.emulator(strict=False)  # one past the limit, on purpose
def test_description_limit_is_500(api: Api, wav3: bytes) -> None:
    assert api.clone(wav3, description="d" * 500).status_code == 200
    r = api.clone(wav3, description="d" * 501)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"


@pytest.mark.parametrize(("raw", "tags"), [
    ('["male","energetic"]', ["male", "energetic"]),
    ("male, young ,energetic", ["male", "young", "energetic"]),
    ("solo", ["solo"]),
])
def test_tags_as_json_array_or_comma_list(api: Api, wav3: bytes, raw: str, tags: list[str]) -> None:
    assert api.clone(wav3, tags=raw).json()["voice"]["tags"] == tags


@pytest.mark.parametrize("raw", [
    '["unclosed"', "[1, 2]", '[{"a": 1}]',
    "[" * 1000, "[" * 100 + "]" * 100, "[" * 5000 + "]" * 5000,  # nesting: too deep to parse, or not strings
    "[" + "9" * 5000 + "]",  # a number Python will not convert (over 4,300 digits)
    '["\\ud800"]', '["ok", "a\\udfffb"]',  # lone surrogates: not text, and no UTF-8 for the answer
])
def test_bad_tags_are_invalid(vc, api: Api, wav3: bytes, raw: str) -> None:
    before = api.credits()
    r = api.clone(wav3, tags=raw)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS", r.text
    assert "tags" in r.json()["error"]
    assert api.credits() == before  # refused before anything was charged or kept
    assert vc.control.state()["provider"] == "voiceclone"  # the state still serializes


def test_poor_account_gets_usage_limit_exceeded(vc, wav3: bytes) -> None:
    poor = Api(vc, "poor-token")
    r = poor.clone(wav3)
    assert r.status_code == 429
    assert r.json() == {"error": "Insufficient credits", "code": "USAGE_LIMIT_EXCEEDED", "credits": 0,
                        "needCredits": 1000}


def test_cloned_voice_processes_then_serves_tts(vc, api: Api, wav3: bytes) -> None:
    voice = api.clone(wav3, title="Mine").json()["voice"]
    assert voice["status"] == "PROCESSING"
    r = api.tts("too early", voice=voice["id"])
    assert r.status_code == 404  # not COMPLETED yet
    vc.control.advance(30)
    listed = api.get("/api/v1/voices", params={"type": "USER"}).json()["voices"]
    assert [v["status"] for v in listed if v["id"] == voice["id"]] == ["COMPLETED"]
    assert api.tts("now it works", voice=voice["id"]).status_code == 200
    other = Api(vc, "starter-token")
    assert other.tts("not mine", voice=voice["id"]).status_code == 404


def test_failed_clone_is_refunded(vc, api: Api, wav3: bytes) -> None:
    before = api.credits()["credits"]
    voice = api.clone(wav3, title="EMULATOR_FAIL voice").json()["voice"]
    assert api.credits()["credits"] == before - 1000
    vc.control.advance(30)
    listed = api.get("/api/v1/voices", params={"status": "FAILED"}).json()["voices"]
    assert [v["id"] for v in listed] == [voice["id"]]
    assert api.credits()["credits"] == before


def test_clone_request_fields_from_the_docs_python_example(api: Api, wav3: bytes) -> None:
    r = api.clone(wav3, title="My Voice Clone", description="A custom voice",
                  tags=json.dumps(["male", "energetic"]))
    assert r.status_code == 200
    assert r.json()["voice"]["tags"] == ["male", "energetic"]
    assert io.BytesIO(api.http.get(r.json()["voice"]["audioUrl"]).content).read(4) == b"RIFF"
