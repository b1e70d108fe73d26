"""Text to speech v1 (JSON and msgpack, cache false/true) and v2: real audio, quota per character."""
from __future__ import annotations

import pytest

from emulators.media.probe import probe
from emulators.media.sniff import sniff
from tests.kitta.conftest import ARIA, LEI, Api


def test_cache_false_answers_mp3_bytes_and_charges_per_character(api: Api) -> None:
    before = api.profile()["api_quota_remaining"]
    text = "Hello from the emulator."
    r = api.tts(text)
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg"
    assert sniff(r.content) == "mp3"
    info = probe(r.content)
    assert info is not None and info.has_audio and info.duration > 0.5
    assert r.headers["X-Characters-Used"] == str(len(text))
    assert api.profile()["api_quota_remaining"] == before - len(text)
    assert r.headers["X-Quota-Remaining"] == str(before - len(text))


@pytest.mark.parametrize("fmt, ctype", [("wav", "audio/wav"), ("pcm", "audio/pcm")])
def test_other_formats(api: Api, fmt: str, ctype: str) -> None:
    r = api.tts("Format check", format=fmt)
    assert r.status_code == 200 and r.headers["content-type"] == ctype
    if fmt == "wav":
        assert sniff(r.content) == "wav"
    else:
        assert len(r.content) > 1000 and len(r.content) % 2 == 0  # raw s16le


def test_characters_not_bytes(api: Api) -> None:
    before = api.profile()["api_quota_remaining"]
    r = api.tts("你好世界", voice=LEI, cache=True)
    assert r.json()["characters_used"] == 4
    assert api.profile()["api_quota_remaining"] == before - 4


