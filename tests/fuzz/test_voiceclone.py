"""voiceclone under fuzzing: every endpoint, near-valid requests (see mutations.py), checked by
harness.Fuzzer (no unplanned 5xx or error log, contract shapes, errors leave no trace)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.fuzz.conftest import closing  # noqa: F401 (fixture)
from tests.fuzz.harness import Fuzzer, fuzz_operation, sweep_operation
from tests.fuzz.media import mp3, wav
from tests.fuzz.mutations import Auth, Spec, bearer
from tests.fuzz.wire import Wire, file_part, get, json_of, text_part

AUTH = Auth(bearer, ("poor-token", "starter-token", "limited-token"))
SYSTEM_VOICE = "clsys00000000000000000001"
SAMPLE = "clsys00000000000000000001-sample.mp3"  # a seeded file
SPEECH = {"id": ""}  # a pending speech of test-token, made in setup


def clone_parts() -> list:
    return [file_part("voice", "me.wav", wav(), "audio/wav"), text_part("title", "My voice"),
            text_part("description", "A test voice"), text_part("coverImage", "https://example.com/c.jpg"),
            text_part("tags", '["calm","en"]')]


BEARER = [(b"authorization", b"Bearer test-token")]


def readers(wire: Wire, response: Any) -> list[Wire]:
    """What shows a successful case's voice or speech, an hour later."""
    out = [get("/api/v1/voices", BEARER, [("limit", "100"), ("type", "USER")]),
           get("/api/v1/voices", BEARER, [("limit", "100"), ("sortBy", "title"), ("sortOrder", "asc")]),
           get("/api/v1/credits", BEARER)]
    body = json_of(response)
    if isinstance(body, dict) and isinstance(body.get("speechId"), str):
        out.append(get(f"/api/v1/tts/{body['speechId']}", BEARER))
    return out


def specs() -> list[Spec]:
    return [
        Spec("POST", "/api/v1/voice-clone", "multipart", parts=clone_parts, examples=60),
        Spec("GET", "/api/v1/voices", query=(("page", "1"), ("limit", "20"), ("status", "COMPLETED"),
                                             ("type", "USER"), ("sortBy", "title"), ("sortOrder", "asc")),
             examples=40),
        Spec("POST", "/api/v1/tts", "json", json={"text": "Hello there", "voiceId": SYSTEM_VOICE, "format": "mp3"},
             examples=70),
        Spec("GET", "/api/v1/tts/{speechId}", params=(("speechId", "@speech"),), examples=30),
        Spec("GET", "/api/v1/credits", examples=20),
        Spec("GET", "/files/{file_id}", params=(("file_id", SAMPLE),), examples=15),
        Spec("HEAD", "/files/{file_id}", params=(("file_id", SAMPLE),), examples=10),
    ]


@pytest.fixture(scope="module")
def fuzzer(closing: list[Fuzzer]) -> Iterator[Fuzzer]:
    f = Fuzzer("voiceclone", readers=readers)
    closing.append(f)
    http = f.client
    auth = {"Authorization": "Bearer test-token"}
    r = http.post("/api/v1/voice-clone", headers=auth, files={"voice": ("a.mp3", mp3(), "audio/mpeg")},
                  data={"title": "Old"})
    assert r.status_code == 200, r.text
    r = http.post("/api/v1/tts", headers=auth, json={"text": "done before", "voiceId": SYSTEM_VOICE})
    assert r.status_code == 200, r.text
    f.control.advance(3600)  # both finished and settled
    r = http.post("/api/v1/tts", headers=auth, json={"text": "still running", "voiceId": SYSTEM_VOICE})
    assert r.status_code == 200, r.text
    SPEECH["id"] = r.json()["speechId"]
    f.freeze_baseline()
    yield f


def _resolve(spec: Spec) -> Spec:
    if spec.params and spec.params[0][1] == "@speech":
        from dataclasses import replace
        return replace(spec, params=(("speechId", SPEECH["id"]),))
    return spec


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.id)
def test_voiceclone_fuzz(fuzzer: Fuzzer, spec: Spec) -> None:
    spec = _resolve(spec)
    fuzz_operation(fuzzer, spec, AUTH)


@pytest.mark.parametrize("spec", [s for s in specs() if s.body != "none" or s.query], ids=lambda s: s.id)
def test_voiceclone_sweep(fuzzer: Fuzzer, spec: Spec) -> None:
    """Every field, each with the values most likely to break it (mutations.SWEEP_*)."""
    spec = _resolve(spec)
    sweep_operation(fuzzer, spec, AUTH)
