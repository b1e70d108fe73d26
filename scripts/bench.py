#!/usr/bin/env python3
"""Benchmark: the voiceclone emulator against a bare Starlette app answering the same JSON.

One uvicorn worker each (uvloop + httptools, as `emulators serve` runs), in its own process;
the load comes from this process over loopback with keep-alive connections. Measures requests/s
and p99 latency of GET /api/v1/credits and of a TTS create + poll cycle, prints the ratios, and
how soon `emulators serve` answers its first request after launch.

    python scripts/bench.py [--seconds 5] [--connections 32]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

CREDITS = {"success": True, "credits": 150000,
           "breakdown": {"regular": 100000, "permanent": 50000, "resetAt": "2026-12-01T00:00:00.000Z"}}
VOICE = "clsys00000000000000000001"
AUTH = "Bearer test-token"


# -- the two servers ------------------------------------------------------------------------------
def bare_app():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    speech = {"id": "clbench", "text": "Hello, this is a test speech.", "format": "mp3",
              "status": "PROCESSING", "creditsUsed": 29, "createdAt": "2026-01-01T00:00:00.000Z"}

    async def credits(request: Request) -> JSONResponse:
        return JSONResponse(CREDITS)

    async def tts(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse({"success": True, "speechId": "clbench", "creditsUsed": 29, "speech": speech})

    async def poll(request: Request) -> JSONResponse:
        return JSONResponse({"success": True, "speech": {**speech, "audioUrl": None, "duration": None,
                                                         "updatedAt": speech["createdAt"],
                                                         "voice": {"id": VOICE, "title": "Aria",
                                                                   "coverImage": None, "type": "SYSTEM"}}})

    return Starlette(routes=[Route("/api/v1/credits", credits), Route("/api/v1/tts", tts, methods=["POST"]),
                             Route("/api/v1/tts/{speech_id}", poll)])


def emulator_app():  # type: ignore[no-untyped-def]
    from emulators import providers
    from emulators.engine.emulator import Emulator

    em = Emulator(providers.get("voiceclone"))
    with em.lock:
        em.backend.put_account("test-token", {"regular": 10**12, "rateLimit": 10**9})
    return em


def serve(kind: str, port: int) -> None:
    import uvicorn

    app = bare_app() if kind == "bare" else emulator_app()
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning",
                access_log=False, workers=1)


# -- the load -------------------------------------------------------------------------------------
async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> bytes:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return await reader.readexactly(length)


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTH}\r\n\r\n".encode()


def _post(path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTH}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data


async def load(port: int, scenario: str, seconds: float, connections: int) -> tuple[float, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    credits = _get("/api/v1/credits")
    create = _post("/api/v1/tts", {"text": "Hello, this is a test speech.", "voiceId": VOICE})

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (start := time.perf_counter()) < deadline:
                if scenario == "credits":
                    await _request(reader, writer, credits)
                else:
                    speech_id = json.loads(await _request(reader, writer, create))["speechId"]
                    await _request(reader, writer, _get(f"/api/v1/tts/{speech_id}"))
                latencies.append(time.perf_counter() - start)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(connections)])
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    return len(latencies) / elapsed, p99 * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not start")


def measure(kind: str, seconds: float, connections: int) -> dict[str, tuple[float, float]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    try:
        _wait_port(port)
        asyncio.run(load(port, "credits", 1.0, connections))  # warm-up
        return {s: asyncio.run(load(port, s, seconds, connections)) for s in ("credits", "tts-cycle")}
    finally:
        proc.terminate()
        proc.wait()


def first_request_after_launch() -> float:
    """Seconds from `emulators serve voiceclone` to its first answered API request."""
    import urllib.request

    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "emulators.cli", "serve", "voiceclone", "--port", str(port)],
                            stdout=subprocess.DEVNULL)
    try:
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/credits", headers={"Authorization": AUTH})
                with urllib.request.urlopen(req, timeout=1) as r:
                    r.read()
                return time.perf_counter() - started
            except OSError:
                if time.perf_counter() - started > 30:
                    raise
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["bare", "emulator"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3,
                        help="bare and emulator alternate this many times; each keeps its best round, "
                             "so background load on a shared machine skews neither side")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    print(f"cpus={os.cpu_count()} seconds={args.seconds} connections={args.connections} rounds={args.rounds}")
    bare: dict[str, tuple[float, float]] = {}
    emu: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for kind, best in (("bare", bare), ("emulator", emu)):
            for scenario, result in measure(kind, args.seconds, args.connections).items():
                if scenario not in best or result[0] > best[scenario][0]:
                    best[scenario] = result
    print(f"{'scenario':<12}{'bare req/s':>12}{'bare p99':>10}{'emu req/s':>12}{'emu p99':>10}{'ratio':>8}")
    for scenario in ("credits", "tts-cycle"):
        (b_rps, b_p99), (e_rps, e_p99) = bare[scenario], emu[scenario]
        print(f"{scenario:<12}{b_rps:>12.0f}{b_p99:>8.1f}ms{e_rps:>12.0f}{e_p99:>8.1f}ms{e_rps / b_rps:>8.0%}")
    launches = [first_request_after_launch() for _ in range(3)]
    print(f"first request after `emulators serve voiceclone`: median {statistics.median(launches):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in launches)})")


if __name__ == "__main__":
    main()