def test_cache_true_answers_a_served_audio_url(api: Api) -> None:
    r = api.tts("Cached speech please", cache=True, format="wav")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["format"] == "wav"
    assert body["characters_used"] == len("Cached speech please")
    assert body["quota_remaining"] == api.profile()["api_quota_remaining"]
    audio = api.http.get(body["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert sniff(audio.content) == "wav" and probe(audio.content).duration > 0.5


def test_msgpack_body_with_token_inside(kitta) -> None:
    anon = Api(kitta, None)
    r = anon.post_msgpack("/api/open/tts", {"reference_id": ARIA, "text": "Packed", "cache": True,
                                            "token": "pro-token"})
    assert r.status_code == 200, r.text
    assert r.json()["quota_remaining"] == 200000 - 6
    r = anon.post_msgpack("/api/open/tts", {"reference_id": ARIA, "text": "Packed"})
    assert r.status_code == 401


@pytest.mark.emulator(strict=False)  # values out of range, on purpose
@pytest.mark.parametrize("field, value", [
    ("speed", 0.4), ("speed", 2.1), ("speed", "fast"), ("volume", -21), ("volume", 20.5),
    ("format", "flac"), ("version", "v9"), ("cache", "yes"), ("emotion", 5), ("emotion", "x" * 65),
    ("language", ["en"]), ("text", ""), ("text", "   "), ("text", 5), ("reference_id", None),
    ("text", "x" * 10001),
])
def test_parameter_ranges_are_validated(api: Api, field: str, value: object) -> None:
    before = api.profile()["api_quota_remaining"]
    body = {"reference_id": ARIA, "text": "Valid text", field: value}
    if value is None:
        del body[field]
    r = api.post("/api/open/tts", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "INVALID_PARAMETERS" and field in r.json()["error"]
    assert api.profile()["api_quota_remaining"] == before


@pytest.mark.emulator(strict=False)  # an undocumented language, on purpose
def test_v3_languages_are_the_documented_ones(api: Api) -> None:
    """auto|zh|en is documented for the v3 versions: there, anything else is refused."""
    for version in ("v3-turbo", "v3-hd"):
        r = api.tts("Hi", version=version, language="ja")
        assert r.status_code == 400 and "language" in r.json()["error"], r.text
        assert api.tts("Hi", version=version, language="zh", cache=True).status_code == 200


def _notes(api: Api) -> list[str]:
    return api.em.control.journal()[-1]["notes"]


@pytest.mark.parametrize("version", ["v1", "v2", "s1"])
def test_language_outside_v3_is_accepted_and_noted(api: Api, version: str) -> None:
    """The docs say `language` applies to v3 only: other versions take any value (and ignore it)."""
    r = api.tts("Konnichiwa", version=version, language="ja", cache=True)
    assert r.status_code == 200, r.text
    assert _notes(api) == [f"language 'ja' is not one of auto|zh|en; accepted, as language applies to v3 only "
                           f"(version {version})"]
    assert api.tts("Hello", version=version, language="en", cache=True).status_code == 200
    assert _notes(api) == []


@pytest.mark.parametrize("version", ["v1", "v3-hd"])
def test_unlisted_emotions_are_accepted_and_noted(api: Api, version: str) -> None:
    """The docs list no emotions: "excited" is plausible input, taken and noted in the journal."""
    before = api.profile()["api_quota_remaining"]
    r = api.tts("So glad", version=version, emotion="excited")
    assert r.status_code == 200 and sniff(r.content) == "mp3", r.text
    assert _notes(api) == ["emotion 'excited' is not one the emulator knows; accepted"]
    assert api.profile()["api_quota_remaining"] == before - len("So glad")
    assert api.tts("Calm", version=version, emotion="calm", cache=True).status_code == 200
    assert _notes(api) == []


def test_boundaries_are_accepted(api: Api) -> None:
    for fields in ({"speed": 0.5, "volume": -20}, {"speed": 2, "volume": 20, "version": "v3-hd",
                                                   "emotion": "calm", "language": "en"}):
        assert api.tts("Edge", cache=True, **fields).status_code == 200


def test_unknown_voice_is_404(api: Api) -> None:
    r = api.tts("Hi", voice="0" * 32)
    assert r.status_code == 404 and r.json() == {"error": "Voice model not found", "code": "NOT_FOUND"}


def test_quota_runs_out_with_429(kitta) -> None:
    free = Api(kitta, "free-token")  # 1500 characters of quota
    r = free.tts("x" * 1501)
    assert r.status_code == 429 and r.json()["code"] == "INSUFFICIENT_QUOTA"
    assert free.profile()["api_quota_remaining"] == 1500
    assert free.tts("x" * 1500, cache=True).json()["quota_remaining"] == 0
    r = free.tts("y")
    assert r.status_code == 429 and r.json()["code"] == "INSUFFICIENT_QUOTA"
    r = Api(kitta, "poor-token").tts("anything")
    assert r.status_code == 429 and r.json()["error"] == "Insufficient API quota"


@pytest.mark.emulator(strict=False)  # a body over the limit, on purpose
def test_oversized_body_is_413(api: Api) -> None:
    r = api.post("/api/open/tts", content=b'{"text": "' + b"a" * (1024 * 1024 + 10) + b'"}',
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


# -- v2 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, ctype, sniffed", [("mp3", "audio/mpeg", "mp3"), ("wav", "audio/wav", "wav"),
                                                 ("ogg", "audio/ogg", "ogg")])
def test_v2_answers_audio(api: Api, fmt: str, ctype: str, sniffed: str) -> None:
    before = api.profile()["api_quota_remaining"]
    r = api.tts_v2("Version two speaking", format=fmt, modelId="minimax-2.8-hd", emotion="happy", pitch=3)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == ctype and sniff(r.content) == sniffed
    assert api.profile()["api_quota_remaining"] == before - len("Version two speaking")


def test_v2_token_in_body_and_error_shape(kitta) -> None:
    anon = Api(kitta, None)
    r = anon.post("/api/open/v2/speech/tts", json={"voiceId": ARIA, "text": "Hi", "token": "pro-token"})
    assert r.status_code == 200 and sniff(r.content) == "mp3"
    r = anon.post("/api/open/v2/speech/tts", json={"voiceId": ARIA, "text": "Hi"})
    assert r.status_code == 401
    body = r.json()
    assert set(body) == {"code", "message", "requestId"} and body["code"] == "UNAUTHORIZED"


@pytest.mark.emulator(strict=False)  # values the provider refuses, on purpose
@pytest.mark.parametrize("field, value", [("stability", 1.6), ("similarity", 0.4), ("pitch", 13),
                                          ("modelId", "gpt-voice"), ("modelId", "minimax-02-hd"),
                                          ("modelId", "minimax-2.8-max"), ("modelId", ""), ("format", "pcm"),
                                          ("emotion", 7), ("speed", 3)])
def test_v2_validation_errors(api: Api, field: str, value: object) -> None:
    r = api.tts_v2("Hi", **{field: value})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "INVALID_PARAMETERS" and field in body["message"] and body["requestId"]


def test_v2_not_found_and_quota(kitta) -> None:
    r = Api(kitta).tts_v2("Hi", voice="f" * 32)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND" and "requestId" in r.json()
    r = Api(kitta, "poor-token").tts_v2("Hi")
    assert r.status_code == 429 and r.json()["code"] == "INSUFFICIENT_QUOTA" and "error" not in r.json()


def test_concurrent_requests_never_overspend(kitta) -> None:
    import asyncio

    async def burst() -> list[int]:
        async with kitta.async_client(headers={"Authorization": "Bearer free-token"}) as client:
            calls = [client.post("/api/open/tts", json={"reference_id": ARIA, "text": "z" * 100, "cache": True})
                     for _ in range(20)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 15 and statuses.count(429) == 5  # 1500 characters of quota
    assert Api(kitta, "free-token").profile()["api_quota_remaining"] == 0


@pytest.mark.parametrize("spelling, engine", [
    ("minimax-speech-2.8-hd", "minimax-2.8-hd"), ("speech-2.6-turbo", "minimax-2.6-turbo"),
    ("MiniMax-2.8-Turbo", "minimax-2.8-turbo"), ("minimax_2.6_hd", "minimax-2.6-hd"),
    ("minimax-2.8turbo", "minimax-2.8-turbo"),
])
def test_v2_takes_any_spelling_of_the_minimax_engines(api: Api, spelling: str, engine: str) -> None:
    """The docs write "minimax-2.8/2.6 turbo and hd", no exact id: each spelling is that engine."""
    r = api.tts_v2("Spelled differently", modelId=spelling)
    assert r.status_code == 200 and sniff(r.content) == "mp3", r.text
    assert _notes(api) == [f"modelId {spelling!r} taken as {engine!r} (the docs give no exact spelling)"]
    assert api.tts_v2("Spelled as the emulator does", modelId=engine).status_code == 200
    assert _notes(api) == []


def test_v2_unlisted_emotion_is_accepted_and_noted(api: Api) -> None:
    r = api.tts_v2("Hooray", modelId="minimax-2.8-hd", emotion="excited")
    assert r.status_code == 200, r.text
    assert _notes(api) == ["emotion 'excited' is not one the emulator knows; accepted"]
