from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from emulators.pytest_plugin import RunningEmulator

CHAT = "/api/v1/chat/completions"
AUDIO = "/api/v1/audio/transcriptions"
ANONYMIZE = "/api/v1/documents/anonymize"
STRIP = "/api/v1/documents/strip-metadata"
MODELS = "/api/v1/models"
USAGE = "/api/v1/usage"
HELLO = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello!"}]


class Api:
    """A kai client for one token (raw HTTP, to see statuses and headers)."""

    def __init__(self, em: RunningEmulator, token: str | None = "test-token") -> None:
        self.em = em
        self.http = em.client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def as_token(self, token: str | None) -> "Api":
        return Api(self.em, token)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def chat(self, messages: list[dict[str, Any]] | None = None, **fields: Any) -> httpx.Response:
        return self.post(CHAT, json={"messages": messages if messages is not None else HELLO, **fields})

    def usage(self) -> dict[str, Any]:
        r = self.get(USAGE)
        assert r.status_code == 200, r.text
        return r.json()

    def transcribe(self, data: bytes, filename: str = "audio.wav", **fields: str) -> httpx.Response:
        return self.post(AUDIO, files={"file": (filename, data, "application/octet-stream")}, data=fields)


def assert_error(r: httpx.Response, status: int, code: str, etype: str, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["type"] == etype, err
    assert err["param"] == param, err
    assert err["message"]
    assert r.headers["x-request-id"]
    return err


@pytest.fixture
def kai(emulator_factory: Any) -> Iterator[RunningEmulator]:
    """The kai emulator in-process; test-token's POSTs take no emulated processing time.
    After the test, every response it gave must have matched contracts/kai.yaml."""
    em = emulator_factory("kai")
    em.control.set_account("test-token", processing_seconds=0)
    yield em
    bad = em.control.violations("response")  # requests: the plugin's strict check
    assert not bad, [(e["method"], e["path"], e["status"], e["violations"]) for e in bad]


@pytest.fixture
def api(kai: RunningEmulator) -> Api:
    return Api(kai)
