"""POST /api/v1/tts and GET /api/v1/tts/{speechId}: billing, limits, states, real audio."""
from __future__ import annotations

import io
import wave

import av
import pytest

from emulators.media.audio import SAMPLE_RATE
from tests.voiceclone.conftest import ARIA, MEI, PRIVATE_SYSTEM, Api


def test_tts_charges_one_credit_per_utf8_byte_and_answers_processing(api: Api) -> None:
    before = api.credits()["credits"]
    r = api.tts("Hello, this is a test speech.")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert body["creditsUsed"] == 29 == body["speech"]["creditsUsed"]
    assert body["speech"]["status"] == "PROCESSING"
    assert body["speech"]["format"] == "mp3"
    assert body["speechId"] == body["speech"]["id"]
    assert api.credits()["credits"] == before - 29


def test_cjk_costs_three_credits_per_character(api: Api) -> None:
    before = api.credits()["credits"]
    r = api.tts("你好世界", voice=MEI)
    assert r.json()["creditsUsed"] == 12
    assert api.credits()["credits"] == before - 12


@pytest.mark.parametrize(("text", "ok"), [("a" * 5000, True), ("a" * 5001, False),
                                           ("你" * 1666 + "ab", True), ("你" * 1667, False)])
def test_text_limit_is_5000_utf8_bytes(api: Api, text: str, ok: bool) -> None:
    before = api.credits()["credits"]
    r = api.tts(text)
    if ok:
        assert r.status_code == 200
        assert api.credits()["credits"] == before - len(text.encode())
    else:
        assert r.status_code == 400
        assert r.json() == {"code": "INVALID_PARAMETERS", "error": "Text exceeds maximum length of 5000 bytes"}
        assert api.credits()["credits"] == before


@pytest.mark.emulator(strict=False)  # bodies the provider refuses, on purpose
@pytest.mark.parametrize("body", [
    {}, {"voiceId": ARIA}, {"text": "", "voiceId": ARIA}, {"text": 5, "voiceId": ARIA},
    {"text": "hi"}, {"text": "hi", "voiceId": 7}, {"text": "hi", "voiceId": ARIA, "format": "flac"},
    [], "text", None,
])
def test_invalid_bodies_get_invalid_parameters(api: Api, body: object) -> None:
    r = api.post("/api/v1/tts", json=body)
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_PARAMETERS"
    assert set(r.json()) == {"code", "error"}


