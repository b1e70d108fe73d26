"""Cases the fuzzing found, kept as plain tests (each names the defect it pins)."""
from __future__ import annotations

from typing import Any

import pytest

from emulators.media.audio import silence
from tests.fuzz.harness import Fuzzer
from tests.fuzz.wire import Wire, file_part, multipart_body, multipart_type, text_part

SEEDED_FILES = {"voiceclone": "clsys00000000000000000001-sample.mp3", "kreado": "emo-6.mp4"}


@pytest.mark.parametrize("provider", sorted(SEEDED_FILES))
def test_head_on_a_file_url_matches_the_contract(emulator_factory: Any, provider: str) -> None:
    """The engine answers HEAD on /files/{id} (as its GET, without the body); the contracts list
    only the GET, and the contract check called every such answer "not in the contract". The
    factory fails the test on any violation."""
    em = emulator_factory(provider)
    client = em.client()
    head = client.head(f"/files/{SEEDED_FILES[provider]}")
    get = client.get(f"/files/{SEEDED_FILES[provider]}")
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert client.head("/files/no-such-file.mp3").status_code == 404
    assert em.control.violations() == []


@pytest.mark.parametrize("provider, path, parts", [
    ("voiceclone", "/api/v1/voice-clone", lambda data: [file_part("voice", "long.wav", data, "audio/wav"),
                                                        text_part("title", "Long")]),
    ("kitta", "/api/open/create-model", lambda data: [text_part("name", "Long"),
                                                      file_part("audioFiles", "long.wav", data, "audio/wav")]),
])
def test_a_clone_from_a_large_upload_writes_after_closing_the_form(provider: str, path: str, parts: Any) -> None:
    """An upload over 1 MiB is spooled to disk, and closing it awaits a thread. The handlers
    charged (voiceclone) and created the voice before closing the form, so a request could be
    suspended holding uncommitted writes: a failure there would have rolled back over what other
    requests committed meanwhile. The fuzz watcher flags any such await."""
    data = silence(30, "wav")
    assert len(data) > 1024 * 1024
    fuzzer = Fuzzer(provider)
    try:
        fuzzer.freeze_baseline()
        wire = Wire("POST", path, headers=[(b"authorization", b"Bearer test-token"),
                                           (b"content-type", multipart_type())], body=multipart_body(parts(data)))
        assert fuzzer.check(wire).status_code == 200
    finally:
        fuzzer.close()


def test_kai_refuses_an_integer_too_large_for_a_float(emulator_factory: Any) -> None:
    """`"temperature": 10**400` reached math.isfinite(), which cannot convert it: a 500. It is
    now refused as `1e400` is (docs/kai.md: numbers beyond a float get the field's message)."""
    kai = emulator_factory("kai")
    kai.control.set_account("test-token", processing_seconds=0)
    with kai.allow_bad_requests():  # off the contract on purpose
        r = kai.client().post("/api/v1/chat/completions", headers={"Authorization": "Bearer test-token"},
                              json={"messages": [{"role": "user", "content": "Hello"}], "temperature": 10**400})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "temperature"
    assert r.json()["error"]["message"] == "The temperature field must be a number."


def test_kreado_refuses_a_rectangle_corner_too_large_for_a_float(emulator_factory: Any) -> None:
    """A subtitle area's `rb_x: 10**400` reached math.isfinite(): a 500 (10001) instead of 10002."""
    kreado = emulator_factory("kreado")
    with kreado.allow_bad_requests():  # off the contract on purpose
        r = kreado.client().post("/apis/open/subtitle_removal/v3/submitTask", headers={"apiToken": "test-token"}, json={
            "taskName": "sub", "srcFileUrl": "https://aigc-cdn.kreadoai.com/web_static/image/videoSubtitleRemove/sy.mp4",
            "customRectAreaList": [{"lt_x": 0, "lt_y": 0, "rb_x": 10**400, "rb_y": 5}]})
    assert r.status_code == 200, r.text
    assert r.json()["code"] == "10002", r.text


@pytest.mark.parametrize("name, data, anonymize_status", [
    ("letter.txt", b'["\\ud800"]', 200),  # JSON by content, but no JSON text: read as text
    ("data.json", b'["\\ud800"]', 400),  # named JSON: text_extraction_failed
    ("deep.txt", b"[" * 5000 + b"]" * 5000, 200),  # Python's parser overflowed its stack
    ("deep.json", b"[" * 500 + b"]" * 500, 200),  # deep, but within 512 levels: still JSON
    ("nan.json", b'{"a": NaN}', 400),
])
def test_kai_documents_take_json_only_as_json_text(emulator_factory: Any, name: str, data: bytes,
                                                  anonymize_status: int) -> None:
    """A document whose JSON holds a lone surrogate escape got into the anonymized text and broke
    the answer (500); a deeply nested one overflowed the parser (500, both endpoints)."""
    kai = emulator_factory("kai")
    kai.control.set_account("test-token", processing_seconds=0)
    client, auth = kai.client(), {"Authorization": "Bearer test-token"}
    r = client.post("/api/v1/documents/anonymize", headers=auth, files={"files[]": (name, data, "text/plain")})
    assert r.status_code == anonymize_status, r.text
    if anonymize_status == 400:
        assert r.json()["error"]["code"] == "text_extraction_failed"
    r = client.post("/api/v1/documents/strip-metadata", headers=auth, files={"file": (name, data, "text/plain")})
    assert r.status_code == 200 and r.content == data
