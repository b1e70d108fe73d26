from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from emulators.pytest_plugin import RunningEmulator

# Phase lengths (emulated seconds) from fixtures/kie/models.yaml: waiting, queuing, generating.
IMAGE_TIMINGS = (1, 2, 8)
VIDEO_TIMINGS = (2, 5, 40)
AUDIO_TIMINGS = (1, 1, 4)


class Api:
    """A kie.ai client for one token."""

    def __init__(self, em: RunningEmulator, token: str | None = "test-token") -> None:
        self.em = em
        self.http = em.client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def credits(self) -> int:
        r = self.get("/api/v1/chat/credit")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def create(self, model: str, callback: str | None = None, **inputs: Any) -> httpx.Response:
        body: dict[str, Any] = {"model": model, "input": inputs}
        if callback is not None:
            body["callBackUrl"] = callback
        return self.post("/api/v1/jobs/createTask", json=body)

    def create_ok(self, model: str, callback: str | None = None, **inputs: Any) -> str:
        r = self.create(model, callback, **inputs)
        assert r.status_code == 200, r.text
        assert r.json()["code"] == 200
        return r.json()["data"]["taskId"]

    def record(self, task_id: str) -> dict[str, Any]:
        r = self.get("/api/v1/jobs/recordInfo", params={"taskId": task_id})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def result_urls(self, task_id: str) -> list[str]:
        data = self.record(task_id)
        assert data["state"] == "success", data
        return json.loads(data["resultJson"])["resultUrls"]

    def download(self, url: str) -> httpx.Response:
        return self.http.get(url)


@pytest.fixture
def kie(emulator_factory: Any) -> RunningEmulator:
    return emulator_factory("kie")


@pytest.fixture
def api(kie: RunningEmulator) -> Api:
    return Api(kie)
