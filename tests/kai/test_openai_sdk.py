"""The official `openai` package, unmodified except for its base URL, against the emulator on a
real socket: listing, chat, transcriptions in all five formats, every documented error as the
SDK's own exception class, and the SDK's retry logic."""
from __future__ import annotations

import io
import time
from typing import Any, Iterator

import openai
import pytest

from emulators.media.audio import make_test_audio, synthesize
from emulators.pytest_plugin import RunningEmulator

KNOWN = "Der Patient berichtet über anhaltende Kopfschmerzen seit zwei Wochen."


@pytest.fixture
def server(emulator_factory: Any) -> Iterator[RunningEmulator]:
    em = emulator_factory("kai", server=True)
    for token in ("test-token", "pro-token", "chat-only-token", "free-token"):
        em.control.set_account(token, processing_seconds=0)
    yield em
    bad = em.control.violations("response")
    assert not bad, bad


def client(em: RunningEmulator, token: str = "test-token", retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=em.api_url, api_key=token, max_retries=retries, timeout=20)


def test_models_list(server: RunningEmulator) -> None:
    models = client(server).models.list()
    assert [m.id for m in models] == ["Meta-Llama-3_3-70B-Instruct", "mistral-nemo-instruct-2407",
                                      "whisper-large-v3-turbo"]
    assert all(m.object == "model" and m.owned_by == "kai" for m in models)


def test_chat_completion(server: RunningEmulator) -> None:
    c = client(server)
    completion = c.chat.completions.create(
        model="Meta-Llama-3_3-70B-Instruct",
        messages=[{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": "Hello!"}],
        temperature=0.7, max_tokens=1024)
    assert completion.choices[0].message.content == "Hello! How can I help you today?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 34
    assert completion._request_id and completion._request_id.startswith("req_")
    cut = c.chat.completions.create(model="mistral-nemo-instruct-2407", max_tokens=2,
                                    messages=[{"role": "user", "content": "Say this is a test"}])
    assert cut.choices[0].finish_reason == "length" and cut.choices[0].message.content == "This is"


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "verbose_json", "vtt"])
def test_transcriptions_every_format(server: RunningEmulator, fmt: str) -> None:
    audio = io.BytesIO(synthesize(KNOWN, "mp3"))
    audio.name = "consult.mp3"
    result = client(server).audio.transcriptions.create(model="whisper-1", file=audio, language="de",
                                                        response_format=fmt)  # type: ignore[call-overload]
    if fmt == "json":
        assert result.text == KNOWN
    elif fmt == "verbose_json":
        assert result.text == KNOWN and result.language == "german"
        assert result.segments and result.segments[-1].end == pytest.approx(result.duration, abs=0.01)
    elif fmt == "text":
        assert result == KNOWN + "\n"
    elif fmt == "srt":
        assert result.startswith("1\n00:00:00,000 --> ") and KNOWN in result
    else:
        assert result.startswith("WEBVTT") and KNOWN in result


def _raises(exc: type[openai.APIStatusError], fn: Any) -> openai.APIStatusError:
    with pytest.raises(exc) as info:
        fn()
    err = info.value
    assert err.request_id and err.request_id.startswith("req_")
    return err


