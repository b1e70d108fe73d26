"""kai under fuzzing: chat, transcriptions, both document endpoints (multipart with odd parts,
names and files), models and usage. kai counts every answered POST, errors included
(GET /api/v1/usage's total_requests and total_errors): those two counters are the only state
an error answer may change."""
from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from tests.fuzz.conftest import closing  # noqa: F401 (fixture)
from tests.fuzz.harness import Fuzzer, fuzz_operation, sweep_operation
from tests.fuzz.media import wav
from tests.fuzz.mutations import Auth, Spec, bearer
from tests.fuzz.wire import Part, Wire, file_part, text_part
from tests.kai.builders import png_with_metadata

TOKENS = ("poor-token", "pro-token", "trial-token", "trial-spent-token", "trial-ended-token", "free-token",
          "chat-only-token", "inactive-token", "expired-token", "nosub-token")
AUTH = Auth(bearer, TOKENS)
TEXT = b"Dear Max Mustermann, call me at +49 30 1234567 or max@example.com. IBAN DE89370400440532013000."


def transcription_parts() -> list[Part]:
    return [file_part("file", "hello.wav", wav(), "audio/wav"), text_part("model", "whisper-large-v3-turbo"),
            text_part("language", "en"), text_part("prompt", "greeting"), text_part("response_format", "verbose_json"),
            text_part("temperature", "0.2")]


def anonymize_parts() -> list[Part]:
    return [file_part("files[]", "letter.txt", TEXT, "text/plain"), text_part("pii_types[]", "name"),
            text_part("pii_types[]", "email"), text_part("pii_types[]", "iban")]


def strip_parts() -> list[Part]:
    return [file_part("file", "photo.png", png_with_metadata(), "image/png")]


def specs() -> list[Spec]:
    return [
        Spec("POST", "/api/v1/chat/completions", "json", examples=80, json={
            "model": "Meta-Llama-3_3-70B-Instruct", "messages": [
                {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
            "temperature": 0.7, "max_tokens": 64, "top_p": 0.9, "stream": False, "n": 1, "stop": ["\n\n"],
            "presence_penalty": 0, "frequency_penalty": 0.5}),
        Spec("POST", "/api/v1/audio/transcriptions", "multipart", parts=transcription_parts, examples=50),
        Spec("POST", "/api/v1/documents/anonymize", "multipart", parts=anonymize_parts, examples=50),
        Spec("POST", "/api/v1/documents/strip-metadata", "multipart", parts=strip_parts, examples=40),
        Spec("GET", "/api/v1/models", examples=15),
        Spec("GET", "/api/v1/usage", examples=15),
    ]


def counters(state: dict[str, Any]) -> None:
    accounts = {token: {k: v for k, v in account.items() if k not in ("total_requests", "total_errors")}
                for token, account in state["backend"]["accounts"].items()}
    state["backend"] = {**state["backend"], "accounts": accounts}


def counted_once(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """An error answer counts as one request and one error of one account, or not at all (it was
    refused before kai's gates: unknown token, rate limit, ...); never as a success."""
    problems = []
    for token, old in before["backend"]["accounts"].items():
        new = after["backend"]["accounts"][token]
        requests, errors = new["total_requests"] - old["total_requests"], new["total_errors"] - old["total_errors"]
        if (requests, errors) not in ((0, 0), (1, 1)):
            problems.append(f"{token}: total_requests +{requests}, total_errors +{errors} for one error answer")
    return problems


def planned(wire: Wire, response: httpx.Response) -> bool:
    """kai's documented trigger: input carrying EMULATOR_FAIL answers 500 internal_error."""
    return response.status_code == 500 and "EMULATOR_FAIL" in response.text


@pytest.fixture(scope="module")
def fuzzer(closing: list[Fuzzer]) -> Iterator[Fuzzer]:
    f = Fuzzer("kai", volatile=counters, planned_5xx=planned, error_check=counted_once)
    closing.append(f)
    for token in ("test-token", *TOKENS):
        f.control.set_account(token, processing_seconds=0)  # no real sleeping
    f.freeze_baseline()
    yield f


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.id)
def test_kai_fuzz(fuzzer: Fuzzer, spec: Spec) -> None:
    fuzz_operation(fuzzer, spec, AUTH)


@pytest.mark.parametrize("spec", [s for s in specs() if s.body != "none" or s.query], ids=lambda s: s.id)
def test_kai_sweep(fuzzer: Fuzzer, spec: Spec) -> None:
    """Every field, each with the values most likely to break it (mutations.SWEEP_*)."""
    sweep_operation(fuzzer, spec, AUTH)
