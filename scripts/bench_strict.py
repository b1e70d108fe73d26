#!/usr/bin/env python3
"""Benchmark: what strict mode costs per request (`emulators serve --strict`, the pytest plugin's
default). First the request check alone (parameters, headers, body against the contract, closed
objects), then whole in-process requests with the contract layer off, checking answers, and
checking answers and requests (strict: the body is also read ahead of the handler).

    python scripts/bench_strict.py [--seconds 1]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from emulators import providers
from emulators.engine import strict
from emulators.engine.contracts import contract_for
from emulators.engine.emulator import Emulator
from timing import per_call  # scripts/timing.py (this folder is on the path)

BEARER = {"Authorization": "Bearer test-token"}
CASES: list[tuple[str, str, str, dict[str, str], Any]] = [  # provider, method, path, headers, json body
    ("voiceclone", "GET", "/api/v1/credits", BEARER, None),
    ("voiceclone", "GET", "/api/v1/voices?page=1&limit=20&sortBy=createdAt", BEARER, None),
    ("voiceclone", "POST", "/api/v1/tts", BEARER, {"text": "Hello there, a short sentence.",
                                                   "voiceId": "clsys00000000000000000001", "format": "mp3"}),
    ("kitta", "POST", "/api/open/tts", BEARER, {"reference_id": "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a",
                                                "text": "Hello there.", "format": "mp3", "cache": True,
                                                "version": "v3-turbo", "language": "en", "speed": 1}),
    ("kie", "POST", "/api/v1/jobs/createTask", BEARER, {"model": "nano-banana-2", "input": {
        "prompt": "a cat", "aspect_ratio": "1:1", "resolution": "1K", "output_format": "png"}}),
    ("kreado", "POST", "/apis/open/avatar/v3/list", {"apiToken": "test-token"},
     {"cloneDigitalHuman": 0, "supportTypeId": 100, "pageIndex": 1, "pageSize": 50}),
    ("kai", "POST", "/api/v1/chat/completions", BEARER, {"model": "mistral-nemo-instruct-2407", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello " * 50}]}),
]


async def stack(em: Emulator, method: str, path: str, headers: dict[str, str], body: Any,
                n: int) -> tuple[float, int]:
    """Microseconds per request, and the status of the last answer."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=em), base_url="http://bench") as client:
        started = time.perf_counter()
        for _ in range(n):
            r = await client.request(method, path, headers=headers, json=body)
        return (time.perf_counter() - started) / n * 1e6, r.status_code


# Money and request budgets large enough that the figures are of answers, not of rate limits.
GATES: dict[str, dict[str, Any]] = {
    "voiceclone": {"regular": 10**9, "rateLimit": 10**9},
    "kitta": {"tier": "pro", "api_quota_remaining": 10**9, "credits": 10**9, "rate_limit": 10**9},
    "kie": {"credits": 10**9, "rateLimit": 10**9},
    "kai": {"processing_seconds": 0, "rate_limit_per_minute": 10**9, "monthly_usage_cap": None},
}


def emulator(provider_id: str, mode: str) -> Emulator:
    em = Emulator(providers.get(provider_id), contract_check=mode != "off")
    if mode == "strict":
        strict.enable(em)
    with em.lock:
        if provider_id == "kreado":
            limits = {name: 10**9 for name in em.backend.state.settings.limits["per_second"]}
            em.backend.put_account("test-token", {"balance": "100000000.00", "limits": limits})
        else:
            em.backend.put_account("test-token", GATES[provider_id])
    return em


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=200, help="per round of a whole-stack figure")
    args = parser.parse_args()
    print(f"{'request':<52} {'bytes':>6} {'check µs':>9}")
    for provider_id, method, path, headers, body in CASES:
        contract = contract_for(providers.get(provider_id).contract_path)
        url = urlsplit(path)
        op = contract.operation(method, url.path)
        assert op is not None, path
        raw = json.dumps(body).encode() if body is not None else b""
        sent = {**{k.lower(): v for k, v in headers.items()}, "content-type": "application/json"}
        query = parse_qsl(url.query)
        problems = op.check_request(query=query, headers=sent, body=raw, closed=True)
        assert not problems, (path, problems)
        us = per_call(lambda: op.check_request(query=query, headers=sent, body=raw, closed=True), args.seconds)
        print(f"{provider_id + ' ' + method + ' ' + path:<52} {len(raw):>6} {us:>9.1f}")
    print()
    print("whole in-process requests, µs (best of 5 interleaved rounds; the status is the last answer's)")
    print(f"{'request':<52} {'status':>6} {'off':>7} {'answers':>8} {'strict':>7} {'strict - answers':>17}")
    for provider_id, method, path, headers, body in CASES:
        ems = {mode: emulator(provider_id, mode) for mode in ("off", "answers", "strict")}
        best = {mode: float("inf") for mode in ems}
        status = 0
        for _ in range(5):
            for mode, em in ems.items():
                us, status = asyncio.run(stack(em, method, path, headers, body, args.requests))
                best[mode] = min(best[mode], us)
        for em in ems.values():
            bad = [e for e in em.journal.as_json() if e["violations"]]
            assert not bad, bad[:1]
            em.blobs.discard()
        print(f"{provider_id + ' ' + method + ' ' + path:<52} {status:>6} {best['off']:>7.0f} {best['answers']:>8.0f} "
              f"{best['strict']:>7.0f} {best['strict'] - best['answers']:>17.0f}")


if __name__ == "__main__":
    main()
