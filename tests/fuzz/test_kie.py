"""kie.ai under fuzzing, in both profiles (documented: HTTP status = code; live: errors as HTTP
200 with the code in the body): tasks, credit, download links and the three upload APIs."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.fuzz.conftest import closing  # noqa: F401 (fixture)
from tests.fuzz.harness import Fuzzer, body_code_error, fuzz_operation, sweep_operation
from tests.fuzz.media import png, wav
from tests.fuzz.mutations import Auth, Spec, bearer, filled
from tests.fuzz.wire import Part, Wire, file_part, get, json_of, text_part

AUTH = Auth(bearer, ("poor-token",))
IDS: dict[str, str] = {}


BEARER = [(b"authorization", b"Bearer test-token")]


def readers(wire: Wire, response: Any) -> list[Wire]:
    """What shows a successful case's task, an hour later (its result files are fetched too)."""
    out = [get("/api/v1/chat/credit", BEARER)]
    body = json_of(response)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and isinstance(data.get("taskId"), str):
        out.append(get("/api/v1/jobs/recordInfo", BEARER, [("taskId", data["taskId"])]))
    return out


def upload_parts() -> list[Part]:
    # the path and name of the upload made in setup: a valid case replaces it
    return [file_part("file", "pic.png", png(), "image/png"), text_part("uploadPath", "images"),
            text_part("fileName", "pic.png")]


def specs() -> list[Spec]:
    return [
        Spec("GET", "/api/v1/chat/credit", examples=10),
        Spec("POST", "/api/v1/jobs/createTask", "json", label="createTask image", examples=60, json={
            "model": "nano-banana-2", "callBackUrl": "https://example.com/cb",
            "input": {"prompt": "a red fox", "aspect_ratio": "16:9", "resolution": "1K", "output_format": "png",
                      "image_input": ["@png"]}}),
        Spec("POST", "/api/v1/jobs/createTask", "json", label="createTask video", examples=30, json={
            "model": "kling-2.6/image-to-video",
            "input": {"prompt": "waves", "image_urls": ["@png"], "duration": 5, "sound": False}}),
        Spec("POST", "/api/v1/jobs/createTask", "json", label="createTask audio", examples=20, json={
            "model": "elevenlabs/text-to-speech-multilingual-v2", "input": {"text": "Hello", "voice": "Rachel"}}),
        Spec("GET", "/api/v1/jobs/recordInfo", query=(("taskId", "@task"),), examples=20),
        Spec("POST", "/api/v1/common/download-url", "json", json={"url": "@png"}, examples=25),
        Spec("POST", "/api/file-stream-upload", "multipart", parts=upload_parts, examples=45),
        Spec("POST", "/api/file-url-upload", "json", json={"fileUrl": "@png", "uploadPath": "copies",
                                                            "fileName": "copy.png"}, examples=30),
        Spec("POST", "/api/file-base64-upload", "json", examples=40, json={
            "base64Data": "data:text/plain;base64,aGVsbG8gd29ybGQ=", "uploadPath": "docs", "fileName": "hello.txt"}),
        Spec("GET", "/files/{file_id}", params=(("file_id", "@png_id"),), examples=10),
        Spec("HEAD", "/files/{file_id}", params=(("file_id", "@png_id"),), examples=10),
    ]


@pytest.fixture(scope="module", params=["documented", "live"])
def fuzzer(request: pytest.FixtureRequest, closing: list[Fuzzer]) -> Iterator[Fuzzer]:
    f = Fuzzer("kie", is_error=body_code_error(200), readers=readers)
    f.provider = f"kie ({request.param})"
    closing.append(f)
    f.control.set_settings(profile=request.param, callbackRetryDelays=[])  # one delivery attempt
    http = f.client
    auth = {"Authorization": "Bearer test-token"}
    r = http.post("/api/file-stream-upload", headers=auth, files={"file": ("pic.png", png(), "image/png")},
                  data={"uploadPath": "images", "fileName": "pic.png"})
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    IDS["png"] = r.json()["data"]["downloadUrl"]
    IDS["png_id"] = IDS["png"].rsplit("/", 1)[-1]
    r = http.post("/api/file-stream-upload", headers=auth, files={"file": ("a.wav", wav(), "audio/wav")},
                  data={"uploadPath": "audio"})
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    r = http.post("/api/v1/jobs/createTask", headers=auth, json={"model": "nano-banana-2", "input": {"prompt": "x"}})
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    f.control.advance(600)
    r = http.post("/api/v1/jobs/createTask", headers=auth, json={"model": "nano-banana-2", "input": {"prompt": "y"}})
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    IDS["task"] = r.json()["data"]["taskId"]
    f.freeze_baseline()
    yield f


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.id)
def test_kie_fuzz(fuzzer: Fuzzer, spec: Spec) -> None:
    spec = filled(spec, IDS)
    fuzz_operation(fuzzer, spec, AUTH)


@pytest.mark.parametrize("spec", [s for s in specs() if s.body != "none" or s.query], ids=lambda s: s.id)
def test_kie_sweep(fuzzer: Fuzzer, spec: Spec) -> None:
    """Every field, each with the values most likely to break it (mutations.SWEEP_*)."""
    spec = filled(spec, IDS)
    sweep_operation(fuzzer, spec, AUTH)
