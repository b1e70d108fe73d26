"""kai as a state machine: chat completions, transcriptions and documents (anonymize, strip
metadata), usage and models by three tokens with a monthly cap, a trial and a tight rate limit,
on a clock that crosses minutes, days, the trial's end and months. kai keeps usage counters
instead of credits, so the machine keeps its own count of every token's requests and checks it
after every step against the control API (and `GET /api/v1/usage` when the token asks):
- a POST that passed every gate counts once, as ok (2xx) or as an error; chat adds its token
  usage; a trial counts successful requests until it ends; nothing else moves a counter, and a
  request moves only its own token's counters (tenancy);
- at the monthly cap (or the trial's limit) a POST is refused with 429 `usage_cap_exceeded` and
  is not counted; `X-Units-Remaining` is what is left after the request;
- every request of a usable token counts against its per-minute window (GETs too); refused ones
  (`rate_limit_exceeded`) move no usage counter; after the trial, calls other than usage get 403
  `subscription_inactive` and are not counted at all;
- counters start at zero in a new month (`trial_used` does not).
See machinery.py for the snapshot, restore and replay checks every provider shares.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from emulators.engine.clock import iso
from emulators.media.audio import make_test_audio
from tests.stateful.machinery import FROZEN_AT, EmulatorMachine, Harness, RateRule, run_machine

WAV = make_test_audio(1.0, "wav")
DOCUMENT = b"Contact John Smith at john.smith@example.com or +49 30 1234567 in Berlin.\n"
TRIAL_ENDS = FROZEN_AT + 2 * 86400
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"rate_limit_per_minute": 1000, "monthly_usage_cap": 6, "processing_seconds": 0},
    "bob": {"rate_limit_per_minute": 1000, "monthly_usage_cap": None, "processing_seconds": 0,
            "is_trial": True, "trial_ends_at": iso(TRIAL_ENDS), "trial_usage_limit": 4},
    "carol": {"rate_limit_per_minute": 3, "monthly_usage_cap": None, "processing_seconds": 0},
    # a POST keeps dave's one slot busy for 50 ms (real time): his bursts overlap
    "dave": {"rate_limit_per_minute": 1000, "monthly_usage_cap": 3, "processing_seconds": 0.05},
}
BUSY = "dave"
CHATS = {
    "hello": {"messages": [{"role": "user", "content": "Hello there"}]},
    "long": {"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Tell me about the weather in Berlin"}], "max_tokens": 5},
    "fail": {"messages": [{"role": "user", "content": "EMULATOR_FAIL please"}]},  # 500, counted as an error
    "invalid": {"messages": []},  # 400, counted as an error
}


@dataclass
class Usage:
    period: str
    total_requests: int = 0
    total_ok: int = 0
    total_errors: int = 0
    total_tokens_in: int = 0
    total_tokens_out: int = 0
    trial_used: int = 0


def period_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m")


class KaiMachine(EmulatorMachine):
    drop_keys = frozenset({"id", "created"})  # a chat completion's random id and its time

    def setup(self) -> None:
        self.m.extra["usage"] = {}
        for token, fields in ACCOUNTS.items():
            self.seed_account(token, fields)
            self.m.extra["usage"][token] = Usage(period_of(self.h.now()))

    # -- the model of the counters ------------------------------------------------------------------
    def usage(self, token: str) -> Usage:
        """The token's counters, started again if the month changed."""
        usage: Usage = self.m.extra["usage"][token]
        period = period_of(self.h.now())
        if usage.period != period:
            usage = self.m.extra["usage"][token] = Usage(period, trial_used=usage.trial_used)
        return usage

    def in_trial(self, token: str) -> bool:
        return bool(ACCOUNTS[token].get("is_trial")) and self.h.now() < TRIAL_ENDS

    def trial_over(self, token: str) -> bool:
        return bool(ACCOUNTS[token].get("is_trial")) and self.h.now() >= TRIAL_ENDS

    def capped(self, token: str) -> bool:
        usage = self.usage(token)
        if self.in_trial(token) and usage.trial_used >= ACCOUNTS[token]["trial_usage_limit"]:
            return True
        cap = ACCOUNTS[token]["monthly_usage_cap"]
        return cap is not None and usage.total_ok >= cap

    def units_remaining(self, token: str) -> int | None:
        cap = ACCOUNTS[token]["monthly_usage_cap"]
        return None if cap is None else max(0, cap - self.usage(token).total_ok)

    def rate_rule(self, token: str, method: str, path: str) -> RateRule | None:
        if self.trial_over(token) and path != "/api/v1/usage":
            return None  # refused before the rate limit: not counted
        return RateRule("*", ACCOUNTS[token]["rate_limit_per_minute"], 60.0)

    def is_rate_limited(self, r: httpx.Response) -> bool:
        return r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"

    def error_code(self, r: httpx.Response) -> str | None:
        if r.status_code < 400:
            return None
        return str(r.json()["error"]["code"])

    def post(self, token: str, path: str, tokens: tuple[int, int] | None = None, **kw: Any) -> httpx.Response:
        """A POST and what it must do to the counters."""
        capped = self.capped(token)
        r = self.call(token, "POST", path, **kw)
        if self.trial_over(token):
            assert r.status_code == 403 and self.error_code(r) == "subscription_inactive", r.text
            return r
        if self.is_rate_limited(r):
            return r
        if capped:
            assert r.status_code == 429 and self.error_code(r) == "usage_cap_exceeded", r.text
            assert r.headers["x-should-retry"] == "false"
            return r
        assert self.error_code(r) not in ("usage_cap_exceeded", "concurrent_request_in_progress"), r.text
        usage = self.usage(token)
        usage.total_requests += 1
        if 200 <= r.status_code < 300:
            usage.total_ok += 1
            if self.in_trial(token):
                usage.trial_used += 1
            if path.endswith("/chat/completions"):
                usage.total_tokens_in += r.json()["usage"]["prompt_tokens"]
                usage.total_tokens_out += r.json()["usage"]["completion_tokens"]
        else:
            usage.total_errors += 1
        remaining = self.units_remaining(token)
        assert r.headers.get("X-Units-Remaining") == (None if remaining is None else str(remaining))
        return r

    # -- rules -----------------------------------------------------------------------------------------
    @rule(token=st.sampled_from(sorted(set(ACCOUNTS) - {BUSY})), chat=st.sampled_from(sorted(CHATS)))
    def chat(self, token: str, chat: str) -> None:
        r = self.post(token, "/api/v1/chat/completions", json=CHATS[chat])
        if self.error_code(r) in ("subscription_inactive", "rate_limit_exceeded", "usage_cap_exceeded"):
            return
        expected = {"hello": 200, "long": 200, "fail": 500, "invalid": 400}[chat]
        assert r.status_code == expected, r.text
        if chat == "long":
            assert r.json()["usage"]["completion_tokens"] <= 5

    @rule(n=st.integers(2, 5))
    def chat_burst(self, n: int) -> None:
        """Concurrent chats on one slot (max_concurrent_requests 1, each holding it 50 ms):
        one is served and counted, the others are 429 `concurrent_request_in_progress` (counted
        against the window, not as usage); at the cap every one is `usage_cap_exceeded`."""
        token = BUSY
        capped, over = self.capped(token), self.trial_over(token)
        responses = self.call_many(token, "POST", "/api/v1/chat/completions", [{"json": CHATS["hello"]}] * n)
        codes = [self.error_code(r) for r in responses]
        admitted = [c for c in codes if c != "rate_limit_exceeded"]
        if over:
            assert set(codes) == {"subscription_inactive"}, codes
            return
        if capped:
            assert set(admitted) <= {"usage_cap_exceeded"}, codes
            return
        if admitted:
            assert sorted(admitted, key=str) == sorted([None] + ["concurrent_request_in_progress"] * (len(admitted) - 1),
                                                       key=str), codes
            served = next(r for r in responses if r.status_code == 200)
            usage = self.usage(token)
            usage.total_requests += 1
            usage.total_ok += 1
            usage.trial_used += self.in_trial(token)
            usage.total_tokens_in += served.json()["usage"]["prompt_tokens"]
            usage.total_tokens_out += served.json()["usage"]["completion_tokens"]

    @rule(token=st.sampled_from(sorted(set(ACCOUNTS) - {BUSY})))
    def transcribe(self, token: str) -> None:
        r = self.post(token, "/api/v1/audio/transcriptions", files={"file": ("a.wav", WAV, "audio/wav")})
        if self.error_code(r) not in ("subscription_inactive", "rate_limit_exceeded", "usage_cap_exceeded"):
            assert r.status_code == 200 and isinstance(r.json()["text"], str), r.text

    @rule(token=st.sampled_from(sorted(set(ACCOUNTS) - {BUSY})), strip=st.booleans())
    def document(self, token: str, strip: bool) -> None:
        if strip:
            r = self.post(token, "/api/v1/documents/strip-metadata", files={"file": ("note.txt", DOCUMENT, "text/plain")})
        else:
            r = self.post(token, "/api/v1/documents/anonymize", files={"files": ("note.txt", DOCUMENT, "text/plain")})
        if self.error_code(r) not in ("subscription_inactive", "rate_limit_exceeded", "usage_cap_exceeded"):
            assert r.status_code == 200, r.text
            if not strip:
                assert "John Smith" not in r.json()["data"][0]["sanitized_text"]

    @rule(token=st.sampled_from(sorted(set(ACCOUNTS) - {BUSY})))
    def read_usage(self, token: str) -> None:
        r = self.call(token, "GET", "/api/v1/usage")
        if self.is_rate_limited(r):
            return
        assert r.status_code == 200, r.text
        self.check_usage(token, r.json())

    @rule(token=st.sampled_from(sorted(set(ACCOUNTS) - {BUSY})))
    def list_models(self, token: str) -> None:
        r = self.call(token, "GET", "/api/v1/models")
        if self.trial_over(token):
            assert r.status_code == 403 and self.error_code(r) == "subscription_inactive", r.text
        elif not self.is_rate_limited(r):
            assert r.status_code == 200 and r.json()["object"] == "list", r.text

    def check_usage(self, token: str, shown: dict[str, Any], control: bool = False) -> None:
        """`shown`: GET /api/v1/usage, or the control API's account view (whose `is_trial` is
        the account's flag, not whether the trial still runs)."""
        usage = self.usage(token)
        expected = asdict(usage)
        trial_used = expected.pop("trial_used")
        assert {k: shown[k] for k in expected} == expected, f"{token}: {shown}, the model says {expected}"
        assert shown["usage_remaining"] == self.units_remaining(token)
        assert shown["is_trial"] == (bool(ACCOUNTS[token].get("is_trial")) if control else self.in_trial(token))
        if self.in_trial(token):
            assert shown["trial_usage_remaining"] == max(0, ACCOUNTS[token]["trial_usage_limit"] - trial_used)
        assert shown["status"] == ("inactive" if self.trial_over(token) else "active")

    def probe_requests(self) -> list[Any]:
        r = self.post("alice", "/api/v1/chat/completions", json=CHATS["hello"])
        return [(r.status_code, self.error_code(r))]

    @invariant()
    def counters_match_the_model(self) -> None:
        for token in self.tokens():
            view = self.h.control("GET", f"accounts/{token}")
            self.check_usage(token, view, control=True)
            assert view["trial_used"] == self.usage(token).trial_used


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness("kai")
    yield h
    h.close()


def test_kai_machine(harness: Harness) -> None:
    run_machine(KaiMachine.bind(harness))
