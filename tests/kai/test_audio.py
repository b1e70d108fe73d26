"""POST /api/v1/audio/transcriptions: validation by content, five formats, real durations."""
from __future__ import annotations

import re
from typing import Any

import pytest

from emulators.media.audio import make_test_audio, synthesize
from emulators.media.probe import probe
from emulators.media.video import make_video
from tests.kai import builders as b
from tests.kai.conftest import AUDIO, Api, assert_error

KNOWN = "Der Patient berichtet über anhaltende Kopfschmerzen seit zwei Wochen."
KNOWN_EN = "Hello, this is a test of the kai transcription endpoint."


@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg", "flac", "m4a"])
def test_fixture_audio_is_transcribed_to_its_text(api: Api, fmt: str) -> None:
    r = api.transcribe(synthesize(KNOWN, fmt), f"consult.{fmt}", model="whisper-1", language="de")
    assert r.status_code == 200, r.text
    assert r.json() == {"text": KNOWN}


def test_docs_example_fields(api: Api) -> None:
    r = api.transcribe(synthesize(KNOWN, "mp3"), "x.mp3", model="", language="de",
                       prompt="This is a medical consultation.", response_format="json", temperature="0")
    assert r.status_code == 200 and r.json()["text"] == KNOWN
    assert r.headers["content-type"].startswith("application/json")


def _times(body: str, sep: str) -> list[tuple[float, float]]:
    out = []
    for a, b in re.findall(rf"(\d\d:\d\d:\d\d{sep}\d\d\d) --> (\d\d:\d\d:\d\d{sep}\d\d\d)", body):
        out.append(tuple(int(x[:2]) * 3600 + int(x[3:5]) * 60 + int(x[6:8]) + int(x[9:]) / 1000 for x in (a, b)))
    return out  # type: ignore[return-value]


def test_all_formats_agree_with_the_real_duration(api: Api) -> None:
    audio = make_test_audio(7.5, "wav")
    duration = probe(audio).duration
    bodies = {f: api.transcribe(audio, response_format=f) for f in ("json", "text", "srt", "verbose_json", "vtt")}
    for f, r in bodies.items():
        assert r.status_code == 200, (f, r.text)
    text = bodies["json"].json()["text"]
    assert text and bodies["text"].text == text + "\n"
    assert bodies["text"].headers["content-type"].startswith("text/plain")
    assert bodies["srt"].headers["content-type"].startswith("text/plain")
    assert bodies["vtt"].headers["content-type"].startswith("text/vtt")
    verbose = bodies["verbose_json"].json()
    assert verbose["task"] == "transcribe" and verbose["language"] == "english"
    assert verbose["duration"] == pytest.approx(duration, abs=0.01) and verbose["text"] == text
    segs = verbose["segments"]
    assert segs[0]["start"] == 0 and segs[-1]["end"] == pytest.approx(duration, abs=0.01)
    assert " ".join(s["text"].strip() for s in segs) == text
    assert all(a["end"] == b["start"] for a, b in zip(segs, segs[1:]))
    srt = bodies["srt"].text
    assert srt.startswith("1\n00:00:00,000 --> ")
    srt_times = _times(srt, ",")
    assert len(srt_times) == len(segs) and srt_times[-1][1] == pytest.approx(duration, abs=0.002)
    vtt = bodies["vtt"].text
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert _times(vtt, ".") == srt_times
    for seg in segs:
        assert seg["text"].strip() in srt and seg["text"].strip() in vtt


def test_unknown_audio_is_deterministic_and_sized_by_duration(api: Api) -> None:
    short = api.transcribe(make_test_audio(2.0, "wav")).json()["text"]
    again = api.transcribe(make_test_audio(2.0, "wav")).json()["text"]
    long = api.transcribe(make_test_audio(20.0, "mp3"), "long.mp3").json()["text"]
    assert short == again
    assert len(long.split()) > len(short.split())
    assert 30 <= len(long.split()) <= 60  # ~2.5 words per second


