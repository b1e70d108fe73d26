"""KreadoAI V3: state and business rules (no HTTP here).

Money: K-coins held as integer cents in a `Wallet` (pool "kcoin"), shown as "12.34" strings.
Jobs (photo upload, clone upload, lip-sync video, subtitle removal) move 1 waiting -> 2 in
progress -> 3 success | 4 failure | 5 timeout on the emulated clock. A job that ends in 4 or 5
gives back what it cost. Times are shown in UTC+8 (the provider's region), "YYYY-MM-DD HH:MM:SS".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator


from emulators.engine import sharing, values
from emulators.engine.clock import time_in_range
from emulators.engine.files import FileRecord, content_type_for
from emulators.engine.jobs import Job, JobKind, carries_fail_marker
from emulators.engine.ledger import InsufficientFunds, Wallet
from emulators.engine import fixtures as fixture_file
from emulators.engine.store import StateRoot
from emulators.engine.provider import Backend
from emulators.engine.render import speech_of
from emulators.media.audio import speech_duration
from emulators.providers.kreado.exceptions import TWEPOCH_MS, KreadoError

WAITING, RUNNING, SUCCESS, FAILURE, TIMEOUT = 1, 2, 3, 4, 5
STATUSES = (WAITING, RUNNING, SUCCESS, FAILURE, TIMEOUT)
TIMEOUT_MARKER = "EMULATOR_TIMEOUT"  # like EMULATOR_FAIL, but the job ends in 5 (timeout)


def _kind(name: str) -> JobKind:
    return JobKind(name, phases=(WAITING, RUNNING), success=SUCCESS, failure=FAILURE, terminal=(TIMEOUT,))


PHOTO_JOB = _kind("photo")
CLONE_JOB = _kind("clone")
VIDEO_JOB = _kind("video")
SUBTITLE_JOB = _kind("subtitle")
JOB_KINDS = {k.name: k for k in (PHOTO_JOB, CLONE_JOB, VIDEO_JOB, SUBTITLE_JOB)}

PHOTO, VIDEO = 100, 101
GENDER_TAGS = (210, 211)
STYLE_TAGS = (137, 138, 139)
AREA_TAGS = (140, 141, 142, 143, 144, 145, 146)
VOICE_SOURCES = (1, 3, 4, 5, 6, 21)

TZ = timezone(timedelta(hours=8))

# Emulator-wide switches (PUT /_emulator/settings) and their defaults.
SWITCHES: dict[str, Any] = {"idsAsStrings": False}


# -- time and money formats ---------------------------------------------------------------------
def fmt_time(ts: float) -> str:
    second = int(ts)
    if 0 <= ts - second < 0.999999:  # not rounded up to the next second by fromtimestamp
        return _fmt_second(second)
    return datetime.fromtimestamp(ts, TZ).strftime("%Y-%m-%d %H:%M:%S")


@lru_cache(maxsize=4096)  # whole seconds: a record's times and "now" repeat from request to request
def _fmt_second(second: int) -> str:
    return datetime.fromtimestamp(second, TZ).strftime("%Y-%m-%d %H:%M:%S")


def fmt_iso_local(ts: float) -> str:
    return datetime.fromtimestamp(ts, TZ).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(text: str) -> float:
    """"YYYY-MM-DD HH:MM:SS" in UTC+8 (the form the API shows), or any ISO 8601 time."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=TZ)
    return dt.timestamp()


def fmt_money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def parse_money(value: Any) -> int:
    """"12.34" / 12.34 / 12 -> 1234 cents; ValueError for anything else (or < 0)."""
    if isinstance(value, bool):
        raise ValueError("balance must be a number or a decimal string")
    text = str(value).strip() if isinstance(value, (int, float, str)) else ""
    if isinstance(value, float):
        text = f"{value:.2f}"
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or len(frac) > 2 or (frac and not frac.isdigit()) or len(whole) > 15:
        raise ValueError("balance must be a non-negative amount with at most 2 decimals")
    return int(whole) * 100 + int((frac + "00")[:2])


