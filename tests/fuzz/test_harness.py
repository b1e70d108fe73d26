"""The fuzz checks themselves fail when the behaviour they guard breaks: a handler that charges
and then answers an error, one that crashes, one that writes behind the store's back. And the
gateway's rollback passes them: a handler that charges and then raises leaves no trace."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterator

import pytest
from starlette.responses import Response

from emulators.engine.http import JSON, Call, Endpoint
from emulators.engine.routing import Router
from emulators.providers.voiceclone.exceptions import error
from tests.fuzz.harness import Fuzzer
from tests.fuzz.wire import Wire

CREDITS = Wire("GET", "/api/v1/credits", headers=[(b"authorization", b"Bearer test-token")])


@pytest.fixture
def fuzzer() -> Iterator[Fuzzer]:
    f = Fuzzer("voiceclone")
    f.freeze_baseline()
    yield f
    f.close()


def serve(fuzzer: Fuzzer, handler: Callable[[Call], Awaitable[Response]]) -> None:
    """`handler` answers GET /api/v1/credits from now on."""
    em = fuzzer.em
    endpoints = [e for e in em.provider.endpoints if e.name != "credits"]
    em.router = Router([*endpoints, Endpoint("GET", "/api/v1/credits", handler, "credits")])


def charge(call: Call) -> None:
    call.emulator.charge(call.token, call.account.wallet, 10, "fuzz-meta")


def test_a_returned_error_after_a_charge_is_caught(fuzzer: Fuzzer) -> None:
    async def charge_then_refuse(call: Call) -> Response:
        charge(call)
        return JSON({"code": "INVALID_PARAMETERS", "error": "refused after charging"}, status_code=400)

    serve(fuzzer, charge_then_refuse)
    with pytest.raises(AssertionError, match="an error answer changed the state"):
        fuzzer.check(CREDITS)


def test_a_raised_error_after_a_charge_is_rolled_back(fuzzer: Fuzzer) -> None:
    async def charge_then_raise(call: Call) -> Response:
        charge(call)
        raise error("INVALID_PARAMETERS", "refused after charging")

    serve(fuzzer, charge_then_raise)
    assert fuzzer.check(CREDITS).status_code == 400


def test_a_crash_is_caught(fuzzer: Fuzzer) -> None:
    async def crash(call: Call) -> Response:
        charge(call)
        raise RuntimeError("boom")

    serve(fuzzer, crash)
    with pytest.raises(AssertionError) as caught:
        fuzzer.check(CREDITS)
    assert "status 500" in str(caught.value) and "logged: unplanned error" in str(caught.value)
    assert "changed the state" not in str(caught.value)  # the gateway rolled the charge back


def test_a_write_behind_the_stores_back_is_caught(fuzzer: Fuzzer) -> None:
    async def untracked(call: Call) -> Response:
        account: Any = call.account
        account.rateLimit = 1  # no touch(): the store never hears of it
        return JSON({"success": True, "credits": 0})

    serve(fuzzer, untracked)
    with pytest.raises(AssertionError, match="audit: "):
        fuzzer.check(CREDITS)


def test_an_answer_outside_the_contract_is_caught(fuzzer: Fuzzer) -> None:
    async def odd_shape(call: Call) -> Response:
        return JSON({"nothing": "documented"}, status_code=400)

    serve(fuzzer, odd_shape)
    with pytest.raises(AssertionError, match="contract: "):
        fuzzer.check(CREDITS)


def test_an_await_after_a_write_is_caught(fuzzer: Fuzzer) -> None:
    async def charge_then_wait(call: Call) -> Response:
        charge(call)
        await asyncio.sleep(0.01)  # another request could commit meanwhile
        return JSON({"success": True, "credits": 0})

    serve(fuzzer, charge_then_wait)
    with pytest.raises(AssertionError, match="a handler awaited after it wrote"):
        fuzzer.check(CREDITS)


def test_a_later_answer_that_breaks_on_what_a_case_stored_is_caught() -> None:
    fuzzer = Fuzzer("voiceclone", readers=lambda wire, response: [CREDITS])
    try:
        fuzzer.freeze_baseline()

        async def crash(call: Call) -> Response:
            raise RuntimeError("cannot show what was stored")

        serve(fuzzer, crash)
        speech = Wire("POST", "/api/v1/tts", headers=[(b"authorization", b"Bearer test-token"),
                                                      (b"content-type", b"application/json")],
                      body=b'{"text": "Hello", "voiceId": "clsys00000000000000000001"}')
        with pytest.raises(AssertionError, match=r"(?s)after the case POST /api/v1/tts.*reader: GET /api/v1/credits"):
            fuzzer.check(speech)
    finally:
        fuzzer.close()
