from __future__ import annotations

from typing import Any

import httpx
import msgpack
import pytest

from emulators.pytest_plugin import RunningEmulator

ARIA = "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a"  # a public voice model from fixtures/kitta/voices.yaml
LEI = "8c1f3e5a7b9d4c2e6f0a1b3d5e7f9a2c"


class Api:
    """A Kitta client for one token (sent as a Bearer header unless told otherwise)."""

    def __init__(self, em: RunningEmulator, token: str | None = "test-token") -> None:
        self.em = em
        self.token = token
        self.http = em.client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post_msgpack(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return self.post(path, content=msgpack.packb(body), headers={"Content-Type": "application/msgpack"}, **kw)

    def profile(self) -> dict[str, Any]:
        r = self.get("/api/open/profile")
        assert r.status_code == 200, r.text
        return r.json()

    def tts(self, text: str, voice: str = ARIA, **fields: Any) -> httpx.Response:
        return self.post("/api/open/tts", json={"reference_id": voice, "text": text, **fields})

    def tts_v2(self, text: str, voice: str = ARIA, **fields: Any) -> httpx.Response:
        return self.post("/api/open/v2/speech/tts", json={"voiceId": voice, "text": text, **fields})

    def lip_sync(self, video_url: str = "https://example.com/video.mp4",
                 audio_url: str = "https://example.com/audio.mp3") -> httpx.Response:
        return self.post("/api/open/lip-sync/create", json={"video_url": video_url, "audio_url": audio_url})

    def task(self, task_id: str) -> dict[str, Any]:
        r = self.get("/api/open/lip-sync/query", params={"id": task_id})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def clone(self, files: list[tuple[str, bytes, str]], **fields: str) -> httpx.Response:
        return self.post("/api/open/create-model", files=[("audioFiles", f) for f in files], data=fields)


@pytest.fixture
def kitta(emulator_factory: Any) -> RunningEmulator:
    return emulator_factory("kitta")


@pytest.fixture
def api(kitta: RunningEmulator) -> Api:
    return Api(kitta)