def test_video_with_audio_is_accepted_video_without_is_not(api: Api) -> None:
    r = api.transcribe(make_video(2.0, 160, 120, fmt="mp4", with_audio=True), "clip.mp4", response_format="verbose_json")
    assert r.status_code == 200, r.text
    assert r.json()["duration"] == pytest.approx(2.0, abs=0.05)
    r = api.transcribe(make_video(2.0, 160, 120, fmt="mp4", with_audio=False), "silent.mp4")
    err = assert_error(r, 400, "invalid_request", "invalid_request_error", "file")
    assert "audio stream" in err["message"]


@pytest.mark.parametrize("data,name", [(b"%PDF-1.4 not audio at all", "a.mp3"), (b"\x00" * 500, "b.wav"),
                                       (b"hello world, plain text", "c.ogg")])
def test_format_is_checked_by_content(api: Api, data: bytes, name: str) -> None:
    err = assert_error(api.transcribe(data, name), 400, "invalid_request", "invalid_request_error", "file")
    assert err["message"].startswith("The file field must be a file of type: mp3, m4a, wav")


@pytest.mark.parametrize("cut", [30, 44])
def test_corrupt_audio_with_a_valid_header(api: Api, cut: int) -> None:
    wav = make_test_audio(1.0, "wav")
    err = assert_error(api.transcribe(wav[:cut], "broken.wav"), 400, "invalid_request", "invalid_request_error", "file")
    assert err["message"] == "The file could not be decoded as audio or video."


@pytest.mark.emulator(strict=False)  # fields the provider refuses, on purpose
@pytest.mark.parametrize("fields,param,message", [
    ({"model": "gpt-4o-transcribe"}, "model", "The selected model is invalid."),
    ({"language": "deu"}, "language", "The language field must be 2 characters."),
    ({"prompt": "x" * 1001}, "prompt", "The prompt field must not be greater than 1000 characters."),
    ({"response_format": "diarized_json"}, "response_format", "The selected response_format is invalid."),
    ({"temperature": "1.5"}, "temperature", "The temperature field must not be greater than 1."),
    ({"temperature": "-0.5"}, "temperature", "The temperature field must be at least 0."),
    ({"temperature": "warm"}, "temperature", "The temperature field must be a number."),
])
def test_field_validation(api: Api, fields: dict[str, str], param: str, message: str) -> None:
    err = assert_error(api.transcribe(make_test_audio(1.0, "wav"), **fields), 400, "invalid_request",
                       "invalid_request_error", param)
    assert err["message"] == message


def test_accepted_models(api: Api) -> None:
    audio = synthesize(KNOWN_EN, "wav")
    for model in ("whisper-1", "whisper-large-v3-turbo", ""):
        r = api.transcribe(audio, model=model)
        assert r.status_code == 200 and r.json()["text"] == KNOWN_EN
    r = api.transcribe(audio, model="Meta-Llama-3_3-70B-Instruct")  # a chat model
    assert_error(r, 400, "invalid_request", "invalid_request_error", "model")


@pytest.mark.emulator(strict=False)  # a form without its file, on purpose
def test_file_is_required(api: Api) -> None:
    r = api.post(AUDIO, data={"model": "whisper-1"}, files={"other": ("x", b"1", "text/plain")})
    err = assert_error(r, 400, "invalid_request", "invalid_request_error", "file")
    assert err["message"] == "The file field is required."
    r = api.post(AUDIO, data={"file": "not a file"}, files={"other": ("x", b"1", "text/plain")})
    assert_error(r, 400, "invalid_request", "invalid_request_error", "file")
    r = api.post(AUDIO, json={"file": "x"})
    assert_error(r, 400, "invalid_request", "invalid_request_error", "file")


def test_plan_max_file_size(api: Api, kai: Any) -> None:
    audio = make_test_audio(3.0, "wav")
    kai.control.set_account("test-token", max_file_size=len(audio) - 1)
    err = assert_error(api.transcribe(audio), 400, "invalid_request", "invalid_request_error", "file")
    assert "plan's maximum file size" in err["message"]
    kai.control.set_account("test-token", max_file_size=len(audio))
    assert api.transcribe(audio).status_code == 200


