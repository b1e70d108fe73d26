"""A request that fails after it changed state is rolled back to the state it found; if it had
awaited something in between (a render in a thread), another request may have changed the same
record meanwhile, and that change must survive the rollback. Handlers therefore write last:
nothing awaits between a handler's first write and its answer.

Found by reading the handlers for "write, then await, then maybe fail" after the fuzzing of single
requests came back clean; kitta's TTS charged the quota before rendering the audio."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Iterator

import pytest

from emulators.providers.kitta import responses as kitta_responses
from emulators.pytest_plugin import RunningEmulator, start_emulator

ARIA = "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a"
AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def kitta() -> Iterator[RunningEmulator]:
    running, stop = start_emulator("kitta")
    yield running
    stop()


def quota(em: RunningEmulator) -> int:
    return int(em.emulator.backend.state.accounts["test-token"].quota.total())


@pytest.mark.parametrize("path, body", [
    ("/api/open/tts", {"reference_id": ARIA, "text": "aaaa"}),
    ("/api/open/v2/speech/tts", {"voiceId": ARIA, "text": "aaaa"}),
])
def test_a_failed_tts_does_not_undo_a_charge_made_meanwhile(kitta: RunningEmulator, monkeypatch: Any,
                                                            path: str, body: dict[str, Any]) -> None:
    entered, release = threading.Event(), threading.Event()

    def render_then_fail(recipe: dict[str, Any]) -> bytes:
        entered.set()
        release.wait(10)
        raise RuntimeError("the renderer failed")

    monkeypatch.setattr(kitta_responses, "render", render_then_fail)
    start = quota(kitta)

    async def scenario() -> tuple[int, int]:
        async with kitta.async_client() as client:
            first = asyncio.create_task(client.post(path, json=body, headers=AUTH))
            deadline = time.monotonic() + 10
            while not entered.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert entered.is_set()
            second = await client.post("/api/open/tts", headers=AUTH,
                                       json={"reference_id": ARIA, "text": "bbbbbbbb", "cache": True})
            release.set()
            return (await first).status_code, second.status_code

    failed, ok = asyncio.run(scenario())
    assert (failed, ok) == (500, 200)
    assert quota(kitta) == start - 8  # the second request's charge stands; the failed one took nothing
