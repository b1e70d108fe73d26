"""Voice clone (multipart): WAV/MP3 judged by content, 413 for oversized uploads, the new model
usable at once for TTS with its visibility respected."""
from __future__ import annotations

import pytest

from emulators.media.audio import make_test_audio
from emulators.media.image import make_image
from tests.kitta.conftest import Api


@pytest.fixture(scope="module")
def wav() -> bytes:
    return make_test_audio(2.0, "wav")


@pytest.fixture(scope="module")
def mp3() -> bytes:
    return make_test_audio(2.0, "mp3")


def test_clone_from_wav_then_speak_with_it(api: Api, wav: bytes) -> None:
    r = api.clone([("me.wav", wav, "audio/wav")], name="My voice", description="Test voice")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"modelId", "title", "description", "createdAt", "message"}
    assert body["title"] == "My voice" and body["description"] == "Test voice"
    assert len(body["modelId"]) == 32
    assert api.tts("Now in my voice", voice=body["modelId"]).status_code == 200
    assert api.tts_v2("And in v2", voice=body["modelId"]).status_code == 200


def test_several_files_and_mp3(api: Api, wav: bytes, mp3: bytes) -> None:
    r = api.clone([("a.mp3", mp3, "audio/mpeg"), ("b.wav", wav, "audio/wav")], name="Two samples")
    assert r.status_code == 200, r.text
    assert r.json()["description"] is None


def test_private_models_belong_to_their_owner(kitta, api: Api, wav: bytes) -> None:
    private = api.clone([("a.wav", wav, "audio/wav")], name="Mine").json()["modelId"]
    public = api.clone([("a.wav", wav, "audio/wav")], name="Ours", visibility="public").json()["modelId"]
    other = Api(kitta, "pro-token")
    assert other.tts("hi", voice=private).status_code == 404
    assert other.tts("hi", voice=public, cache=True).status_code == 200


def test_content_is_checked_not_the_name(api: Api) -> None:
    png = make_image(8, 8, fmt="png")
    for name, data in (("fake.wav", png), ("fake.mp3", b"ID3 but not really audio at all" * 10),
                       ("text.wav", b"hello world, this is not audio" * 20)):
        r = api.clone([(name, data, "audio/wav")], name="Bad")
        assert r.status_code == 400, (name, r.text)
        assert r.json()["code"] == "INVALID_PARAMETERS"


@pytest.mark.emulator(strict=False)  # fields the provider refuses, on purpose
@pytest.mark.parametrize("fields, files", [
    ({}, True),  # no name
    ({"name": "   "}, True),
    ({"name": "x" * 101}, True),
    ({"name": "ok", "visibility": "secret"}, True),
    ({"name": "ok", "description": "d" * 501}, True),
    ({"name": "ok"}, False),  # no audioFiles
])
def test_field_validation(api: Api, wav: bytes, fields: dict, files: bool) -> None:
    if files:
        r = api.clone([("a.wav", wav, "audio/wav")], **fields)
    else:
        r = api.post("/api/open/create-model", files={"other": ("x.txt", b"x", "text/plain")}, data=fields)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "INVALID_PARAMETERS"


@pytest.mark.emulator(strict=False)  # a JSON body where a form is documented, on purpose
def test_not_multipart_is_400(api: Api) -> None:
    r = api.post("/api/open/create-model", json={"name": "x"})
    assert r.status_code == 400


def test_oversized_file_is_413(api: Api, wav: bytes) -> None:
    big = wav + b"\0" * (20 * 1024 * 1024)
    r = api.clone([("big.wav", big, "audio/wav")], name="Too big")
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE" and r.json()["error"] == "Upload file too large"


def test_oversized_body_is_413_without_holding_it(kitta, api: Api, wav: bytes) -> None:
    kitta.emulator.backend.state.settings.limits["clone_max_body_bytes"] = 64 * 1024
    r = api.clone([("a.wav", wav + b"\0" * (2 * 1024 * 1024), "audio/wav")], name="Big body")
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.emulator(strict=False)  # a token in the form, which create-model ignores, on purpose
def test_header_token_required(kitta, wav: bytes) -> None:
    r = Api(kitta, None).clone([("a.wav", wav, "audio/wav")], name="x", token="test-token")
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
