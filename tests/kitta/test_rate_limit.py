"""429 for the rate limit and for too few credits, told apart by `code`; honest headers."""
from __future__ import annotations

import math

from tests.kitta.conftest import Api


def test_rate_limit_then_window_reset(kitta) -> None:
    limited = Api(kitta, "limited-token")  # 3 requests per 60 s
    kitta.control.advance(60 - kitta.emulator.clock.now() % 60 + 0.01)  # a fresh minute window
    statuses = [limited.get("/api/open/profile") for _ in range(3)]
    assert all(r.status_code == 200 for r in statuses)
    assert [r.headers["X-RateLimit-Remaining"] for r in statuses] == ["2", "1", "0"]
    assert statuses[0].headers["X-RateLimit-Limit"] == "3"
    before = kitta.emulator.clock.now()
    r = limited.get("/api/open/profile")
    after = kitta.emulator.clock.now()
    assert r.status_code == 429
    assert r.json()["code"] == "RATE_LIMIT_EXCEEDED" and r.json()["error"] == "Rate limit exceeded"
    wait = int(r.headers["Retry-After"])
    reset = int(r.headers["X-RateLimit-Reset"])
    assert 1 <= wait <= 60
    assert reset - after <= wait <= math.ceil(reset - before)  # whole seconds to the reset, rounded up
    # every endpoint counts: TTS is refused too, and charges nothing
    r = limited.tts("hello")
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMIT_EXCEEDED"
    kitta.control.advance(wait + 1)
    assert limited.profile()["api_quota_remaining"] == 10000


def test_v2_rate_limit_uses_the_v2_shape(kitta) -> None:
    limited = Api(kitta, "limited-token")
    for _ in range(3):
        limited.get("/api/open/profile")
    r = limited.tts_v2("hi")
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMIT_EXCEEDED" and "requestId" in r.json()


def test_credit_429_is_not_a_rate_limit(kitta) -> None:
    r = Api(kitta, "poor-token").lip_sync()
    assert r.status_code == 429 and r.json()["code"] == "INSUFFICIENT_CREDITS"
    assert "Retry-After" not in r.headers
    assert int(r.headers["X-RateLimit-Remaining"]) > 0
