from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulators.pytest_plugin import RunningEmulator

ARIA = "clsys00000000000000000001"  # a public SYSTEM voice from fixtures/voiceclone/voices.yaml
MEI = "clsys00000000000000000003"
PRIVATE_SYSTEM = "clsys00000000000000000005"


class Api:
    """A voiceclone client for one token."""

    def __init__(self, em: RunningEmulator, token: str | None = "test-token") -> None:
        self.em = em
        self.http = em.client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def credits(self) -> dict[str, Any]:
        r = self.get("/api/v1/credits")
        assert r.status_code == 200, r.text
        return r.json()

    def tts(self, text: str, voice: str = ARIA, fmt: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"text": text, "voiceId": voice}
        if fmt:
            body["format"] = fmt
        return self.post("/api/v1/tts", json=body)

    def speech(self, speech_id: str) -> dict[str, Any]:
        r = self.get(f"/api/v1/tts/{speech_id}")
        assert r.status_code == 200, r.text
        return r.json()["speech"]

    def clone(self, data: bytes, filename: str = "voice.wav", ctype: str = "audio/wav",
              **fields: str) -> httpx.Response:
        return self.post("/api/v1/voice-clone", files={"voice": (filename, data, ctype)}, data=fields)


@pytest.fixture
def vc(emulator_factory: Any) -> RunningEmulator:
    return emulator_factory("voiceclone")


@pytest.fixture
def api(vc: RunningEmulator) -> Api:
    return Api(vc)
