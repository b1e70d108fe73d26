"""Voice Clone & TTS: state and business rules (no HTTP here).

Credits: regular (monthly, refilled at resetAt) are spent before permanent. A job that ends
FAILED gives its credits back to the pools they came from (regular credits of a period that has
since rolled over are not returned: they would have expired anyway).
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from emulators.engine.clock import iso, parse_iso, start_of_next_month
from emulators.engine import values
from emulators.engine.jobs import Job, JobKind, carries_fail_marker
from emulators.engine.ledger import Wallet
from emulators.engine import fixtures as fixture_file
from emulators.engine.store import StateRoot
from emulators.engine.provider import Backend, PriceSettings
from emulators.media.audio import speech_duration

VOICE_JOB = JobKind("voice", phases=("PROCESSING",), success="COMPLETED", failure="FAILED")
SPEECH_JOB = JobKind("speech", phases=("PROCESSING",), success="COMPLETED", failure="FAILED")

FORMATS = ("mp3", "wav", "opus", "pcm")
VOICE_STATUSES = ("PROCESSING", "COMPLETED", "FAILED")
VOICE_TYPES = ("USER", "SYSTEM")
SORT_FIELDS = ("createdAt", "updatedAt", "title", "duration", "popularity")


class InvalidParameters(ValueError):
    pass


class NotFound(LookupError):
    pass


@dataclass(slots=True)
class Account:
    token: str
    userId: str
    wallet: Wallet  # pools: regular (spent first), permanent
    monthlyCredits: int  # what `regular` refills to at resetAt
    resetAt: float
    rateLimit: int
    rateWindowSeconds: float


@dataclass(slots=True)
class Voice:
    id: str
    owner: str | None  # token; None for SYSTEM voices
    type: str
    title: str
    description: str | None
    coverImage: str | None
    audioFile: str | None  # file id served at /files/
    duration: float
    tags: list[str]
    isPublic: bool
    popularity: float
    usageCount: int
    createdAt: float
    lastUsedAt: float | None = None
    jobId: str | None = None  # USER voices are processed as a job
    charge: dict[str, int] = field(default_factory=dict)
    chargedPeriod: float | None = None  # resetAt when charged (refunds after a rollover skip regular)


@dataclass(slots=True)
class Speech:
    id: str
    owner: str
    voiceId: str
    text: str
    format: str
    creditsUsed: int
    duration: float
    audioFile: str
    createdAt: float
    jobId: str
    charge: dict[str, int] = field(default_factory=dict)
    chargedPeriod: float | None = None


@dataclass
class VoiceCloneState(StateRoot):
    settings: PriceSettings
    accounts: dict[str, Account] = field(default_factory=dict)
    voices: dict[str, Voice] = field(default_factory=dict)
    speeches: dict[str, Speech] = field(default_factory=dict)


_BASE36 = bytes((string.ascii_lowercase + string.digits).encode()[b % 36] for b in range(256))


def new_id() -> str:
    """A cuid-like id, as the provider's ids look ("cl" + 23 base-36 characters)."""
    return "cl" + secrets.token_bytes(23).translate(_BASE36).decode()


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class VoiceCloneBackend(Backend):
    State = VoiceCloneState
    state: VoiceCloneState

    # -- seeding ---------------------------------------------------------------------------------
    @classmethod
    def seed(cls, emulator: Any, fixtures: Path) -> VoiceCloneBackend:
        settings = fixture_file.load(fixtures / "settings.yaml")
        state = VoiceCloneState(settings=PriceSettings(**settings))
        backend = cls(emulator, state)
        for token, spec in fixture_file.load(fixtures / "accounts.yaml")["accounts"].items():
            backend.put_account(token, spec)
        for spec in fixture_file.load(fixtures / "voices.yaml")["voices"]:
            created = parse_iso(spec["createdAt"])
            audio = emulator.add_generated(
                {"kind": "speech", "text": spec["sample"], "format": "mp3", "voice": spec["id"]}, "mp3",
                file_id=f"{spec['id']}-sample.mp3")
            state.voices[spec["id"]] = Voice(
                id=spec["id"], owner=None, type="SYSTEM", title=spec["title"],
                description=spec.get("description"), coverImage=spec.get("coverImage"),
                audioFile=audio.id, duration=speech_duration(spec["sample"]), tags=list(spec["tags"]),
                isPublic=bool(spec["isPublic"]), popularity=spec["popularity"],
                usageCount=spec["usageCount"], createdAt=created)
        return backend

    def on_bound(self) -> None:
        self._voices_of = self.state.voices.index(lambda v: v.owner)  # None: the SYSTEM voices

    # -- accounts ----------------------------------------------------------------------------------
    def account(self, token: str, now: float) -> Account | None:
        account = self.state.accounts.get(token)
        if account is not None:
            self._refill(account, now)
        return account

    def _refill(self, account: Account, now: float) -> None:
        """Monthly rollover: regular credits go back to the plan's amount at resetAt."""
        if now < account.resetAt:
            return
        self.state.accounts.touch(account.token)
        while account.resetAt <= now:
            account.resetAt = start_of_next_month(account.resetAt)
        account.wallet.pools["regular"] = account.monthlyCredits

    def account_view(self, token: str) -> dict[str, Any] | None:
        account = self.account(token, self.emulator.clock.now())
        if account is None:
            return None
        pools = account.wallet.pools
        return {
            "token": token, "userId": account.userId,
            "credits": pools["regular"] + pools["permanent"],
            "regular": pools["regular"], "permanent": pools["permanent"],
            "monthlyCredits": account.monthlyCredits, "resetAt": iso(account.resetAt),
            "rateLimit": account.rateLimit, "rateWindowSeconds": account.rateWindowSeconds,
        }

    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        allowed = {"userId": str, "regular": int, "permanent": int, "monthlyCredits": int,
                   "resetAt": str, "rateLimit": int, "rateWindowSeconds": (int, float)}
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"unknown account field {name!r}")
            if isinstance(value, bool) or not isinstance(value, allowed[name]):
                raise ValueError(f"{name} has the wrong type")
            if name in ("regular", "permanent", "monthlyCredits", "rateLimit"):
                values.whole(name, value, 1 if name == "rateLimit" else 0)
            if name == "rateWindowSeconds":
                values.window_seconds(name, value)
        reset_at = values.time("resetAt", fields["resetAt"]) if "resetAt" in fields else None
        now = self.emulator.clock.now()
        account = self.state.accounts.get(token)
        if account is None:
            account = Account(
                token=token, userId=f"user_{secrets.token_hex(6)}",
                wallet=Wallet({"regular": 0, "permanent": 0}), monthlyCredits=0,
                resetAt=start_of_next_month(now), rateLimit=100, rateWindowSeconds=60.0)
            self.state.accounts[token] = account
        else:
            self.state.accounts.touch(token)
        pools = account.wallet.pools
        if "userId" in fields:
            account.userId = fields["userId"]
        if "monthlyCredits" in fields:
            account.monthlyCredits = fields["monthlyCredits"]
        if "regular" in fields:
            pools["regular"] = fields["regular"]
        if "permanent" in fields:
            pools["permanent"] = fields["permanent"]
        if reset_at is not None:
            account.resetAt = reset_at
        if "rateLimit" in fields:
            account.rateLimit = fields["rateLimit"]
        if "rateWindowSeconds" in fields:
            account.rateWindowSeconds = float(fields["rateWindowSeconds"])
        view = self.account_view(token)
        assert view is not None
        return view

    def credits(self, account: Account) -> dict[str, Any]:
        pools = account.wallet.pools
        return {"credits": pools["regular"] + pools["permanent"],
                "breakdown": {"regular": pools["regular"], "permanent": pools["permanent"],
                              "resetAt": iso(account.resetAt)}}

    # -- voices ------------------------------------------------------------------------------------
    def voice_status(self, voice: Voice, now: float) -> str:
        if voice.jobId is None:
            return "COMPLETED"
        job = self.emulator.job(voice.jobId)
        return job.state_at(now) if job else "FAILED"

    def _updated_at(self, voice: Voice, job_id: str | None, now: float) -> float:
        t = voice.createdAt
        job = self.emulator.job(job_id) if job_id else None
        if job is not None:
            state = job.state_at(now)
            entered = job.forced_at if job.forced_state is not None else job.entered_at(state)
            t = max(t, entered or t)
        return max(t, voice.lastUsedAt or t)

    def clone_voice(self, account: Account, blob: str, size: int, fmt: str, duration: float,
                    title: str | None, description: str | None, cover_image: str | None,
                    tags: list[str], filename: str | None, now: float) -> Voice:
        limits = self.state.settings.limits
        if size > limits["voice_max_bytes"]:
            raise InvalidParameters("File size exceeds 20MB limit")
        if title is not None and len(title) > limits["title_max_chars"]:
            raise InvalidParameters(f"Title must be at most {limits['title_max_chars']} characters")
        if description is not None and len(description) > limits["description_max_chars"]:
            raise InvalidParameters(
                f"Description must be at most {limits['description_max_chars']} characters")
        owned = len(self._voices_of.get(account.token))
        title = title or f"Voice Clone {owned + 1}"
        voice_id = new_id()
        fail = carries_fail_marker(title, description, cover_image, tags, filename)
        with self.emulator.lock:
            parts = self.emulator.charge(account.token, account.wallet, self.state.settings.prices["voice_clone"], voice_id)
            record = self.emulator.add_upload(blob, size, fmt, owner=account.token, name=filename)
            job = self.emulator.create_job(
                VOICE_JOB, voice_id, account.token, [self.state.settings.timings["voice_clone_seconds"]], fail)
            voice = Voice(
                id=voice_id, owner=account.token, type="USER", title=title, description=description,
                coverImage=cover_image, audioFile=record.id, duration=round(duration, 1), tags=tags,
                isPublic=False, popularity=0, usageCount=0, createdAt=now, jobId=job.id,
                charge=parts, chargedPeriod=account.resetAt)
            self.state.voices[voice_id] = voice
        return voice

    def list_voices(self, account: Account, now: float, page: int, limit: int, status: str | None,
                    vtype: str | None, sort_by: str, order: str) -> tuple[list[Voice], int]:
        voices = self.state.voices
        visible = [voices[i] for i in self._voices_of.get(account.token)]
        visible += [v for v in (voices[i] for i in self._voices_of.get(None)) if v.type == "SYSTEM" and v.isPublic]
        if status is not None:
            visible = [v for v in visible if self.voice_status(v, now) == status]
        if vtype is not None:
            visible = [v for v in visible if v.type == vtype]

        def key(v: Voice) -> tuple[Any, str]:
            if sort_by == "title":
                return (v.title.casefold(), v.id)
            if sort_by == "updatedAt":
                return (self._updated_at(v, v.jobId, now), v.id)
            return (getattr(v, sort_by), v.id)

        visible.sort(key=key, reverse=(order == "desc"))
        start = (page - 1) * limit
        return visible[start:start + limit], len(visible)

    def voice_json(self, voice: Voice, now: float, audio_url: str | None) -> dict[str, Any]:
        return {
            "id": voice.id, "title": voice.title, "description": voice.description,
            "coverImage": voice.coverImage, "audioUrl": audio_url, "duration": voice.duration,
            "status": self.voice_status(voice, now), "type": voice.type, "isPublic": voice.isPublic,
            "popularity": voice.popularity, "tags": voice.tags, "usageCount": voice.usageCount,
            "createdAt": iso(voice.createdAt), "updatedAt": iso(self._updated_at(voice, voice.jobId, now)),
        }

    # -- speech ------------------------------------------------------------------------------------
    def create_speech(self, account: Account, text: str, voice_id: str, fmt: str, now: float) -> Speech:
        size = utf8_bytes(text)
        if size > self.state.settings.limits["tts_max_bytes"]:
            raise InvalidParameters("Text exceeds maximum length of 5000 bytes")
        voice = self.state.voices.get(voice_id)
        usable = voice is not None and (
            voice.owner == account.token or (voice.type == "SYSTEM" and voice.isPublic))
        if voice is None or not usable or self.voice_status(voice, now) != "COMPLETED":
            raise NotFound("Voice not found or not available")
        cost = size * self.state.settings.prices["tts_per_byte"]
        speech_id = new_id()
        timings = self.state.settings.timings
        seconds = timings["tts_base_seconds"] + timings["tts_seconds_per_byte"] * size
        with self.emulator.lock:
            parts = self.emulator.charge(account.token, account.wallet, cost, speech_id)
            record = self.emulator.add_generated(
                {"kind": "speech", "text": text, "format": fmt, "voice": voice.id}, fmt,
                owner=account.token)
            job = self.emulator.create_job(SPEECH_JOB, speech_id, account.token, [seconds],
                                           carries_fail_marker(text))
            speech = Speech(id=speech_id, owner=account.token, voiceId=voice.id, text=text, format=fmt,
                            creditsUsed=cost, duration=speech_duration(text), audioFile=record.id,
                            createdAt=now, jobId=job.id, charge=parts, chargedPeriod=account.resetAt)
            self.state.speeches[speech_id] = speech
            self.state.voices.touch(voice.id)
            voice.usageCount += 1
            voice.lastUsedAt = now
        return speech

    def speech(self, account: Account, speech_id: str) -> Speech:
        speech = self.state.speeches.get(speech_id)
        if speech is None or speech.owner != account.token:
            raise NotFound("Speech not found or access denied")
        return speech

    def speech_status(self, speech: Speech, now: float) -> str:
        job = self.emulator.job(speech.jobId)
        return job.state_at(now) if job else "FAILED"

    def speech_updated_at(self, speech: Speech, now: float) -> float:
        job = self.emulator.job(speech.jobId)
        if job is None:
            return speech.createdAt
        if job.forced_state is not None and job.forced_at is not None:
            return job.forced_at
        return job.entered_at(job.state_at(now)) or speech.createdAt

    # -- job completion ------------------------------------------------------------------------------
    def recharge(self, job: Job, now: float) -> None:
        table = self.state.voices if job.kind == "voice" else self.state.speeches
        account = self.state.accounts.get(job.owner)
        if job.id not in table or account is None:
            return
        self._refill(account, now)
        parts = self.emulator.recharge(account.token, account.wallet, job.id)
        item = table.touch(job.id)
        item.charge, item.chargedPeriod = parts, account.resetAt

    def on_job_finished(self, job: Job, now: float) -> None:
        """A FAILED voice or speech refunds its charge."""
        kind = job.kind
        item: Voice | Speech | None = (self.state.voices if kind == "voice" else self.state.speeches).get(job.id)
        if item is None or job.state_at(now) != "FAILED" or not item.charge:
            return
        account = self.state.accounts.get(job.owner)
        if account is None:
            return
        self._refill(account, now)
        parts = dict(item.charge)
        if item.chargedPeriod is not None and item.chargedPeriod != account.resetAt:
            parts.pop("regular", None)  # that month's regular credits have expired
        if parts:
            self.emulator.refund(account.token, account.wallet, parts, job.id)
        (self.state.voices if kind == "voice" else self.state.speeches).touch(job.id)
        item.charge = {}

