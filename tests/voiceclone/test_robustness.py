"""No input, however malformed, gets a 500: raw bodies that are not the JSON they claim, odd
values in each field of a valid TTS request and of the voice list's query, odd multipart fields of
a voice clone. Every answer is one the contract describes (the factory checks)."""
from __future__ import annotations

from typing import Any

import pytest

from emulators.media.audio import make_test_audio
from tests.voiceclone.conftest import ARIA, Api

pytestmark = pytest.mark.emulator(strict=False)  # malformed input on purpose

ODD: list[Any] = [None, True, 0, -1, 1.5, 2**63, -(2**70), 1e308, "", " ", "\x00", "x" * 20000,
                  "[" * 1000, [], {}, [[[[[]]]]], {"a": {"b": {}}}, [1] * 1000, "EMULATOR_FAIL", "١٢"]
RAW: list[bytes] = [b"{", b"[]", b"null", b"1e400", b'{"text": 1e400}', b'{"text": NaN}',
                    b'{"text": ' + b"1" * 5000 + b"}", b"[" * 100000, b'{"text": ' + b"[" * 900 + b"]" * 900 + b"}",
                    b"\xff\xfe{}", '{"text":"é"}'.encode("utf-16"), b'{"text":"a","text":"b"}']
FORM_ODD = ["[" * 1000, "[" + "9" * 5000 + "]", '["\\ud800"]', "x" * 100000, "", " ", "\x00", "null", "[null]",
            "EMULATOR_FAIL", "https://[::1", "١٢"]


def test_odd_bodies_values_and_form_fields_never_get_a_500(vc, api: Api) -> None:
    vc.control.set_account("test-token", rateLimit=10**6, permanent=10**9)
    valid = {"text": "Hi", "voiceId": ARIA, "format": "mp3"}
    for raw in RAW:
        r = api.post("/api/v1/tts", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw[:40], r.text)
    for field in valid:
        for value in ODD:
            r = api.post("/api/v1/tts", json={**valid, field: value})
            assert r.status_code < 500, (field, repr(value)[:40], r.text)
    for name in ("page", "limit", "status", "type", "sortBy", "sortOrder"):
        for value in ["", "-1", "1e3", "9" * 5000, "١", "\x00", "ASC", "0x10"]:
            r = api.get("/api/v1/voices", params={name: value})
            assert r.status_code < 500, (name, value, r.text)
    for value in ["x" * 5000, "%00", "%2e%2e", "%ff"]:
        assert api.get(f"/api/v1/tts/{value}").status_code == 404
    wav = make_test_audio(1.0, "wav")
    for field in ("title", "description", "coverImage", "tags"):
        for value in FORM_ODD:
            r = api.post("/api/v1/voice-clone", files={"voice": ("a.wav", wav, "audio/wav")}, data={field: value})
            assert r.status_code < 500, (field, value[:40], r.text)
    assert vc.control.state()["provider"] == "voiceclone"  # whatever was kept still serializes
