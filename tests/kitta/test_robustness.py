"""No input, however malformed, gets a 500: raw bodies that are not the JSON they claim, and each
field of a valid request replaced by odd values (types, sizes, nesting, numbers Python cannot
convert), in JSON and MessagePack. Every answer is one the contract describes (the factory checks)."""
from __future__ import annotations

from typing import Any

import msgpack
import pytest

from tests.kitta.conftest import ARIA, Api

pytestmark = pytest.mark.emulator(strict=False)  # odd input on purpose

ODD: list[Any] = [None, True, 0, -1, 1.5, 2**63, -(2**70), 1e308, "", " ", "\x00", "x" * 20000,
                  "[" * 1000, [], {}, [[[[[]]]]], {"a": {"b": {}}}, [1] * 1000, "EMULATOR_FAIL", "١٢",
                  "https://[::1", "https://a:99999/x.mp4", "http://testserver/files/nope.mp3"]
RAW: list[bytes] = [b"{", b"[]", b"null", b"1e400", b'{"text": 1e400}', b'{"speed": NaN}',
                    b'{"volume": -Infinity}', b'{"speed": ' + b"1" * 5000 + b"}", b"[" * 100000,
                    b'{"text": ' + b"[" * 900 + b"]" * 900 + b"}", b"\xff\xfe{}", '{"text":"é"}'.encode("utf-16"),
                    b'{"text":"a","text":"b"}']
VALID: dict[str, dict[str, Any]] = {
    "/api/open/profile": {"token": "test-token"},
    "/api/open/tts": {"reference_id": ARIA, "text": "Hi", "cache": True, "version": "v3-hd", "emotion": "calm",
                      "language": "en", "speed": 1, "volume": 0, "format": "mp3"},
    "/api/open/v2/speech/tts": {"voiceId": ARIA, "text": "Hi", "modelId": "minimax-2.8-hd", "emotion": "happy",
                                "pitch": 0, "stability": 1, "similarity": 1, "language": "en"},
    "/api/open/lip-sync/create": {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"},
    "/api/open/lip-sync/query": {"id": "00000000-0000-0000-0000-000000000000"},
}


def _packable(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)
    if isinstance(value, list):
        return [_packable(v) for v in value]
    if isinstance(value, dict):
        return {k: _packable(v) for k, v in value.items()}
    return value


def test_odd_bodies_and_values_never_get_a_500(kitta, api: Api) -> None:
    kitta.control.set_account("test-token", rate_limit=10**6, credits=10**9, api_quota_remaining=10**9)
    statuses: dict[int, int] = {}
    for path, valid in VALID.items():
        for raw in RAW:
            r = api.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code < 500, (path, raw[:40], r.text)
        for field in valid:
            for value in ODD:
                body = {**valid, field: value}
                for r in (api.post(path, json=body), api.post_msgpack(path, _packable(body))):
                    assert r.status_code < 500, (path, field, repr(value)[:40], r.text)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        r = api.get(path, params={k: str(v)[:1000] for k, v in valid.items()})
        assert r.status_code < 500
    assert statuses[400] > 100 and statuses[200] > 20  # both refusals and acceptances were reached
    assert kitta.control.state()["provider"] == "kitta"  # whatever was kept still serializes
