"""Task callbacks: POST the finished task to its callBackUrl, signed, retried with backoff.

Deliveries run on one event loop in a daemon thread (shared by every kie emulator of the
process), whatever thread finished the task: the gateway, the background ticker, the control
API, or a test client whose own event loop lives only for one request. Each attempt is noted on
the task (`callbacks` in GET /_emulator/state). Every attempt goes through the engine's
outbound policy (emulators/engine/outbound.py): loopback receivers, plus the hosts the
`allowedHosts` setting (or the fixture's `allowed_hosts`) lists; never the emulators' control
API or ports. A refused URL is noted once and not retried.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from emulators.engine.clock import iso
from emulators.engine.outbound import OutboundPolicy, Refused

if TYPE_CHECKING:
    from emulators.providers.kie.models import KieBackend, Task

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def sign(key: str, task_id: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(taskId + "." + timestamp, key)), as kie's webhook verification says."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _delivery_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="kie-callbacks", daemon=True).start()
            _loop = loop
        return _loop


def schedule_callback(backend: KieBackend, task: Task, now: float) -> None:
    """Called under the emulator lock when a task with a callBackUrl finishes."""
    url = task.callBackUrl
    assert url is not None
    policy = backend.outbound()
    try:
        policy.screen(url, "callback")  # what needs no DNS, at once; the rest before each attempt
    except Refused as exc:
        task.callbacks = (*task.callbacks, {"time": iso(now), "attempt": 0, "status": None,
                                            "error": f"refused: {exc}"})
        return
    account = backend.state.accounts.get(task.owner)
    key = account.webhookHmacKey if account else ""
    data = backend.task_json(task, now, task.baseUrl)
    failed = data["state"] == "fail"
    payload = {"code": 501 if failed else 200,
               "msg": data["failMsg"] if failed else "Playground task completed successfully.",
               "data": data}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timeout = float(backend.state.settings["limits"]["callback_timeout_seconds"])
    coro = _deliver(backend, policy, task.id, url, body, key, backend.retry_delays(), timeout)
    asyncio.run_coroutine_threadsafe(coro, _delivery_loop())


async def _deliver(backend: KieBackend, policy: OutboundPolicy, task_id: str, url: str, body: bytes,
                   key: str, delays: list[float], timeout: float) -> None:
    for attempt in range(1, len(delays) + 2):
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "kie-emulator-webhook/1.0",
                   "X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": sign(key, task_id, timestamp)}
        note: dict[str, Any] = {"time": iso(backend.emulator.clock.now()), "attempt": attempt}
        try:
            status = await policy.post(url, body, headers, timeout)
            note["status"] = status
            ok = 200 <= status < 300
        except Refused as exc:  # checked again at every attempt (DNS may change): never retried
            note["status"] = None
            note["error"] = f"refused: {exc}"
            backend.note_callback(task_id, note)
            return
        except Exception as exc:  # connection refused, timeout, anything: retry
            note["status"] = None
            note["error"] = type(exc).__name__
            ok = False
        backend.note_callback(task_id, note)
        if ok or attempt > len(delays):
            return
        await asyncio.sleep(delays[attempt - 1])