@pytest.mark.emulator(strict=False)  # bodies that are not JSON, on purpose
def test_malformed_json_gets_invalid_parameters(api: Api) -> None:
    r = api.post("/api/v1/tts", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"
    r = api.post("/api/v1/tts", content=b"\xff\xfe\x00", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"


@pytest.mark.parametrize("voice", ["nope", PRIVATE_SYSTEM])
def test_unknown_or_private_voice_is_not_found_and_free(api: Api, voice: str) -> None:
    before = api.credits()["credits"]
    r = api.tts("hello", voice=voice)
    assert r.status_code == 404
    assert r.json() == {"code": "NOT_FOUND", "error": "Voice not found or not available"}
    assert api.credits()["credits"] == before


def test_too_few_credits_is_429_with_credits_and_need(vc, api: Api) -> None:
    vc.control.set_account("test-token", regular=10, permanent=0)
    r = api.tts("Hello, this is a test speech.")
    assert r.status_code == 429
    assert r.json() == {"error": "Insufficient credits", "code": "USAGE_LIMIT_EXCEEDED",
                        "credits": 10, "needCredits": 29}
    assert api.credits()["credits"] == 10


def test_exact_balance_is_enough(vc, api: Api) -> None:
    vc.control.set_account("test-token", regular=3, permanent=2)
    assert api.tts("hello").status_code == 200
    assert api.credits()["credits"] == 0
    assert api.tts("x").status_code == 429


def test_speech_moves_from_processing_to_completed_on_the_clock(vc, api: Api) -> None:
    speech_id = api.tts("Hello there").json()["speechId"]
    first = api.speech(speech_id)
    assert first["status"] == "PROCESSING" and first["audioUrl"] is None and first["duration"] is None
    assert first["voice"] == {"id": ARIA, "title": "Aria", "coverImage": "https://example.com/covers/aria.jpg",
                              "type": "SYSTEM"}
    vc.control.advance(1)
    assert api.speech(speech_id)["status"] == "PROCESSING"
    vc.control.advance(60)
    done = api.speech(speech_id)
    assert done["status"] == "COMPLETED"
    assert done["audioUrl"].endswith(".mp3")
    assert done["duration"] > 0
    assert done["updatedAt"] > done["createdAt"]


def test_fail_marker_fails_the_speech_and_refunds(vc, api: Api) -> None:
    before = api.credits()
    speech_id = api.tts("please EMULATOR_FAIL now").json()["speechId"]
    assert api.credits()["credits"] == before["credits"] - 24
    vc.control.advance(60)
    failed = api.speech(speech_id)
    assert failed["status"] == "FAILED" and failed["audioUrl"] is None
    assert api.credits() == before


def test_forcing_a_job_through_the_control_api(vc, api: Api) -> None:
    before = api.credits()["credits"]
    speech_id = api.tts("force me").json()["speechId"]
    vc.control.force_job(speech_id, "FAILED")
    assert api.speech(speech_id)["status"] == "FAILED"
    assert api.credits()["credits"] == before  # refunded at once
    vc.control.advance(3600)
    assert api.speech(speech_id)["status"] == "FAILED"  # pinned


def test_another_tokens_speech_is_not_found(vc, api: Api) -> None:
    speech_id = api.tts("mine").json()["speechId"]
    other = Api(vc, "starter-token")
    r = other.get(f"/api/v1/tts/{speech_id}")
    assert r.status_code == 404
    assert r.json() == {"code": "NOT_FOUND", "error": "Speech not found or access denied"}
    assert api.get("/api/v1/tts/doesnotexist").status_code == 404


def _completed_audio(vc, api: Api, text: str, fmt: str) -> bytes:
    speech_id = api.tts(text, fmt=fmt).json()["speechId"]
    vc.control.advance(60)
    speech = api.speech(speech_id)
    assert speech["format"] == fmt
    r = api.http.get(speech["audioUrl"])
    assert r.status_code == 200
    return r.content


def test_wav_is_exact_and_grows_with_text(vc, api: Api) -> None:
    short = _completed_audio(vc, api, "Hi.", "wav")
    long = _completed_audio(vc, api, "Hi. " * 40, "wav")
    frames = []
    for data in (short, long):
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
            frames.append(w.getnframes())
    assert frames[1] > 10 * frames[0]


def test_pcm_length_matches_reported_duration(vc, api: Api) -> None:
    speech_id = api.tts("raw samples please", fmt="pcm").json()["speechId"]
    vc.control.advance(60)
    speech = api.speech(speech_id)
    data = api.http.get(speech["audioUrl"]).content
    assert len(data) % 2 == 0
    assert abs(len(data) / 2 / SAMPLE_RATE - speech["duration"]) < 0.01
    assert max(abs(int.from_bytes(data[i:i + 2], "little", signed=True)) for i in range(0, len(data), 64)) > 1000


@pytest.mark.parametrize(("fmt", "container", "codec"), [("mp3", "mp3", "mp3"), ("opus", "ogg", "opus")])
def test_compressed_formats_open_in_ffmpeg(vc, api: Api, fmt: str, container: str, codec: str) -> None:
    data = _completed_audio(vc, api, "A sentence that a media tool should open.", fmt)
    with av.open(io.BytesIO(data)) as f:
        assert container in f.format.name
        stream = f.streams.audio[0]
        assert stream.codec_context.name.startswith(codec)
        decoded = sum(frame.samples for frame in f.decode(stream)) / stream.codec_context.sample_rate
    assert decoded > 1.0
    if fmt == "opus":
        assert data[:4] == b"OggS" and b"OpusHead" in data[:100]


def test_usage_count_grows_with_each_tts(vc, api: Api) -> None:
    def usage() -> int:
        voices = api.get("/api/v1/voices", params={"type": "SYSTEM"}).json()["voices"]
        return next(v["usageCount"] for v in voices if v["id"] == ARIA)

    start = usage()
    api.tts("one")
    api.tts("two")
    assert usage() == start + 2
