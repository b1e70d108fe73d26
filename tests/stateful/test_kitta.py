"""Kitta AI as a state machine: v1 and v2 TTS (quota), voice models (private and public) and
lip-sync tasks (credits) by three tokens, the token in the header or in the body, on a clock that
crosses task phases. See machinery.py for the checks every provider shares; here besides:
- two pools per account, each moved only by its own kind of request: TTS takes one quota unit
  per character, lip-sync takes credits by the audio's whole seconds (5 each, at least 10), or
  the request is refused (429 INSUFFICIENT_QUOTA / INSUFFICIENT_CREDITS) and nothing is taken;
- a private voice model is its owner's alone (404 for anyone else); a public one anyone may use;
- a refunded task shows `credits_used: 0`.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import httpx
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from emulators.media.audio import make_test_audio, speech_duration
from tests.stateful.machinery import INDEX, EmulatorMachine, Harness, RateRule, pick, run_machine

ARIA = "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a"  # a seeded public voice model
WAV = make_test_audio(1.0, "wav")
TEXTS = ("Hello there.", "你好，世界", "x" * 120)
VIDEO = "https://cdn.example.com/face.mp4"
OUTSIDE_AUDIO = "https://cdn.example.com/voice.mp3"  # not ours: counted as 10 s
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"api_quota_remaining": 400, "credits": 150, "rate_limit": 1000},
    "bob": {"api_quota_remaining": 40, "credits": 55, "rate_limit": 1000},
    "carol": {"api_quota_remaining": 300, "credits": 100, "rate_limit": 3, "rate_window_seconds": 60},
}


class KittaMachine(EmulatorMachine):
    failure_states = ("failed",)

    def setup(self) -> None:
        self.m.extra["voices"] = {}  # model id -> [owner, visibility]
        self.m.extra["speech"] = []  # [audio url, owner, seconds]
        for token, fields in ACCOUNTS.items():
            self.seed_account(token, fields)

    def pools_of(self, view: dict[str, Any]) -> dict[str, int]:
        return {"quota": view["api_quota_remaining"], "credits": view["credits"]}

    def top_up_fields(self, token: str, amount: int) -> dict[str, Any] | None:
        return {"api_quota_remaining": amount, "credits": amount // 3}

    def extra_owned(self) -> Iterable[tuple[str, str]]:
        return ((voice_id, owner) for voice_id, (owner, _) in self.m.extra["voices"].items())

    def rate_rule(self, token: str, method: str, path: str) -> RateRule | None:
        fields = ACCOUNTS[token]
        return RateRule("*", fields["rate_limit"], float(fields.get("rate_window_seconds", 60)))

    def is_rate_limited(self, r: httpx.Response) -> bool:
        return r.status_code == 429 and r.json()["code"] == "RATE_LIMIT_EXCEEDED"

    def poll(self, job_id: str, token: str) -> httpx.Response:
        return self.call(token, "GET", "/api/open/lip-sync/query", params={"id": job_id})

    def status_of(self, r: httpx.Response) -> Any:
        data = r.json()["data"]
        moves = [e.kind for e in self.em.state.ledger.values() if e.ref == data["id"]]
        refunded = bool(moves) and moves[-1] == "refund"  # its last movement (forced endings move money again)
        assert data["credits_used"] == (0 if refunded else self.em.backend.state.tasks[data["id"]].credits_used)
        assert (data["result_url"] is not None) == (data["status"] == "completed")
        return data["status"]

    def is_not_found(self, r: httpx.Response) -> bool:
        return r.status_code == 404 and r.json()["code"] == "NOT_FOUND"

    def usable(self, token: str, voice_id: str) -> bool:
        if voice_id == ARIA:
            return True
        owner, visibility = self.m.extra["voices"][voice_id]
        return owner == token or visibility == "public"

    # -- rules ---------------------------------------------------------------------------------------
    @rule(token=st.sampled_from(sorted(ACCOUNTS)), voice=INDEX, text=st.sampled_from(TEXTS),
          version=st.sampled_from(["v1", "v1-cached", "v2"]), in_body=st.booleans())
    def text_to_speech(self, token: str, voice: int, text: str, version: str, in_body: bool) -> None:
        voice_id = pick([ARIA, *sorted(self.m.extra["voices"])], voice)
        if version == "v2":
            path, body = "/api/open/v2/speech/tts", {"voiceId": voice_id, "text": text}
        else:
            path, body = "/api/open/tts", {"reference_id": voice_id, "text": text, "cache": version == "v1-cached"}
        if in_body:
            body["token"] = token
        quota = self.expected_pools(token)["quota"]
        ledger_len = len(self.em.state.ledger)
        r = self.call(token, "POST", path, json=body, auth_header=not in_body)
        if self.is_rate_limited(r):
            assert len(self.em.state.ledger) == ledger_len
            return
        if not self.usable(token, voice_id):
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND", r.text
            assert len(self.em.state.ledger) == ledger_len
            return
        if len(text) > quota:
            assert r.status_code == 429 and r.json()["code"] == "INSUFFICIENT_QUOTA", r.text
            assert len(self.em.state.ledger) == ledger_len
            return
        assert r.status_code == 200, r.text
        charge = list(self.em.state.ledger.values())[-1]
        assert (charge.kind, charge.token, charge.parts) == ("charge", token, {"quota": len(text)})
        if version == "v1-cached":
            assert r.json()["characters_used"] == len(text) and r.json()["quota_remaining"] == quota - len(text)
            self.m.extra["speech"].append([r.json()["audio_url"], token, speech_duration(text)])
        else:
            assert r.headers["X-Characters-Used"] == str(len(text))
            assert r.headers["X-Quota-Remaining"] == str(quota - len(text))

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), visibility=st.sampled_from(["private", "public"]))
    def create_voice_model(self, token: str, visibility: str) -> None:
        r = self.call(token, "POST", "/api/open/create-model", files=[("audioFiles", ("me.wav", WAV, "audio/wav"))],
                      data={"name": f"{token}'s {visibility} voice", "visibility": visibility})
        if self.is_rate_limited(r):
            return
        assert r.status_code == 200, r.text
        self.m.extra["voices"][r.json()["modelId"]] = [token, visibility]

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), audio=INDEX, fail=st.booleans())
    def create_lip_sync(self, token: str, audio: int, fail: bool) -> None:
        """Audio from a cached TTS file (anyone's: a file URL is public) or from outside."""
        choices = [[OUTSIDE_AUDIO, None, 10.0], *self.m.extra["speech"]]
        audio_url, _, seconds = pick(choices, audio)
        price = max(10, math.ceil(max(1.0, min(60.0, seconds))) * 5)
        video = VIDEO + ("?EMULATOR_FAIL" if fail else "")
        credits = self.expected_pools(token)["credits"]
        ledger_len = len(self.em.state.ledger)
        r = self.call(token, "POST", "/api/open/lip-sync/create", json={"video_url": video, "audio_url": audio_url})
        if self.is_rate_limited(r):
            return
        if price > credits:
            assert r.status_code == 429 and r.json()["code"] == "INSUFFICIENT_CREDITS", r.text
            assert len(self.em.state.ledger) == ledger_len
            return
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["credits_used"] == price and data["remaining_credits"] == credits - price
        charge = list(self.em.state.ledger.values())[-1]
        assert (charge.kind, charge.token, charge.ref, charge.parts) == ("charge", token, data["id"], {"credits": price})
        self.created_job(data["id"], token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), n=st.integers(2, 6))
    def create_lip_sync_burst(self, token: str, n: int) -> None:
        """Concurrent lip-sync tasks (50 credits each): never more paid than the credits cover."""
        balance = self.expected_pools(token)["credits"]
        body = {"json": {"video_url": VIDEO, "audio_url": OUTSIDE_AUDIO}}
        responses = self.call_many(token, "POST", "/api/open/lip-sync/create", [body] * n)
        paid = [r for r in responses if r.status_code == 200]
        for r in responses:
            assert r.status_code == 200 or self.is_rate_limited(r) or r.json()["code"] == "INSUFFICIENT_CREDITS", r.text
        self.check_burst(responses, paid, balance, 50)
        for r in paid:
            self.created_job(r.json()["data"]["id"], token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), method=st.sampled_from(["GET", "POST"]))
    def read_profile(self, token: str, method: str) -> None:
        r = self.call(token, method, "/api/open/profile", **({"json": {}} if method == "POST" else {}))
        if self.is_rate_limited(r):
            return
        assert r.status_code == 200, r.text
        pools = self.expected_pools(token)
        assert (r.json()["api_quota_remaining"], r.json()["credits"]) == (pools["quota"], pools["credits"])


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness("kitta")
    yield h
    h.close()


def test_kitta_machine(harness: Harness) -> None:
    run_machine(KittaMachine.bind(harness))
