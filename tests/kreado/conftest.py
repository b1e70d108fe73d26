from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from emulators.pytest_plugin import RunningEmulator

P = "/apis/open"
DOC_VIDEO = ("https://aigc-cdn.kreadoai.com/digitalhuman/upload_simple_clone_video/2024/11/"
             "ea634216760c4d87a0709a7d00eddc9e.mp4")  # media.yaml: 20 s, 1080x1920
DOC_AUDIO = "https://aigc-cdn.kreadoai.com/digitalhuman/audio/2024/11/2b150387595c4efba35db553740cb47a.mp3"  # 16 s
DOC_SUBTITLE_VIDEO = "https://aigc-cdn.kreadoai.com/web_static/image/videoSubtitleRemove/sy.mp4"  # 7 s
DOC_PHOTO = "https://cdn.pixabay.com/video/2021/06/24/78732-567321517_medium.jpg"
BAD = "https://media.emulator.test/"
MANDARIN = "1767068435675340832"


class Api:
    """A KreadoAI client for one token."""

    def __init__(self, em: RunningEmulator, token: str | None = "test-token") -> None:
        self.em = em
        self.http = em.client()
        self.token = token

    def headers(self, token: str | None = None) -> dict[str, str]:
        token = token if token is not None else self.token
        return {"apiToken": token} if token else {}

    def raw(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.http.post(P + path, json=body, headers=self.headers(token), **kw)

    def post(self, path: str, body: Any = None, token: str | None = None) -> dict[str, Any]:
        r = self.raw(path, body, token)
        assert r.status_code == 200, r.text
        data = r.json()
        assert set(data) == {"code", "message", "data", "requestId"}, data
        return data

    def ok(self, path: str, body: Any = None, token: str | None = None) -> Any:
        data = self.post(path, body, token)
        assert data["code"] == "200", data
        return data["data"]

    def get(self, path: str, token: str | None = None) -> dict[str, Any]:
        r = self.http.get(P + path, headers=self.headers(token))
        assert r.status_code == 200, r.text
        return r.json()

    def info(self, token: str | None = None) -> dict[str, Any]:
        data = self.get("/user/v3/getInfo", token)
        assert data["code"] == "200", data
        return data["data"]

    def balance(self, token: str | None = None) -> str:
        return self.info(token)["balance"]

    def next_second(self) -> None:
        """Moves the emulated clock just past the next whole second: a fresh rate-limit window
        with (almost) a whole second of real time ahead of it."""
        now = self.em.emulator.clock.now()
        self.em.control.advance(math.floor(now) + 1.002 - now)

    def tts(self, content: str = "Hello there, this is a test.", voice: str = "zhida", source: int = 3,
            token: str | None = None, **extra: Any) -> dict[str, Any]:
        self.next_second()
        return self.post("/voice/v3/textToSpeech", {"languageId": MANDARIN, "content": content, "voiceId": voice,
                                                    "voiceSource": source, "voiceClone": 0, **extra}, token)

    def system_task(self, avatar: int = 9, audio_url: str = DOC_AUDIO, token: str | None = None,
                    **extra: Any) -> dict[str, Any]:
        self.next_second()
        return self.post("/video/v3/submitSystemLipTask", {
            "taskName": "t", "videoRatio": 2, "digitalHuman": {"digitalHumanId": avatar},
            "audio": {"audioUrl": audio_url}, **extra}, token)

    def lip_task(self, video: str = DOC_VIDEO, audio: str = DOC_AUDIO, token: str | None = None,
                 **extra: Any) -> dict[str, Any]:
        self.next_second()
        return self.post("/video/v3/submitLipTask", {"taskName": "test", "videoUrl": video, "audioUrl": audio,
                                                     **extra}, token)

    def subtitle_task(self, url: str = DOC_SUBTITLE_VIDEO, token: str | None = None, **extra: Any) -> dict[str, Any]:
        self.next_second()
        return self.post("/subtitle_removal/v3/submitTask", {"taskName": "sub", "srcFileUrl": url, **extra}, token)

    def stage(self, data: bytes, ext: str) -> str:
        """Puts real bytes behind a URL this emulator serves (as if uploaded elsewhere)."""
        emulator = self.em.emulator
        blob, size = emulator.store_blob(data)
        record = emulator.add_upload(blob, size, ext)
        return emulator.file_url(self.em.base_url, record)


@pytest.fixture
def kr(emulator_factory: Any) -> Any:
    return emulator_factory("kreado")  # the factory checks every answer against the contract


@pytest.fixture
def api(kr: RunningEmulator) -> Api:
    return Api(kr)
