"""Kitta AI: state and business rules (no HTTP here).

Two balances per account: `api_quota_remaining` (TTS characters, v1 and v2) and `credits`
(lip-sync tasks). A lip-sync task that ends `failed` gives its credits back.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from emulators.engine import sharing, values
from emulators.engine.files import FileRecord
from emulators.engine.jobs import Job, JobKind, carries_fail_marker
from emulators.engine.ledger import InsufficientFunds, Wallet
from emulators.engine import fixtures as fixture_file
from emulators.engine.store import StateRoot
from emulators.engine.provider import Backend, PriceSettings
from emulators.engine.render import speech_of, speech_text
from emulators.engine.ids import hex_id, uuid4
from emulators.media.audio import speech_duration

LIP_SYNC_JOB = JobKind("lipsync", phases=("pending", "processing"), success="completed", failure="failed")

TIERS = ("free", "pro", "enterprise")
ACCOUNT_STATUSES = ("active", "disabled")
VISIBILITIES = ("public", "private")


class NotEnough(Exception):
    """A balance is too small: `what` is "quota" or "credits"."""

    def __init__(self, what: str, available: int, needed: int) -> None:
        super().__init__(f"{what}: needs {needed}, has {available}")
        self.what = what
        self.available = available
        self.needed = needed


@dataclass(slots=True)
class Account:
    token: str
    user_id: str
    tier: str
    status: str
    quota: Wallet  # pools: {"quota": characters}
    credits: Wallet  # pools: {"credits": n}
    rate_limit: int
    rate_window_seconds: float


@dataclass(slots=True)
class VoiceModel:
    id: str
    owner: str | None  # token; None for the seeded public models
    title: str
    description: str | None
    visibility: str
    created_at: float
    audio_files: list[str] = field(default_factory=list)  # file ids of the uploaded samples


@dataclass(slots=True)
class LipSyncTask:
    id: str
    owner: str
    video_url: str
    audio_url: str
    created_at: float
    duration: float  # seconds of the result video
    credits_used: int
    charge: dict[str, int]
    # The result video's file id; "" for one derived from the task (KittaBackend.derived_file:
    # no record stored); tasks saved before derived results hold a stored record's id.
    result_file: str
    refunded: bool = False

    def result_id(self) -> str:
        return self.result_file or self.id + RESULT_SUFFIX


RESULT_SUFFIX = "-r.mp4"  # a derived result's file id: the task id and this


@dataclass
class KittaState(StateRoot):
    settings: PriceSettings
    accounts: dict[str, Account] = field(default_factory=dict)
    voices: dict[str, VoiceModel] = field(default_factory=dict)
    tasks: dict[str, LipSyncTask] = field(default_factory=dict)
    media_seconds: dict[str, float] = field(default_factory=dict)  # file id -> audio length


def new_model_id() -> str:
    return hex_id(16)


class KittaBackend(Backend):
    State = KittaState
    state: KittaState

    # -- seeding ---------------------------------------------------------------------------------
    @classmethod
    def seed(cls, emulator: Any, fixtures: Path) -> KittaBackend:
        raw = fixture_file.load(fixtures / "settings.yaml")
        settings = PriceSettings(prices={k: float(v) for k, v in raw["prices"].items()},
                            limits={k: int(v) for k, v in raw["limits"].items()},
                            timings={k: float(v) for k, v in raw["timings"].items()})
        backend = cls(emulator, KittaState(settings=settings))
        for token, spec in fixture_file.load(fixtures / "accounts.yaml")["accounts"].items():
            backend.put_account(token, spec)
        for spec in fixture_file.load(fixtures / "voices.yaml")["voices"]:
            backend.state.voices[spec["id"]] = VoiceModel(
                id=spec["id"], owner=None, title=spec["title"], description=spec.get("description"),
                visibility="public", created_at=0.0)
        return backend

    @property
    def limits(self) -> dict[str, int]:
        return self.state.settings.limits

    # -- accounts ----------------------------------------------------------------------------------
    def account(self, token: str) -> Account | None:
        return self.state.accounts.get(token)

    def profile(self, account: Account) -> dict[str, Any]:
        return {"user_id": account.user_id, "api_quota_remaining": account.quota.total(),
                "tier": account.tier, "credits": account.credits.total()}

    def account_view(self, token: str) -> dict[str, Any] | None:
        account = self.state.accounts.get(token)
        if account is None:
            return None
        return {"token": token, **self.profile(account), "status": account.status,
                "rate_limit": account.rate_limit, "rate_window_seconds": account.rate_window_seconds}

    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        allowed: dict[str, Any] = {"user_id": str, "tier": str, "status": str, "api_quota_remaining": int,
                                   "credits": int, "rate_limit": int, "rate_window_seconds": (int, float)}
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"unknown account field {name!r}")
            if isinstance(value, bool) or not isinstance(value, allowed[name]):
                raise ValueError(f"{name} has the wrong type")
            if name in ("api_quota_remaining", "credits", "rate_limit"):
                values.whole(name, value, 1 if name == "rate_limit" else 0)
            if name == "rate_window_seconds":
                values.window_seconds(name, value)
        if fields.get("tier", "free") not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}")
        if fields.get("status", "active") not in ACCOUNT_STATUSES:
            raise ValueError(f"status must be one of {ACCOUNT_STATUSES}")
        account = self.state.accounts.get(token)
        if account is None:
            account = Account(token=token, user_id=f"user_{secrets.token_hex(6)}", tier="free",
                              status="active", quota=Wallet({"quota": 0}), credits=Wallet({"credits": 0}),
                              rate_limit=60, rate_window_seconds=60.0)
            self.state.accounts[token] = account
        else:
            self.state.accounts.touch(token)
        for name in ("user_id", "tier", "status", "rate_limit"):
            if name in fields:
                setattr(account, name, fields[name])
        if "rate_window_seconds" in fields:
            account.rate_window_seconds = float(fields["rate_window_seconds"])
        if "api_quota_remaining" in fields:
            account.quota.pools["quota"] = fields["api_quota_remaining"]
        if "credits" in fields:
            account.credits.pools["credits"] = fields["credits"]
        view = self.account_view(token)
        assert view is not None
        return view

    # -- voices ------------------------------------------------------------------------------------
    def usable_voice(self, account: Account, voice_id: str) -> VoiceModel | None:
        voice = self.state.voices.get(voice_id)
        if voice is None or (voice.visibility != "public" and voice.owner != account.token):
            return None
        return voice

    def create_model(self, account: Account, name: str, description: str | None, visibility: str,
                     samples: list[tuple[str, int, str, str | None, float]], now: float) -> VoiceModel:
        """samples: (blob, size, ext, filename, seconds) of each validated upload."""
        with self.emulator.lock:
            files = []
            for blob, size, ext, filename, seconds in samples:
                record = self.emulator.add_upload(blob, size, ext, owner=account.token, name=filename)
                self.state.media_seconds[record.id] = seconds
                files.append(record.id)
            voice = VoiceModel(id=new_model_id(), owner=account.token, title=name, description=description,
                               visibility=visibility, created_at=now, audio_files=files)
            self.state.voices[voice.id] = voice
        return voice

    # -- text to speech ------------------------------------------------------------------------------
    def tts_cost(self, text: str) -> int:
        return math.ceil(len(text) * self.state.settings.prices["tts_quota_per_character"])

    def check_quota(self, account: Account, characters: int) -> None:
        """NotEnough when the quota cannot cover `characters`; takes nothing (a handler checks
        before its slow work and charges after it, so no await separates a charge from its answer)."""
        available = account.quota.total()
        if characters > available:
            raise NotEnough("quota", available, characters)

    def charge_quota(self, account: Account, characters: int, ref: str) -> int:
        """Takes `characters` from the quota; returns what is left."""
        with self.emulator.lock:
            try:
                self.emulator.charge(account.token, account.quota, characters, ref)
            except InsufficientFunds as exc:
                raise NotEnough("quota", exc.available, exc.needed) from None
            return account.quota.total()

    def speech_file(self, account: Account, text: str, fmt: str, voice_id: str) -> str:
        """A cached (cache=true) speech result, served at /files/{id}."""
        recipe = {"kind": "speech", "text": text, "format": fmt, "voice": voice_id}
        seconds = speech_duration(text)
        with self.emulator.lock:
            record = self.emulator.add_generated(recipe, fmt, owner=account.token)
            self.state.media_seconds[record.id] = seconds
        return record.id

    # -- lip-sync --------------------------------------------------------------------------------------
    def audio_seconds(self, url: str) -> float | None:
        """The length of an audio file this emulator serves, None for any other URL."""
        record = self.emulator.file_from_url(url)
        if record is None:
            return None
        seconds = self.state.media_seconds.get(record.id)
        recipe = record.recipe
        if seconds is None and recipe and recipe.get("kind") == "speech":
            seconds = speech_duration(speech_text(recipe))
        return seconds

    def lip_sync_price(self, seconds: float) -> int:
        prices = self.state.settings.prices
        return max(int(prices["lip_sync_min_credits"]),
                   math.ceil(math.ceil(seconds) * prices["lip_sync_credits_per_second"]))

    def create_lip_sync(self, account: Account, video_url: str, audio_url: str, now: float) -> LipSyncTask:
        limits, timings = self.limits, self.state.settings.timings
        seconds = self.audio_seconds(audio_url) or float(limits["lip_sync_default_seconds"])
        seconds = max(1.0, min(float(limits["lip_sync_max_seconds"]), seconds))
        price = sharing.number(self.lip_sync_price(seconds))
        task_id = uuid4()
        fail = carries_fail_marker(video_url, audio_url)
        with self.emulator.lock:
            try:
                parts = self.emulator.charge(account.token, account.credits, price, task_id)
            except InsufficientFunds as exc:
                raise NotEnough("credits", exc.available, exc.needed) from None
            durations = [timings["lip_sync_pending_seconds"],
                         timings["lip_sync_processing_base_seconds"]
                         + timings["lip_sync_processing_per_audio_second"] * seconds]
            job = self.emulator.create_job(LIP_SYNC_JOB, task_id, account.token, durations, fail)
            # What a fleet repeats (its input URLs, durations, prices) is shared.
            task = LipSyncTask(id=task_id, owner=account.token, video_url=sharing.text(video_url),
                               audio_url=sharing.text(audio_url), created_at=job.created_at,
                               duration=sharing.number(seconds), credits_used=price, charge=parts,
                               result_file="")
            self.state.tasks[task_id] = task
        return task

    def derived_file(self, file_id: str) -> FileRecord | None:
        """A lip-sync task's result video, made from the task once it has completed."""
        if not file_id.endswith(RESULT_SUFFIX):
            return None
        task = self.state.tasks.get(file_id[:-len(RESULT_SUFFIX)])
        if task is None or task.result_file or self.task_status(task, self.emulator.clock.now()) != "completed":
            return None
        recipe = {"kind": "video", "duration": round(task.duration, 2), "width": 640, "height": 360,
                  "format": "mp4", "with_audio": True, "seed": task.id,
                  **speech_of(self.emulator.file_from_url(task.audio_url))}
        return FileRecord.generated(file_id, "video/mp4", task.created_at, task.owner, recipe, None, pack=False)

    def task(self, account: Account, task_id: str) -> LipSyncTask | None:
        task = self.state.tasks.get(task_id)
        return task if task is not None and task.owner == account.token else None

    def task_status(self, task: LipSyncTask, now: float) -> str:
        job = self.emulator.job(task.id)
        return str(job.state_at(now)) if job else "failed"

    def task_view(self, task: LipSyncTask, now: float) -> dict[str, Any]:
        """Status, progress (0-100) and the times of the task at `now` (no URLs: HTTP adds them)."""
        job = self.emulator.job(task.id)
        status = self.task_status(task, now)
        if job is None:
            return {"status": status, "progress": 0, "updated_at": task.created_at, "completed_at": None}
        if status == "pending":
            progress = 0
        elif status == "processing":
            progress = min(99, max(1, int(job.progress_at(now) * 100))) if job.forced_state is None else 50
        else:
            progress = 100
        if job.forced_state is not None and job.forced_at is not None:
            updated = job.forced_at
        else:
            updated = job.entered_at(status) or task.created_at
        return {"status": status, "progress": progress, "updated_at": updated,
                "completed_at": updated if LIP_SYNC_JOB.is_terminal(status) else None}

    # -- job completion ------------------------------------------------------------------------------
    def recharge(self, job: Job, now: float) -> None:
        task = self.state.tasks.get(job.id)
        account = self.state.accounts.get(job.owner)
        if task is None or account is None:
            return
        parts = self.emulator.recharge(account.token, account.credits, job.id)
        task = self.state.tasks.touch(job.id)
        task.charge, task.refunded = parts, False

    def on_job_finished(self, job: Job, now: float) -> None:
        """A failed lip-sync task refunds its credits."""
        task = self.state.tasks.get(job.id)
        if task is None or task.refunded or job.state_at(now) != "failed":
            return
        account = self.state.accounts.get(task.owner)
        if account is not None and task.charge:
            self.emulator.refund(account.token, account.credits, dict(task.charge), task.id)
        self.state.tasks.touch(job.id).refunded = True