def test_25600_kilobyte_cap(api: Api) -> None:
    big = b"RIFF" + b"\x00" * (25600 * 1024 + 10)
    err = assert_error(api.transcribe(big, "big.wav"), 400, "invalid_request", "invalid_request_error", "file")
    assert err["message"] == "The file field must not be greater than 25600 kilobytes."


def test_permission(api: Api) -> None:
    r = api.as_token("chat-only-token").transcribe(make_test_audio(1.0, "wav"))
    assert_error(r, 403, "endpoint_not_allowed", "permission_error")


def test_avi_with_and_without_audio(api: Api) -> None:
    from tests.kai.builders import avi

    r = api.transcribe(avi(with_audio=True), "clip.avi", response_format="verbose_json")
    assert r.status_code == 200, r.text
    assert r.json()["duration"] == pytest.approx(2.0, abs=0.1)
    err = assert_error(api.transcribe(avi(with_audio=False), "mute.avi"), 400, "invalid_request",
                       "invalid_request_error", "file")
    assert "audio stream" in err["message"]


# -- known speech is recognised by its sound, whatever the encoding ------------------------------------
@pytest.mark.parametrize("source,container,codec,rate,layout,bit_rate,gain,name", [
    ("mp3", "wav", "pcm_s16le", 16000, "mono", None, 1.0, "x.wav"),  # Whisper's 16 kHz mono
    ("wav", "mp3", "libmp3lame", 44100, "stereo", 128000, 1.0, "x.mp3"),  # pydub's mp3 export
    ("wav", "mp3", "libmp3lame", 22050, "mono", 48000, 1.0, "x.mp3"),
    ("mp3", "ogg", "libopus", 48000, "mono", 24000, 1.0, "x.ogg"),
    ("mp3", "webm", "libopus", 48000, "stereo", 32000, 1.0, "x.webm"),
    ("mp3", "ipod", "aac", 16000, "mono", 32000, 1.0, "x.m4a"),
    ("wav", "flac", "flac", 16000, "mono", None, 1.0, "x.flac"),
    ("wav", "wav", "pcm_s16le", 24000, "mono", None, 0.4, "quiet.wav"),
    ("mp3", "wav", "pcm_s16le", 44100, "stereo", None, 1.8, "loud.wav"),  # clipped peaks too
])
def test_reencoded_sample_audio_is_still_recognised(api: Api, source: str, container: str, codec: str, rate: int,
                                                    layout: str, bit_rate: int | None, gain: float,
                                                    name: str) -> None:
    data = b.reencode(synthesize(KNOWN, source), container, codec, rate, layout, bit_rate, gain)
    assert data != synthesize(KNOWN, source)
    r = api.transcribe(data, name, response_format="verbose_json")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["text"], body["language"]) == (KNOWN, "german")


def test_the_sample_text_in_another_voice_is_recognised(api: Api) -> None:
    r = api.transcribe(synthesize(KNOWN_EN, "mp3", voice_seed="alice"), "alice.mp3")
    assert r.json() == {"text": KNOWN_EN}


def test_unrelated_audio_of_the_same_length_gets_filler(api: Api) -> None:
    from emulators.media.audio import silence, speech_duration, tone

    length = speech_duration(KNOWN)
    samples = {KNOWN, KNOWN_EN, "The quick brown fox jumps over the lazy dog."}
    for data in (make_test_audio(length, "wav"), make_test_audio(length, "mp3"), tone(length, "wav"),
                 silence(length, "wav"), synthesize(KNOWN + " " + KNOWN, "mp3"),
                 synthesize("Ein ganz anderer Satz mit ungefähr gleich vielen Buchstaben, ja.", "wav")):
        text = api.transcribe(data, "other.mp3" if data[:3] == b"ID3" else "other.wav").json()["text"]
        assert text not in samples, text


def test_each_sample_is_told_apart(api: Api) -> None:
    for text in (KNOWN, KNOWN_EN, "The quick brown fox jumps over the lazy dog."):
        data = b.reencode(synthesize(text, "wav"), "mp3", "libmp3lame", 16000, bit_rate=32000)
        assert api.transcribe(data, "s.mp3").json()["text"] == text
