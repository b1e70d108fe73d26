"""Property tests of the ledger: balance = seeded - charges + refunds, never negative, no charge
lost or doubled, also when requests race each other."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators import providers
from emulators.engine.emulator import Emulator
from emulators.engine.ledger import InsufficientFunds, Wallet
from tests.voiceclone.conftest import ARIA

AUTH = {"Authorization": "Bearer test-token"}


@given(regular=st.integers(0, 10_000), permanent=st.integers(0, 10_000),
       ops=st.lists(st.tuples(st.sampled_from(["charge", "refund"]), st.integers(0, 6_000)), max_size=60))
def test_wallet_balance_is_seed_minus_charges_plus_refunds(regular: int, permanent: int,
                                                           ops: list[tuple[str, int]]) -> None:
    wallet = Wallet({"regular": regular, "permanent": permanent})
    charged, refunded, receipts = 0, 0, []
    for op, amount in ops:
        if op == "charge":
            before = dict(wallet.pools)
            try:
                parts = wallet.charge(amount)
            except InsufficientFunds as exc:
                assert exc.available == sum(before.values()) < amount
                assert wallet.pools == before  # nothing taken
                continue
            assert sum(parts.values()) == amount
            if before["regular"] >= amount:
                assert parts.get("permanent", 0) == 0  # regular is spent first
            charged += amount
            receipts.append(parts)
        elif receipts:
            parts = receipts.pop(amount % len(receipts))
            wallet.refund(parts)
            refunded += sum(parts.values())
        assert all(v >= 0 for v in wallet.pools.values())
        assert wallet.total() == regular + permanent - charged + refunded


def _emulator(balance: int) -> Emulator:
    em = Emulator(providers.get("voiceclone"), contract_check=False)
    with em.lock:
        em.backend.put_account("test-token", {"regular": balance, "permanent": 0, "rateLimit": 10**6})
    return em


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(balance=st.integers(0, 400), sizes=st.lists(st.integers(1, 60), min_size=1, max_size=25),
       fail_every=st.integers(2, 5))
def test_concurrent_tts_never_overspends_and_failures_refund(balance: int, sizes: list[int],
                                                             fail_every: int) -> None:
    em = _emulator(balance)
    texts = [("EMULATOR_FAIL" if i % fail_every == 0 else "") + "x" * n for i, n in enumerate(sizes)]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=em), base_url="http://t") as client:
            return await asyncio.gather(*[
                client.post("/api/v1/tts", json={"text": t, "voiceId": ARIA}, headers=AUTH) for t in texts])

    responses = asyncio.run(run())
    ok = [(t, r.json()["creditsUsed"]) for t, r in zip(texts, responses) if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.status_code == 429 and r.json()["code"] == "USAGE_LIMIT_EXCEEDED" for r in refused)
    spent = sum(cost for _, cost in ok)
    assert all(cost == len(t.encode()) for t, cost in ok)
    pools = em.backend.state.accounts["test-token"].wallet.pools
    assert pools["regular"] == balance - spent >= 0
    for r in refused:  # a refusal says how much was there and how much was needed
        assert r.json()["credits"] < r.json()["needCredits"]
    ledger = em.state.ledger.values()
    assert sum(e.amount for e in ledger if e.kind == "charge") == spent
    em.clock.advance(120)
    with em.lock:
        em.settle(em.clock.now())
    refunds = sum(cost for t, cost in ok if "EMULATOR_FAIL" in t)
    assert pools["regular"] == balance - spent + refunds
    assert sum(e.amount for e in em.state.ledger.values() if e.kind == "refund") == refunds
    em.blobs.discard()


def test_threads_on_a_real_socket_cannot_overspend(emulator_factory) -> None:
    em = emulator_factory("voiceclone", server=True)
    em.control.set_account("test-token", regular=1000, permanent=0, rateLimit=10**6)

    def post(i: int) -> int:
        with httpx.Client(base_url=em.base_url) as client:
            r = client.post("/api/v1/tts", json={"text": "y" * 30, "voiceId": ARIA}, headers=AUTH)
            return r.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(post, range(60)))
    assert codes.count(200) == 1000 // 30  # 33 fit, not one more, not one less
    assert codes.count(429) == 60 - 33
    account = em.control.account("test-token")
    assert account["regular"] == 1000 - 33 * 30


@pytest.mark.parametrize("clones", [3])
def test_concurrent_voice_clones_with_room_for_one(emulator_factory, clones: int) -> None:
    from emulators.media.audio import make_test_audio

    em = emulator_factory("voiceclone", server=True)
    em.control.set_account("test-token", regular=1999, permanent=0)
    wav = make_test_audio(1.0, "wav")

    def clone(_: int) -> int:
        with httpx.Client(base_url=em.base_url) as client:
            return client.post("/api/v1/voice-clone", headers=AUTH,
                               files={"voice": ("v.wav", wav, "audio/wav")}).status_code

    with ThreadPoolExecutor(max_workers=clones) as pool:
        codes = sorted(pool.map(clone, range(clones)))
    assert codes == [200] + [429] * (clones - 1)
    assert em.control.account("test-token")["regular"] == 999
