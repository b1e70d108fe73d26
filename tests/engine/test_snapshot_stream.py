"""`GET /_emulator/state` streams: other requests are answered while it runs, and what it shows
is the state as it was when it began (records changed or added meanwhile appear as they were,
or not at all), so a snapshot taken under load restores to a consistent state."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from emulators import providers
from emulators.engine.emulator import Emulator

AUTH = {"Authorization": "Bearer test-token"}
VOICE = "clsys00000000000000000001"


async def _speak(client: httpx.AsyncClient, text: str) -> str:
    r = await client.post("/api/v1/tts", headers=AUTH, json={"text": text, "voiceId": VOICE})
    assert r.status_code == 200, r.text
    return str(r.json()["speechId"])


def test_a_snapshot_streams_the_state_as_it_began_while_requests_go_on() -> None:
    em = Emulator(providers.get("voiceclone"))
    with em.lock, em.store.unit():
        em.backend.put_account("test-token", {"regular": 10**9, "rateLimit": 10**9})

    async def run() -> tuple[dict[str, Any], list[str], list[str], list[str]]:
        transport = httpx.ASGITransport(app=em)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            before = [await _speak(client, f"before {n}") for n in range(1200)]
            order: list[str] = []
            real_stream = em.snapshot_stream
            streaming = asyncio.Event()

            async def slow_stream(chunk_records: int = 500) -> Any:  # small chunks: many yields
                async for chunk in real_stream(chunk_records=50):
                    order.append("chunk")
                    streaming.set()
                    yield chunk

            em.snapshot_stream = slow_stream  # type: ignore[method-assign]

            async def meanwhile() -> list[str]:
                await streaming.wait()  # the snapshot has begun
                made = []
                for n in range(15):
                    made.append(await _speak(client, f"during {n}"))
                    order.append("request")
                return made

            snapshot_task = asyncio.ensure_future(client.get("/_emulator/state"))
            await asyncio.sleep(0)
            during = await meanwhile()
            snapshot = (await snapshot_task).json()
            return snapshot, before, during, order

    snapshot, before, during, order = asyncio.run(run())
    # the requests were answered while the snapshot was being made, not after it
    assert order[0] == "chunk" and "chunk" in order[order.index("request"):], order
    speeches = snapshot["backend"]["speeches"]
    assert set(before) == set(speeches)
    assert not set(during) & set(speeches), "a snapshot shows the state as it began"
    # consistent: the balance it shows is what the speeches it shows paid for
    account = snapshot["backend"]["accounts"]["test-token"]["wallet"]["pools"]
    paid = sum(s["creditsUsed"] for s in speeches.values())
    assert account["regular"] == 10**9 - paid
    assert {e["ref"] for e in snapshot["engine"]["ledger"].values()} == set(speeches)
    # and it restores exactly
    fresh = Emulator(providers.get("voiceclone"))
    fresh.restore(snapshot)
    assert json.loads(json.dumps(fresh.snapshot())) == snapshot
