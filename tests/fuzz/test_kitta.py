"""Kitta AI under fuzzing: every endpoint, JSON and MessagePack bodies, multipart voice cloning,
query and body task ids (see harness.Fuzzer for what each answer must satisfy)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.fuzz.conftest import closing  # noqa: F401 (fixture)
from tests.fuzz.harness import Fuzzer, fuzz_operation, sweep_operation
from tests.fuzz.media import mp3, wav
from tests.fuzz.mutations import Auth, Spec, bearer, filled
from tests.fuzz.wire import Part, Wire, file_part, get, json_of, post_json, text_part

AUTH = Auth(bearer, ("poor-token", "free-token", "pro-token", "limited-token", "disabled-token"))
ARIA = "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a"
BOTH = ("json", "msgpack")
IDS: dict[str, str] = {}


BEARER = [(b"authorization", b"Bearer test-token")]


def readers(wire: Wire, response: Any) -> list[Wire]:
    """What shows a successful case's task or voice, an hour later (a new voice is used once)."""
    out = [get("/api/open/profile", BEARER)]
    body = json_of(response)
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            out.append(get("/api/open/lip-sync/query", BEARER, [("id", data["id"])]))
        if isinstance(body.get("modelId"), str):
            out.append(post_json("/api/open/tts", BEARER, {"reference_id": body["modelId"], "text": "Hello",
                                                            "cache": True}))
    return out


def clone_parts() -> list[Part]:
    return [text_part("name", "My voice"), text_part("description", "Test voice"), text_part("visibility", "private"),
            file_part("audioFiles", "a.wav", wav(), "audio/wav"), file_part("audioFiles", "b.mp3", mp3(), "audio/mpeg")]


def specs() -> list[Spec]:
    return [
        Spec("GET", "/api/open/profile", examples=15),
        Spec("POST", "/api/open/profile", "json", json={"token": "test-token"}, encodings=BOTH, examples=20),
        Spec("POST", "/api/open/tts", "json", encodings=BOTH, examples=60, json={
            "reference_id": "@voice", "text": "Hi there", "cache": True, "version": "v3-hd", "emotion": "calm",
            "language": "en", "speed": 1, "volume": 0, "format": "mp3"}),
        Spec("POST", "/api/open/v2/speech/tts", "json", encodings=BOTH, examples=50, json={
            "voiceId": ARIA, "text": "Hi", "modelId": "minimax-2.8-hd", "emotion": "happy", "pitch": 0,
            "stability": 1, "similarity": 1, "language": "en", "format": "wav", "speed": 1.5, "volume": -3}),
        Spec("POST", "/api/open/create-model", "multipart", parts=clone_parts, examples=60),
        Spec("POST", "/api/open/lip-sync/create", "json", encodings=BOTH, examples=50, json={
            "video_url": "https://example.com/v.mp4", "audio_url": "@file"}),
        Spec("GET", "/api/open/lip-sync/query", query=(("id", "@task"),), examples=25),
        Spec("POST", "/api/open/lip-sync/query", "json", json={"id": "@task"}, encodings=BOTH, examples=25),
        Spec("GET", "/files/{file_id}", params=(("file_id", "@file_id"),), examples=10),
        Spec("HEAD", "/files/{file_id}", params=(("file_id", "@file_id"),), examples=10),
    ]


@pytest.fixture(scope="module")
def fuzzer(closing: list[Fuzzer]) -> Iterator[Fuzzer]:
    f = Fuzzer("kitta", readers=readers)
    closing.append(f)
    http = f.client
    auth = {"Authorization": "Bearer test-token"}
    r = http.post("/api/open/create-model", headers=auth, files=[("audioFiles", ("a.wav", wav(), "audio/wav"))],
                  data={"name": "Mine"})
    assert r.status_code == 200, r.text
    IDS["voice"] = r.json()["modelId"]
    r = http.post("/api/open/tts", headers=auth, json={"reference_id": ARIA, "text": "cached", "cache": True})
    assert r.status_code == 200, r.text
    IDS["file"] = r.json()["audio_url"]
    IDS["file_id"] = IDS["file"].rsplit("/", 1)[-1]
    r = http.post("/api/open/lip-sync/create", headers=auth,
                  json={"video_url": "https://example.com/v.mp4", "audio_url": IDS["file"]})
    assert r.status_code == 200, r.text
    f.control.advance(3600)
    r = http.post("/api/open/lip-sync/create", headers=auth,
                  json={"video_url": "https://example.com/w.mp4", "audio_url": "https://example.com/a.mp3"})
    assert r.status_code == 200, r.text
    IDS["task"] = r.json()["data"]["id"]
    f.freeze_baseline()
    yield f


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.id)
def test_kitta_fuzz(fuzzer: Fuzzer, spec: Spec) -> None:
    spec = filled(spec, IDS)
    fuzz_operation(fuzzer, spec, AUTH)


@pytest.mark.parametrize("spec", [s for s in specs() if s.body != "none" or s.query], ids=lambda s: s.id)
def test_kitta_sweep(fuzzer: Fuzzer, spec: Spec) -> None:
    """Every field, each with the values most likely to break it (mutations.SWEEP_*)."""
    spec = filled(spec, IDS)
    sweep_operation(fuzzer, spec, AUTH)
