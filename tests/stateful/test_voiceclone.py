"""voiceclone as a state machine: TTS and voice clones by three tokens, on a clock that crosses
job phases and months (regular credits refill at resetAt), with forced job states, snapshots and
rewinds. See machinery.py for the checks every provider shares; here besides:
- a request is charged exactly its price (1 per UTF-8 byte, 1000 per clone) or refused with
  USAGE_LIMIT_EXCEEDED and nothing taken, and regular credits go before permanent ones;
- a refund after the month rolled over returns only the permanent part (regular credits of the
  old month would have expired; a charge of regular credits only gets nothing back);
- a token's voice list holds exactly its own voices (plus public SYSTEM voices), with the states
  the engine holds; another token's voice is NOT_FOUND for TTS.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import httpx
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from emulators.engine.clock import start_of_next_month
from emulators.media.audio import tone
from tests.stateful.machinery import INDEX, EmulatorMachine, Harness, RateRule, pick, run_machine

ARIA = "clsys00000000000000000001"  # a public SYSTEM voice
PRIVATE_SYSTEM = "clsys00000000000000000005"  # a private SYSTEM voice: nobody may use it
TEXTS = ("Hello there.", "Ça va, très bien !", "x" * 300, "EMULATOR_FAIL this one", "短い文")
WAV = tone(1.0, "wav")

# token -> account fields (regular before permanent; carol is rate limited)
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"regular": 1500, "permanent": 800, "monthlyCredits": 1500, "rateLimit": 1000},
    "bob": {"regular": 0, "permanent": 2500, "monthlyCredits": 0, "rateLimit": 1000},
    "carol": {"regular": 400, "permanent": 0, "monthlyCredits": 400, "rateLimit": 3, "rateWindowSeconds": 60},
}


class VoiceCloneMachine(EmulatorMachine):
    failure_states = ("FAILED",)

    def setup(self) -> None:
        self.m.extra["reset"] = {}
        self.m.extra["voices"] = {}  # voice id -> owner
        self.m.extra["speeches"] = []
        for token, fields in ACCOUNTS.items():
            self.seed_account(token, fields)

    def seed_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        view = super().seed_account(token, fields)
        reset_at = datetime.fromisoformat(view["resetAt"].replace("Z", "+00:00")).timestamp()
        self.m.extra["reset"][token] = (reset_at, view["monthlyCredits"])
        return view

    def top_up_fields(self, token: str, amount: int) -> dict[str, Any] | None:
        return {"regular": amount // 2, "permanent": amount - amount // 2}

    def pools_of(self, view: dict[str, Any]) -> dict[str, int]:
        assert view["credits"] == view["regular"] + view["permanent"]
        return {"regular": view["regular"], "permanent": view["permanent"]}

    def expected_pools(self, token: str) -> dict[str, int]:
        """The ledger replayed with the monthly refills: at each resetAt passed, `regular` goes
        back to monthlyCredits (every entry after a resetAt comes after its refill)."""
        pools = dict(self.m.baselines[token].pools)
        reset_at, monthly = self.m.extra["reset"][token]

        def roll(until: float) -> float:
            at = reset_at
            if until >= at:
                pools["regular"] = monthly
                while at <= until:
                    at = start_of_next_month(at)
            return at

        for entry in self.entries_of(token):
            reset_at = roll(entry.time)
            sign = -1 if entry.kind == "charge" else 1
            for pool, amount in entry.parts.items():
                pools[pool] += sign * amount
        roll(self.h.now())
        return pools

    def refunds_due(self, job: Any, charge: Any) -> list[dict[str, int]]:
        """The whole charge when the job was settled in the month it was charged; without its
        regular credits when settled in a later month (they would have expired: nothing at all
        for a charge of regular credits only). A job is settled at its end (`finishes_at`) or
        later, when the clock next moved past it: if a month began in between, either."""
        full = dict(charge.parts)
        expired = {k: v for k, v in full.items() if k != "regular"}
        ended, now = _month(job.finishes_at), _month(self.h.now())
        if _month(charge.time) == ended == now:
            return [full]
        if _month(charge.time) != ended:
            return [expired]
        return [full, expired]

    def extra_owned(self) -> Iterable[tuple[str, str]]:
        return self.m.extra["voices"].items()

    def rate_rule(self, token: str, method: str, path: str) -> RateRule | None:
        fields = ACCOUNTS[token]
        return RateRule("*", fields["rateLimit"], float(fields.get("rateWindowSeconds", 60)))

    def is_rate_limited(self, r: httpx.Response) -> bool:
        return r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"

    def poll(self, job_id: str, token: str) -> httpx.Response:
        return self.call(token, "GET", f"/api/v1/tts/{job_id}")

    def status_of(self, r: httpx.Response) -> Any:
        return r.json()["speech"]["status"]

    def is_not_found(self, r: httpx.Response) -> bool:
        return r.status_code == 404 and r.json()["code"] == "NOT_FOUND"

    def pollable(self) -> list[str]:
        return sorted(self.m.extra["speeches"])

    # -- rules ---------------------------------------------------------------------------------------
    def balance(self, token: str) -> int:
        return sum(self.expected_pools(token).values())

    def voices_for(self, token: str) -> list[str]:
        """Voices a token may try: its own, another's, a public and a private SYSTEM voice."""
        return [ARIA, PRIVATE_SYSTEM, *sorted(self.m.extra["voices"])]

    def usable(self, token: str, voice_id: str) -> bool:
        if voice_id == ARIA:
            return True
        if self.m.extra["voices"].get(voice_id) != token:
            return False
        return self.em.state.jobs[voice_id].state_at(self.h.now()) == "COMPLETED"

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), text=st.sampled_from(TEXTS), voice=INDEX,
          fmt=st.sampled_from(["mp3", "wav", None]))
    def text_to_speech(self, token: str, text: str, voice: int, fmt: str | None) -> None:
        voice_id = pick(self.voices_for(token), voice)
        body: dict[str, Any] = {"text": text, "voiceId": voice_id}
        if fmt:
            body["format"] = fmt
        cost = len(text.encode())
        before = self.expected_pools(token)
        ledger_len = len(self.em.state.ledger)
        r = self.call(token, "POST", "/api/v1/tts", json=body)
        if self.is_rate_limited(r):
            assert len(self.em.state.ledger) == ledger_len
            return
        if not self.usable(token, voice_id):
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", r.text
            assert len(self.em.state.ledger) == ledger_len
            return
        if cost > sum(before.values()):
            assert r.status_code == 429 and r.json()["code"] == "USAGE_LIMIT_EXCEEDED", r.text
            assert r.json()["credits"] == sum(before.values()) and r.json()["needCredits"] == cost
            assert len(self.em.state.ledger) == ledger_len
            return
        assert r.status_code == 200, r.text
        speech_id = r.json()["speechId"]
        assert r.json()["creditsUsed"] == cost
        charge = list(self.em.state.ledger.values())[-1]
        assert (charge.kind, charge.token, charge.ref, charge.amount) == ("charge", token, speech_id, cost)
        regular = min(before["regular"], cost)  # regular credits go first
        assert charge.parts == {k: v for k, v in {"regular": regular, "permanent": cost - regular}.items() if v}
        self.created_job(speech_id, token)
        self.m.extra["speeches"].append(speech_id)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), n=st.integers(2, 6), text=st.sampled_from(TEXTS))
    def text_to_speech_burst(self, token: str, n: int, text: str) -> None:
        """Concurrent TTS requests: never more paid than the credits cover."""
        balance = self.balance(token)
        responses = self.call_many(token, "POST", "/api/v1/tts", [{"json": {"text": text, "voiceId": ARIA}}] * n)
        paid = [r for r in responses if r.status_code == 200]
        for r in responses:
            assert r.status_code == 200 or self.is_rate_limited(r) or r.json()["code"] == "USAGE_LIMIT_EXCEEDED", r.text
        self.check_burst(responses, paid, balance, len(text.encode()))
        for r in paid:
            self.created_job(r.json()["speechId"], token)
            self.m.extra["speeches"].append(r.json()["speechId"])

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), fail=st.booleans())
    def clone_voice(self, token: str, fail: bool) -> None:
        title = "EMULATOR_FAIL voice" if fail else f"{token}'s voice"
        before = self.balance(token)
        ledger_len = len(self.em.state.ledger)
        r = self.call(token, "POST", "/api/v1/voice-clone", files={"voice": ("me.wav", WAV, "audio/wav")},
                      data={"title": title, "tags": "a,b"})
        if self.is_rate_limited(r):
            return
        if before < 1000:
            assert r.status_code == 429 and r.json()["code"] == "USAGE_LIMIT_EXCEEDED", r.text
            assert len(self.em.state.ledger) == ledger_len
            return
        assert r.status_code == 200, r.text
        voice_id = r.json()["voiceId"]
        assert r.json()["voice"]["status"] == "PROCESSING"
        self.m.extra["voices"][voice_id] = token
        self.created_job(voice_id, token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)))
    def list_voices(self, token: str) -> None:
        r = self.call(token, "GET", "/api/v1/voices", params={"limit": 100, "type": "USER"})
        if self.is_rate_limited(r):
            return
        assert r.status_code == 200, r.text
        listed = {v["id"]: v["status"] for v in r.json()["voices"]}
        own = {v for v, owner in self.m.extra["voices"].items() if owner == token}
        assert set(listed) == own, f"{token} lists {sorted(listed)}, owns {sorted(own)}"
        for voice_id, status in listed.items():
            self.observe(voice_id, status)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)))
    def read_credits(self, token: str) -> None:
        r = self.call(token, "GET", "/api/v1/credits")
        if self.is_rate_limited(r):
            return
        assert r.status_code == 200, r.text
        pools = self.expected_pools(token)
        assert r.json()["credits"] == sum(pools.values())
        assert r.json()["breakdown"]["regular"] == pools["regular"]
        assert r.json()["breakdown"]["permanent"] == pools["permanent"]


def _month(ts: float) -> tuple[int, int]:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.year, dt.month


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness("voiceclone")
    yield h
    h.close()


def test_voiceclone_machine(harness: Harness) -> None:
    run_machine(VoiceCloneMachine.bind(harness))