def whole_seconds(seconds: float) -> int:
    """An audio length as the provider counts it: whole seconds, half up. textToSpeech reports
    `duration` so and the 1-600 s audio rule judges so, so a TTS file always passes that rule."""
    return math.floor(seconds + 0.5)


def hms(seconds: float) -> str:
    s = whole_seconds(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) scaled down to `max_side`, aspect kept, even sides (what H.264 wants)."""
    scale = min(1.0, max_side / max(width, height, 1))
    w = max(16, int(width * scale) // 2 * 2)
    h = max(16, int(height * scale) // 2 * 2)
    return w, h


# -- state --------------------------------------------------------------------------------------
@dataclass(slots=True)
class Account:
    token: str
    wallet: Wallet  # {"kcoin": cents}
    vipExpireAt: float
    limits: dict[str, int]  # endpoint name -> requests per second
    videoQueueLimit: int
    subtitleQueueLimit: int


@dataclass(slots=True)
class Avatar:
    digitalHumanId: int
    supportTypeId: int
    name: str
    owner: str | None  # None: the system catalog
    clone: bool
    tags: list[int]
    areas: list[int]
    thumbnail: str  # file ids served at /files/
    photo: str
    preview: str
    width: int
    height: int
    jobId: str | None = None  # upload job: usable once it succeeded


@dataclass(slots=True)
class Upload:
    jobId: str
    owner: str
    kind: str  # "photo" | "clone"
    digitalHumanId: int
    sourceUrl: str
    createdAt: float
    charge: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class VideoTask:
    jobId: str
    taskId: int
    owner: str
    taskName: str
    kind: str  # "lip" | "system"
    supportTypeId: int
    digitalHumanId: int | None
    # File ids of the task's audio (the caller's own, or made for it), video and thumbnail. ""
    # for the files made for it: those are derived from the task (KreadoBackend.derived_file),
    # not stored; tasks saved before that hold the ids of stored records.
    audioFile: str
    audioSeconds: float
    videoFile: str
    thumbFile: str
    createdAt: float
    charge: dict[str, int] = field(default_factory=dict)
    width: int = 0  # of the video and thumbnail (fitted to render_max_side when submitted)
    height: int = 0

    def audio_id(self) -> str:
        return self.audioFile or self.jobId + _AUDIO

    def video_id(self) -> str:
        return self.videoFile or self.jobId + _VIDEO

    def thumb_id(self) -> str:
        return self.thumbFile or self.jobId + _THUMB


# The names of a video task's derived files: its job id and one of these.
_AUDIO, _VIDEO, _THUMB = "-a.mp3", "-v.mp4", "-t.png"


@dataclass(slots=True)
class SpeechAudio:
    fileId: int
    taskId: str
    owner: str
    file: str
    duration: int
    paymentCents: int
    createdAt: float


@dataclass(slots=True)
class SubtitleTask:
    jobId: str
    businessTaskId: str
    owner: str
    taskName: str
    duration: float
    targetFile: str
    createdAt: float
    charge: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Voice:
    id: str
    languageId: str
    voiceId: str
    voiceName: str
    voiceSource: int
    gender: str
    ageGroup: str
    styles: list[dict[str, str]]
    cosyVoice: bool
    photo: str
    sample: str


@dataclass(slots=True)
class Emotion:
    id: int
    zh: str
    en: str
    video: str
    thumbnail: str


@dataclass(slots=True)
class Settings:
    limits: dict[str, Any]
    prices: dict[str, int]
    timings: dict[str, Any]
    media_defaults: dict[str, dict[str, Any]]
    render_max_side: int


@dataclass
class KreadoState(StateRoot):
    settings: Settings
    accounts: dict[str, Account] = field(default_factory=dict)
    avatars: dict[str, Avatar] = field(default_factory=dict)
    languages: list[dict[str, Any]] = field(default_factory=list)
    voices: list[Voice] = field(default_factory=list)
    emotions: list[Emotion] = field(default_factory=list)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    videos: dict[str, VideoTask] = field(default_factory=dict)
    audios: dict[str, SpeechAudio] = field(default_factory=dict)
    subtitles: dict[str, SubtitleTask] = field(default_factory=dict)
    seq: int = 0
    nextAvatarId: int = 4193
    nextTaskId: int = 122165
    nextFileId: int = 1289643
    nextTtsTaskId: int = 14690


@dataclass(frozen=True)
class Media:
    """What the emulator knows of a media URL."""

    format: str
    size: int | None
    duration: float | None
    width: int | None
    height: int | None


class KreadoBackend(Backend):
    State = KreadoState
    state: KreadoState

    def __init__(self, emulator: Any, state: KreadoState) -> None:
        super().__init__(emulator, state)
        self.language_ids = {d["languageId"] for lang in state.languages for d in lang["languageDetails"]}
        self.voice_index = {(v.voiceId, v.voiceSource): v for v in state.voices}
        self.emotion_ids = {e.id for e in state.emotions}
        self._pending: dict[tuple[str, str], list[str]] = {}  # see on_bound

    # -- seeding ----------------------------------------------------------------------------------
    @classmethod
    def seed(cls, emulator: Any, fixtures: Path) -> KreadoBackend:
        def load(name: str) -> Any:
            return fixture_file.load(fixtures / name)

        state = KreadoState(settings=Settings(**load("settings.yaml")))
        gen = emulator.add_generated
        for spec in load("avatars.yaml")["avatars"]:
            aid, kind = int(spec["id"]), int(spec["type"])
            w, h = (540, 960) if kind == VIDEO else (720, 960)
            thumb = gen({"kind": "image", "width": 256, "height": 256, "format": "jpeg", "seed": f"dh{aid}"},
                        "jpeg", file_id=f"avatar-{aid}-cover.jpeg")
            photo = gen({"kind": "image", "width": w, "height": h, "format": "png", "seed": f"dh{aid}"},
                        "png", file_id=f"avatar-{aid}.png")
            preview = photo
            if kind == VIDEO:
                preview = gen({"kind": "video", "duration": 3, "width": 270, "height": 480, "format": "mp4",
                               "seed": f"dh{aid}"}, "mp4", file_id=f"avatar-{aid}-preview.mp4")
            state.avatars[str(aid)] = Avatar(
                digitalHumanId=aid, supportTypeId=kind, name=spec["name"], owner=None, clone=False,
                tags=[int(spec["gender"]), int(spec["style"])], areas=[int(spec["area"])],
                thumbnail=thumb.id, photo=photo.id, preview=preview.id, width=w, height=h)
        state.languages = load("languages.yaml")["languages"]
        for spec in load("voices.yaml")["voices"]:
            vid = str(spec["id"])
            sample = gen({"kind": "speech", "text": f"Hello, I am {spec['voiceName']}.", "format": "mp3",
                          "voice": spec["voiceId"]}, "mp3", file_id=f"voice-{vid}.mp3")
            photo = gen({"kind": "image", "width": 200, "height": 200, "format": "webp", "seed": vid},
                        "webp", file_id=f"voice-{vid}.webp")
            state.voices.append(Voice(
                id=vid, languageId=str(spec["languageId"]), voiceId=spec["voiceId"], voiceName=spec["voiceName"],
                voiceSource=int(spec["voiceSource"]), gender=spec["gender"], ageGroup=spec["ageGroup"],
                styles=list(spec.get("styles") or []), cosyVoice=bool(spec.get("cosyVoice")),
                photo=photo.id, sample=sample.id))
        for spec in load("emotions.yaml")["templates"]:
            eid = int(spec["id"])
            video = gen({"kind": "video", "duration": 3, "width": 270, "height": 480, "format": "mp4",
                         "seed": f"emo{eid}"}, "mp4", file_id=f"emo-{eid}.mp4")
            thumb = gen({"kind": "image", "width": 270, "height": 480, "format": "png", "seed": f"emo{eid}"},
                        "png", file_id=f"emo-{eid}.png")
            state.emotions.append(Emotion(eid, spec["zh"], spec["en"], video.id, thumb.id))
        state.media = {str(k): dict(v) for k, v in (load("media.yaml")["media"] or {}).items()}
        backend = cls(emulator, state)
        now = emulator.clock.now()
        for token, spec in load("accounts.yaml")["accounts"].items():
            spec = dict(spec)
            days = spec.pop("vipExpiresInDays", None)
            if days is not None and "vipExpireTime" not in spec:
                spec["vipExpireTime"] = fmt_time(now + float(days) * 86400)
            backend.put_account(str(token), spec)
        return backend

    # -- switches -----------------------------------------------------------------------------------
    def settings_view(self) -> dict[str, Any]:
        return {name: self.emulator.settings.get(name, default) for name, default in SWITCHES.items()}

    def put_settings(self, fields: dict[str, Any]) -> dict[str, Any]:
        for name, value in fields.items():
            if name not in SWITCHES:
                raise ValueError(f"unknown setting {name!r}; known: {', '.join(SWITCHES)}")
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
        self.emulator.settings.update(fields)
        return self.settings_view()

    @property
    def ids_as_strings(self) -> bool:
        """Job ids (Java Longs beyond 2^53) go out as strings of digits instead of JSON numbers."""
        return bool(self.emulator.settings.get("idsAsStrings", False))

    # -- ids ----------------------------------------------------------------------------------------
    def new_id(self, now: float) -> str:
        """A 19-digit snowflake id on the emulated clock (unique: a sequence in the low bits)."""
        self.state.seq += 1
        return str(((int(now * 1000) - TWEPOCH_MS) << 22) | (self.state.seq & 0x3FFFFF))

    # -- accounts -------------------------------------------------------------------------------------
    def account(self, token: str) -> Account | None:
        return self.state.accounts.get(token)

    def account_view(self, token: str) -> dict[str, Any] | None:
        account = self.state.accounts.get(token)
        if account is None:
            return None
        now = self.emulator.clock.now()
        return {
            "apiToken": token, "balance": fmt_money(account.wallet.total()),
            "vipExpireTime": fmt_time(account.vipExpireAt), "vipExpired": now >= account.vipExpireAt,
            "limits": dict(account.limits), "videoQueueLimit": account.videoQueueLimit,
            "subtitleQueueLimit": account.subtitleQueueLimit,
            "queued": {"video": self.queued(token, "video", now), "subtitle": self.queued(token, "subtitle", now)},
        }

    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        allowed = {"balance", "vipExpireTime", "limits", "videoQueueLimit", "subtitleQueueLimit", "apiToken"}
        for name in fields:
            if name not in allowed:
                raise ValueError(f"unknown account field {name!r}")
        balance = parse_money(fields["balance"]) if "balance" in fields else None
        expire = None
        if "vipExpireTime" in fields:
            if not isinstance(fields["vipExpireTime"], str):
                raise ValueError("vipExpireTime must be 'YYYY-MM-DD HH:MM:SS' (UTC+8)")
            try:
                expire = parse_time(fields["vipExpireTime"])
            except (ValueError, OverflowError):
                expire = None
            if expire is None or not time_in_range(expire):  # it must format back
                raise ValueError("vipExpireTime must be 'YYYY-MM-DD HH:MM:SS' (UTC+8), 1970 to 9000")
        limits = fields.get("limits")
        if limits is not None:
            known = self.state.settings.limits["per_second"]
            if not isinstance(limits, dict):
                raise ValueError("limits must be an object {endpoint: requests per second}")
            for name, value in limits.items():
                if name not in known:
                    raise ValueError(f"unknown limit {name!r}; known: {', '.join(known)}")
                values.whole(f"limit {name}", value, 1)
        for name in ("videoQueueLimit", "subtitleQueueLimit"):
            value = fields.get(name)
            if value is not None:
                values.whole(name, value)
        account = self.state.accounts.get(token)
        if account is None:
            settings = self.state.settings.limits
            account = Account(token=token, wallet=Wallet({"kcoin": 0}),
                              vipExpireAt=self.emulator.clock.now() + 365 * 86400,
                              limits=dict(settings["per_second"]), videoQueueLimit=settings["video_queue"],
                              subtitleQueueLimit=settings["subtitle_queue"])
            self.state.accounts[token] = account
        else:
            self.state.accounts.touch(token)
        if balance is not None:
            account.wallet.pools["kcoin"] = balance
        if expire is not None:
            account.vipExpireAt = expire
        if limits:
            account.limits.update(limits)
        if fields.get("videoQueueLimit") is not None:
            account.videoQueueLimit = fields["videoQueueLimit"]
        if fields.get("subtitleQueueLimit") is not None:
            account.subtitleQueueLimit = fields["subtitleQueueLimit"]
        view = self.account_view(token)
        assert view is not None
        return view

    def _charge(self, account: Account, cents: int, ref: str) -> dict[str, int]:
        if cents <= 0:
            return {}
        try:
            return self.emulator.charge(account.token, account.wallet, cents, ref)
        except InsufficientFunds:
            raise KreadoError("10017") from None

    # -- jobs ---------------------------------------------------------------------------------------
    def status(self, job_id: str, now: float) -> int:
        job = self.emulator.job(job_id)
        return int(job.state_at(now)) if job is not None else FAILURE

    def finished_at(self, job_id: str, now: float) -> float | None:
        job = self.emulator.job(job_id)
        if job is None:
            return None
        state = job.state_at(now)
        if state not in (SUCCESS, FAILURE, TIMEOUT):
            return None
        return job.forced_at if job.forced_state is not None else job.finishes_at

    def started_at(self, job_id: str) -> float | None:
        job = self.emulator.job(job_id)
        return job.entered_at(RUNNING) if job is not None else None

    def on_bound(self) -> None:
        self._videos_of = self.state.videos.index(lambda t: t.owner)
        self._video_of_task = self.state.videos.index(lambda t: t.taskId)
        # Tasks that may still be queued, per (token, kind): a queue is bounded by its cap, so
        # counting it never walks every task stored. Finished ones drop out as they are seen.
        self._pending = {}
        for kind, table in (("video", self.state.videos), ("subtitle", self.state.subtitles)):
            for job_id, task in table.items():
                job = self.emulator.job(task.jobId)
                if job is not None and not job.settled:
                    self._pending.setdefault((task.owner, kind), []).append(job_id)

    def queued(self, token: str, kind: str, now: float) -> int:
        items = self.state.videos if kind == "video" else self.state.subtitles
        pending = self._pending.get((token, kind))
        if not pending:
            return 0
        pending[:] = [job_id for job_id in pending
                      if job_id in items and self.status(items[job_id].jobId, now) in (WAITING, RUNNING)]
        return len(pending)

    def _queue(self, token: str, kind: str, job_id: str) -> None:
        self._pending.setdefault((token, kind), []).append(job_id)

    def _new_job(self, kind: JobKind, job_id: str, owner: str, durations: list[float], inputs: Any) -> Job:
        job = self.emulator.create_job(kind, job_id, owner, durations, carries_fail_marker(inputs))
        if not carries_fail_marker(inputs) and _carries(inputs, TIMEOUT_MARKER):
            job.end_state = TIMEOUT
        return job

    def recharge(self, job: Job, now: float) -> None:
        table: Any = next((t for t in (self.state.videos, self.state.subtitles, self.state.uploads)
                           if job.id in t), None)
        account = self.state.accounts.get(job.owner)
        if table is None or account is None:
            return
        parts = self.emulator.recharge(account.token, account.wallet, job.id)
        table.touch(job.id).charge = parts

    def on_job_finished(self, job: Job, now: float) -> None:
        """Failed or timed-out tasks give their K-coins back."""
        state = job.state_at(now)
        table: Any = next((t for t in (self.state.videos, self.state.subtitles, self.state.uploads)
                           if job.id in t), None)
        item: Any = table.get(job.id) if table is not None else None
        if item is None or state == SUCCESS or not item.charge:
            return
        account = self.state.accounts.get(job.owner)
        if account is not None:
            self.emulator.refund(account.token, account.wallet, dict(item.charge), job.id)
        table.touch(job.id).charge = {}

    # -- avatars -------------------------------------------------------------------------------------
    def avatar_usable(self, avatar: Avatar, token: str, now: float) -> bool:
        if avatar.owner is None:
            return True
        if avatar.owner != token:
            return False
        return avatar.jobId is None or self.status(avatar.jobId, now) == SUCCESS

    def list_avatars(self, token: str, now: float, clone: int, support_type: int, avatar_id: int | None,
                     tag_ids: list[int] | None, area_ids: list[int] | None) -> list[Avatar]:
        genders = [t for t in tag_ids or [] if t in GENDER_TAGS]
        styles = [t for t in tag_ids or [] if t in STYLE_TAGS]
        found = []
        for avatar in self.state.avatars.values():
            if avatar.supportTypeId != support_type or avatar.clone != bool(clone):
                continue
            if not self.avatar_usable(avatar, token, now):
                continue
            if avatar_id is not None and avatar.digitalHumanId != avatar_id:
                continue
            if genders and not set(genders) & set(avatar.tags):
                continue
            if styles and not set(styles) & set(avatar.tags):
                continue
            if area_ids and not set(area_ids) & set(avatar.areas):
                continue
            found.append(avatar)
        # newest uploads first, then the catalog by id (descending, as the docs' first page suggests)
        found.sort(key=lambda a: (a.owner is not None, a.digitalHumanId), reverse=True)
        return found

    def upload_avatar(self, account: Account, kind: str, url: str, media: Media, now: float) -> Upload:
        """A photo (kind "photo") or an instant-clone video (kind "clone") becomes an avatar once
        its job succeeds; EMULATOR_FAIL in the URL fails the face check."""
        st = self.state
        max_side = st.settings.render_max_side
        job_id = self.new_id(now)
        price = st.settings.prices["clone_upload_cents" if kind == "clone" else "photo_upload_cents"]
        charge = self._charge(account, price, job_id)
        aid = st.nextAvatarId
        gen = self.emulator.add_generated
        w, h = fit(media.width or 720, media.height or 960, max_side)
        seed = f"dh{aid}-{job_id}"
        thumb = gen({"kind": "image", "width": 256, "height": 256, "format": "jpeg", "seed": seed}, "jpeg",
                    owner=account.token)
        fmt = "png" if kind == "clone" else ("jpeg" if media.format == "jpeg" else media.format)
        photo = gen({"kind": "image", "width": w, "height": h, "format": fmt, "seed": seed}, fmt,
                    owner=account.token)
        preview = photo
        if kind == "clone":
            preview = gen({"kind": "video", "duration": min(5.0, media.duration or 5.0), "width": w, "height": h,
                           "format": "mp4", "seed": seed}, "mp4", owner=account.token)
        st.nextAvatarId += 1
        timings = st.settings.timings["clone_upload" if kind == "clone" else "photo_upload"]
        job = self._new_job(CLONE_JOB if kind == "clone" else PHOTO_JOB, job_id, account.token,
                            [float(timings[0]), float(timings[1])], url)
        st.avatars[str(aid)] = Avatar(
            digitalHumanId=aid, supportTypeId=VIDEO if kind == "clone" else PHOTO, name=f"Custom {aid}",
            owner=account.token, clone=kind == "clone", tags=[], areas=[], thumbnail=thumb.id, photo=photo.id,
            preview=preview.id, width=w, height=h, jobId=job.id)
        upload = Upload(job.id, account.token, kind, aid, url, now, charge)
        st.uploads[job.id] = upload
        return upload

    def upload(self, token: str, job_id: str, kind: str) -> Upload:
        upload = self.state.uploads.get(job_id)
        if upload is None or upload.owner != token or upload.kind != kind:
            raise KreadoError("10009")
        return upload

    # -- video tasks ----------------------------------------------------------------------------------
    def _check_queue(self, account: Account, kind: str, now: float) -> None:
        cap = account.videoQueueLimit if kind == "video" else account.subtitleQueueLimit
        pending = self._pending.get((account.token, kind), ())
        if len(pending) >= cap and self.queued(account.token, kind, now) >= cap:  # counted only when it may be full
            raise KreadoError("10019")

    def audio_by_id(self, token: str, file_id: int) -> SpeechAudio:
        audio = self.state.audios.get(str(file_id))
        if audio is None or audio.owner != token:
            raise KreadoError("10009")
        return audio

    def submit_video(self, account: Account, now: float, *, kind: str, task_name: str, audio_url: str,
                     audio: Media, audio_file: str | None, width: int, height: int, support_type: int,
                     avatar_id: int | None, inputs: Any) -> VideoTask:
        st = self.state
        self._check_queue(account, "video", now)
        seconds = float(audio.duration or 1.0)
        job_id = self.new_id(now)
        cents = math.ceil(seconds) * st.settings.prices["video_cents_per_second"]
        charge = self._charge(account, cents, job_id)
        w, h = fit(width, height, st.settings.render_max_side)
        t = st.settings.timings
        job = self._new_job(VIDEO_JOB, job_id, account.token,
                            [float(t["video_waiting"]), float(t["video_base"]) + float(t["video_per_second"]) * seconds],
                            inputs)
        task = VideoTask(jobId=job.id, taskId=st.nextTaskId, owner=account.token,
                         taskName=sharing.text(task_name),  # a fleet names its tasks alike: shared
                         kind=kind, supportTypeId=support_type, digitalHumanId=avatar_id,
                         audioFile=audio_file or "", audioSeconds=seconds, videoFile="", thumbFile="",
                         createdAt=now, charge=charge, width=w, height=h)
        st.nextTaskId += 1
        st.videos[job.id] = task
        self._queue(account.token, "video", job.id)
        return task

    def derived_file(self, file_id: str) -> FileRecord | None:
        """A video task's audio (when made for it), video and thumbnail, from the task."""
        job_id, dash, rest = file_id.partition("-")
        task = self.state.videos.get(job_id) if dash else None
        if task is None:
            return None
        suffix = "-" + rest
        if suffix == _VIDEO and not task.videoFile:
            recipe = {"kind": "video", "duration": round(task.audioSeconds, 3), "width": task.width,
                      "height": task.height, "format": "mp4", "with_audio": True, "seed": job_id,
                      **speech_of(self.emulator.file(task.audio_id()))}
        elif suffix == _THUMB and not task.thumbFile:
            recipe = {"kind": "image", "width": task.width, "height": task.height, "format": "png", "seed": job_id}
        elif suffix == _AUDIO and not task.audioFile:
            recipe = {"kind": "speech", "filler_seconds": task.audioSeconds, "format": "mp3", "voice": job_id}
        else:
            return None
        return FileRecord.generated(file_id, content_type_for(rest.rpartition(".")[2]), task.createdAt, task.owner,
                                    recipe, None, pack=False)

    def video_by_job(self, token: str, job_id: str) -> VideoTask:
        task = self.state.videos.get(job_id)
        if task is None or task.owner != token:
            raise KreadoError("10009")
        return task

    def video_by_task(self, token: str, task_id: int) -> VideoTask:
        for job_id in self._video_of_task.get(task_id):
            task = self.state.videos[job_id]
            if task.owner == token:
                return task
        raise KreadoError("10009")

    def list_videos(self, token: str, now: float, status: int | None) -> tuple[int, Iterator[VideoTask]]:
        """(how many, the caller's tasks newest first): lazily, so that a page costs its size
        and not the number of tasks stored (a status filter has to look at each task)."""
        videos = self.state.videos
        mine = self._videos_of.get(token)
        if status is None:
            return len(mine), (videos[job_id] for job_id in reversed(mine))
        matching = [videos[job_id] for job_id in reversed(mine) if self.status(videos[job_id].jobId, now) == status]
        return len(matching), iter(matching)

    # -- text to speech ------------------------------------------------------------------------------
    def tts(self, account: Account, now: float, *, language_id: str, content: str, voice: Voice) -> SpeechAudio:
        st = self.state
        if language_id not in self.language_ids:
            raise KreadoError("10009")
        prices = st.settings.prices
        cents = math.ceil(len(content) / prices["tts_chars_per_unit"]) * prices["tts_unit_cents"]
        task_id = str(st.nextTtsTaskId)
        self._charge(account, cents, f"tts-{task_id}")
        record = self.emulator.add_generated(
            {"kind": "speech", "text": content, "format": "mp3", "voice": voice.voiceId}, "mp3", owner=account.token)
        audio = SpeechAudio(fileId=st.nextFileId, taskId=task_id, owner=account.token, file=record.id,
                            duration=whole_seconds(speech_duration(content)), paymentCents=cents, createdAt=now)
        st.audios[str(audio.fileId)] = audio
        st.nextFileId += 1
        st.nextTtsTaskId += 1
        return audio

    def list_voices(self, language: str, city: str | None, gender: str | None, age: str | None,
                    clone: int, source: int | None) -> list[Voice]:
        if clone == 1:
            return []  # no voice can be cloned through this API: nobody has cloned voices
        lang_of = {d["languageId"]: (lang["language"], d["languageCityType"])
                   for lang in self.state.languages for d in lang["languageDetails"]}
        found = []
        for v in self.state.voices:
            lang, city_type = lang_of.get(v.languageId, ("", ""))
            if lang.casefold() != language.casefold():
                continue
            if city and city.casefold() not in city_type.casefold():
                continue
            if gender and v.gender != gender.casefold():
                continue
            if age and v.ageGroup != age.casefold():
                continue
            if source is not None and v.voiceSource != source:
                continue
            found.append(v)
        return found

    def city_type(self, language_id: str) -> str:
        for lang in self.state.languages:
            for d in lang["languageDetails"]:
                if d["languageId"] == language_id:
                    return str(d["languageCityType"])
        return ""

    # -- subtitle removal ----------------------------------------------------------------------------
    def submit_subtitle(self, account: Account, now: float, task_name: str, video: Media,
                        inputs: Any) -> SubtitleTask:
        st = self.state
        self._check_queue(account, "subtitle", now)
        seconds = float(video.duration or 1.0)
        job_id = self.new_id(now)
        charge = self._charge(account, math.ceil(seconds) * st.settings.prices["subtitle_cents_per_second"], job_id)
        w, h = fit(video.width or 1280, video.height or 720, st.settings.render_max_side)
        target = self.emulator.add_generated(
            {"kind": "video", "duration": round(seconds, 3), "width": w, "height": h, "format": "mp4",
             "with_audio": True, "seed": job_id}, "mp4", owner=account.token)
        t = st.settings.timings
        job = self._new_job(SUBTITLE_JOB, job_id, account.token,
                            [float(t["subtitle_waiting"]),
                             float(t["subtitle_base"]) + float(t["subtitle_per_second"]) * seconds], inputs)
        task = SubtitleTask(jobId=job.id, businessTaskId=self.new_id(now), owner=account.token,
                            taskName=task_name, duration=seconds, targetFile=target.id, createdAt=now,
                            charge=charge)
        st.subtitles[job.id] = task
        self._queue(account.token, "subtitle", job.id)
        return task

    def subtitle(self, token: str, job_id: str) -> SubtitleTask:
        task = self.state.subtitles.get(job_id)
        if task is None or task.owner != token:
            raise KreadoError("10009")
        return task


def _carries(value: Any, marker: str) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if marker in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False