@pytest.mark.emulator(strict=False)  # each documented error needs its bad request, on purpose
def test_documented_errors_map_to_sdk_exceptions(server: RunningEmulator) -> None:
    hello = [{"role": "user", "content": "Hello!"}]
    c = client(server)
    err = _raises(openai.BadRequestError, lambda: c.chat.completions.create(model="gpt-4o", messages=hello))
    assert (err.status_code, err.code, err.type, err.param) == (400, "invalid_request", "invalid_request_error", "model")
    err = _raises(openai.BadRequestError, lambda: c.chat.completions.create(
        model="mistral-nemo-instruct-2407", messages=hello, temperature=3))
    assert (err.code, err.param) == ("invalid_request", "temperature")
    err = _raises(openai.BadRequestError, lambda: c.chat.completions.create(
        model="mistral-nemo-instruct-2407", messages=[{"role": "user", "content": ""}]))
    assert err.param == "messages.0.content"
    wav = io.BytesIO(make_test_audio(1.0, "wav"))
    wav.name = "a.wav"
    err = _raises(openai.BadRequestError, lambda: c.audio.transcriptions.create(model="whisper-1", file=wav, language="deu"))
    assert (err.code, err.param) == ("invalid_request", "language")
    err = _raises(openai.AuthenticationError, lambda: client(server, "wrong").models.list())
    assert (err.status_code, err.code, err.type, err.param) == (401, "invalid_api_key", "authentication_error", None)
    for token, code in (("inactive-token", "token_inactive"), ("expired-token", "token_expired"),
                        ("nosub-token", "subscription_inactive")):
        err = _raises(openai.PermissionDeniedError, lambda: client(server, token).models.list())
        assert (err.status_code, err.code, err.type) == (403, code, "permission_error")
    err = _raises(openai.PermissionDeniedError, lambda: client(server, "chat-only-token").audio.transcriptions.create(
        model="whisper-1", file=wav))
    assert err.code == "endpoint_not_allowed"
    err = _raises(openai.RateLimitError, lambda: client(server, "poor-token").chat.completions.create(
        model="Meta-Llama-3_3-70B-Instruct", messages=hello))
    assert (err.status_code, err.code, err.type) == (429, "usage_cap_exceeded", "rate_limit_error")
    err = _raises(openai.InternalServerError, lambda: c.chat.completions.create(
        model="Meta-Llama-3_3-70B-Instruct", messages=[{"role": "user", "content": "EMULATOR_FAIL"}]))
    assert (err.status_code, err.code, err.type) == (500, "internal_error", "server_error")
    server.control.set_settings(maintenance=True)
    err = _raises(openai.InternalServerError, lambda: c.models.list())
    assert (err.status_code, err.code, err.type) == (503, "service_unavailable", "server_error")
    server.emulator.settings.clear()


def test_rate_limit_error_and_sdk_retry_honours_retry_after(server: RunningEmulator) -> None:
    server.control.set_account("free-token", rate_limit_per_minute=2)
    # put the emulated clock 1.5 s before a minute boundary: the window ends 1.5 s from now
    now = server.emulator.clock.now()
    server.control.advance((60 - now % 60) - 1.5)
    hello = [{"role": "user", "content": "Hello!"}]
    c0 = client(server, "free-token", retries=0)
    c0.chat.completions.create(model="mistral-nemo-instruct-2407", messages=hello)
    c0.models.list()
    err = _raises(openai.RateLimitError, lambda: c0.models.list())
    assert (err.code, err.type) == ("rate_limit_exceeded", "rate_limit_error")
    wait = int(err.response.headers["retry-after-ms"]) / 1000
    assert 0 < wait <= 1.5 and err.response.headers["Retry-After"] in ("1", "2")
    server.control.clear_journal()
    started = time.monotonic()
    models = client(server, "free-token", retries=2).models.list()  # the SDK waits and retries
    elapsed = time.monotonic() - started
    assert [m.id for m in models] == ["mistral-nemo-instruct-2407"]
    statuses = [e["status"] for e in server.control.journal()]
    if statuses == [200]:  # the window had already turned (a slow machine): nothing to retry
        return
    assert statuses == [429, 200]
    assert elapsed < 4.0  # it used the server's short delay (the SDK would cap its own guess at 8 s)


def test_sdk_does_not_retry_a_usage_cap(server: RunningEmulator) -> None:
    server.control.clear_journal()
    c = client(server, "poor-token", retries=3)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="Meta-Llama-3_3-70B-Instruct", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "usage_cap_exceeded"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert [e["status"] for e in server.control.journal()] == [429]  # exactly one attempt
    assert time.monotonic() - started < 2


def test_sdk_retries_a_concurrency_429_until_the_slot_is_free(server: RunningEmulator) -> None:
    import threading

    server.control.set_account("test-token", processing_seconds=0.5)
    hello = [{"role": "user", "content": "Hello!"}]
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(client(server, retries=3).chat.completions.create(
        model="Meta-Llama-3_3-70B-Instruct", messages=hello)))
    first.start()
    time.sleep(0.2)
    server.control.clear_journal()
    second = client(server, retries=3).chat.completions.create(model="Meta-Llama-3_3-70B-Instruct", messages=hello)
    first.join()
    assert second.choices[0].message.content and results
    statuses = [e["status"] for e in server.control.journal() if e["path"].endswith("/chat/completions")]
    assert 429 in statuses and statuses[-1] == 200  # one of them waited for the slot, then ran
