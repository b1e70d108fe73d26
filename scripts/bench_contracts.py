#!/usr/bin/env python3
"""Benchmark: what the contract check costs per response (the emulator's contract layer runs it on
every answer). Real answers of the emulators, checked open (the schema as written) and closed
(undocumented fields reported too, as `emulators verify` does), plus one request through the
whole in-process stack with the layer on and off.

    python scripts/bench_contracts.py [--seconds 1]
"""
from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from emulators import providers
from emulators.engine.contracts import ResponseCapture, check_exchange, contract_for
from emulators.engine.emulator import Emulator
from timing import per_call  # scripts/timing.py (this folder is on the path)

CASES = [  # provider, method, path, headers, json body
    ("voiceclone", "GET", "/api/v1/credits", {"Authorization": "Bearer test-token"}, None),
    ("voiceclone", "GET", "/api/v1/voices?limit=20", {"Authorization": "Bearer test-token"}, None),
    ("kai", "GET", "/api/v1/usage", {"Authorization": "Bearer test-token"}, None),
    ("kreado", "POST", "/apis/open/avatar/v3/list", {"apiToken": "test-token"},
     {"cloneDigitalHuman": 0, "supportTypeId": 100, "pageIndex": 1, "pageSize": 50}),
    ("kie", "GET", "/api/v1/chat/credit", {"Authorization": "Bearer test-token"}, None),
]


async def answer(em: Emulator, method: str, path: str, headers: dict[str, str], body: Any) -> ResponseCapture:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=em), base_url="http://bench") as client:
        r = await client.request(method, path, headers=headers, json=body)
    capture = ResponseCapture()
    capture.start(r.status_code, [(k.encode(), v.encode()) for k, v in r.headers.multi_items()])
    capture.feed(r.content)
    return capture


async def stack(em: Emulator, method: str, path: str, headers: dict[str, str], body: Any, n: int) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=em), base_url="http://bench") as client:
        started = time.perf_counter()
        for _ in range(n):
            await client.request(method, path, headers=headers, json=body)
        return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{'answer':<48} {'bytes':>7} {'open µs':>9} {'closed µs':>10}")
    for provider_id, method, path, headers, body in CASES:
        provider = providers.get(provider_id)
        em = Emulator(provider)
        capture = asyncio.run(answer(em, method, path, headers, body))
        contract = contract_for(provider.contract_path)
        route = path.split("?")[0]
        assert not check_exchange(contract, method, route, capture, closed=True), "emulator off contract"
        open_us = per_call(lambda: check_exchange(contract, method, route, capture), args.seconds)
        closed_us = per_call(lambda: check_exchange(contract, method, route, capture, closed=True), args.seconds)
        size = len(capture.body or b"")
        print(f"{provider_id + ' ' + method + ' ' + path:<48} {size:>7} {open_us:>9.1f} {closed_us:>10.1f}")
    print()
    provider_id, method, path, headers, body = CASES[0]
    for checked in (False, True):
        em = Emulator(providers.get(provider_id), contract_check=checked)
        em.provider  # noqa: B018
        asyncio.run(stack(em, method, path, headers, body, 200))  # warm up
        us = asyncio.run(stack(em, method, path, headers, body, 2000))
        print(f"whole in-process request {method} {path}, contract layer {'on ' if checked else 'off'}: {us:.0f} µs")


if __name__ == "__main__":
    main()
