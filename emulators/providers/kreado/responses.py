"""KreadoAI V3 handlers: parse the request, call the backend, serialize the answer."""
from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any, Iterator

from starlette.responses import Response

from emulators.engine.http import JSON, Call
from emulators.providers.kreado import media as m
from emulators.providers.kreado.exceptions import error, request_id
from emulators.providers.kreado.models import (
    AREA_TAGS,
    GENDER_TAGS,
    PHOTO,
    STATUSES,
    STYLE_TAGS,
    SUCCESS,
    VIDEO,
    VOICE_SOURCES,
    KreadoBackend,
    SpeechAudio,
    SubtitleTask,
    Upload,
    VideoTask,
    Voice,
    fmt_iso_local,
    fmt_money,
    fmt_time,
    hms,
)

MAX_BODY = 1024 * 1024
_INT = re.compile(r"-?[0-9]{1,18}")
_ID = re.compile(r"[0-9]{1,19}")
_RESIZE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")
AGE_GROUPS = ("children", "young", "middle-aged", "old")
GENDERS = ("female", "male")

# voiceSource -> parameter -> (low, high); None: the parameter is "Not Set" for that source
TTS_RANGES: dict[int, dict[str, tuple[int, int] | None]] = {
    1: {"volume": None, "prosodyRate": (-100, 200), "prosodyPitch": (-50, 50)},
    3: {"volume": (0, 100), "prosodyRate": (-500, 500), "prosodyPitch": (-500, 500)},
    4: {"volume": (10, 300), "prosodyRate": (20, 300), "prosodyPitch": (10, 300)},
    5: {"volume": (0, 10), "prosodyRate": (50, 200), "prosodyPitch": (-120, 120)},
    6: {"volume": (-96, 16), "prosodyRate": (25, 400), "prosodyPitch": (-20, 20)},
    21: {"volume": None, "prosodyRate": (0, 100), "prosodyPitch": (0, 100)},
}
COSYVOICE_RANGES: dict[str, tuple[int, int] | None] = {
    "volume": (0, 100), "prosodyRate": (50, 200), "prosodyPitch": (50, 200)}


def _backend(call: Call) -> KreadoBackend:
    return call.emulator.backend  # type: ignore[no-any-return]


def ok(data: Any) -> Response:
    return JSON({"code": "200", "message": "Success", "data": data, "requestId": request_id()})


def _fail(code: str = "10002") -> Exception:
    return error(code)


def _url(call: Call, file_id: str | None) -> str | None:
    if file_id is None:
        return None
    record = call.emulator.file(file_id)
    return call.emulator.file_url(call.base_url, record) if record else None


# -- request parsing (anything missing or of the wrong type: 10002) ----------------------------------
async def _body(call: Call, required: bool = True) -> dict[str, Any]:
    try:
        raw = await call.body(MAX_BODY)
    except ValueError:
        raise _fail() from None
    if not raw.strip():
        if required:
            raise _fail()
        return {}
    try:
        data = await call.json(MAX_BODY)
    except (ValueError, RecursionError):
        raise _fail() from None
    if not isinstance(data, dict):
        raise _fail()
    return data


def _as_int(value: Any) -> int | None:
    """JSON integers, numbers with no fraction (2.0) and strings of digits: what the server's
    (Java) JSON binding turns into the same integer. A fraction (1.5) is refused rather than
    truncated as Java would: that would hide a client's bug behind a different value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if abs(value) < 10**18 else None
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def opt_int(data: dict[str, Any], name: str, low: int | None = None, high: int | None = None,
            choices: tuple[int, ...] | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    number = _as_int(value)
    if number is None or (low is not None and number < low) or (high is not None and number > high):
        raise _fail()
    if choices is not None and number not in choices:
        raise _fail()
    return number


def req_int(data: dict[str, Any], name: str, low: int | None = None, high: int | None = None,
            choices: tuple[int, ...] | None = None) -> int:
    number = opt_int(data, name, low, high, choices)
    if number is None:
        raise _fail()
    return number


def _java_text(value: Any) -> str | None:
    """What a Java JSON binding (Jackson) makes of a JSON scalar bound to a String field: the
    number's or boolean's text. None for objects and arrays, which it refuses, and for NaN and
    Infinity, which its parser refuses (they are not JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def opt_str(call: Call, data: dict[str, Any], name: str, max_len: int = 2048, where: str = "") -> str | None:
    """A String field. A JSON number or boolean is taken as its text, as the server's Java JSON
    binding does (so `"resize": 1.5` is "1.5"), and noted in the journal."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        text = _java_text(value)
        if text is None:
            raise _fail()
        call.note(f"{where}{name} sent as the JSON {type(value).__name__} {json.dumps(value)}: taken as the "
                  f"string {text!r}, as a Java JSON binding does for a String field")
        value = text
    if len(value) > max_len:
        raise _fail()
    return value


def req_str(call: Call, data: dict[str, Any], name: str, max_len: int = 2048, where: str = "") -> str:
    value = opt_str(call, data, name, max_len, where)
    if value is None or not value.strip():
        raise _fail()
    return value


def opt_resize(call: Call, data: dict[str, Any], where: str, positive: bool) -> str | None:
    """A scale ratio: a String of "up to two decimal places" (a number is taken as its text)."""
    resize = opt_str(call, data, "resize", 16, where)
    if resize is not None and not (_RESIZE.fullmatch(resize) and (float(resize) > 0 or not positive)):
        raise _fail()
    return resize


def opt_obj(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail()
    return value


def opt_int_list(data: dict[str, Any], name: str) -> list[int] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 100:
        raise _fail()
    out = []
    for item in value:
        number = _as_int(item)
        if number is None:
            raise _fail()
        out.append(number)
    return out


def job_id(data: dict[str, Any], name: str = "jobId") -> str:
    """A task id sent as a JSON number or as a string of digits (the docs do both)."""
    value = data.get(name)
    if isinstance(value, bool) or value is None:
        raise _fail()
    if isinstance(value, int):
        if value < 0 or value >= 10**19:
            raise _fail()
        return str(value)
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        return str(int(value.strip()))
    raise _fail()


def job_id_out(call: Call, job_id: str) -> int | str:
    """A job id as answers carry it: a JSON number (a Java Long, beyond 2^53, as in the docs), or
    a string of digits under the `idsAsStrings` switch (for clients whose numbers are doubles)."""
    return job_id if _backend(call).ids_as_strings else int(job_id)


def _page(data: dict[str, Any], call: Call) -> tuple[int, int]:
    high = _backend(call).state.settings.limits["page_size_max"]
    return req_int(data, "pageIndex", 1, 10**9), req_int(data, "pageSize", 1, high)


def paged(items: list[Any], index: int, size: int, render: Any) -> dict[str, Any]:
    total = len(items)
    start = (index - 1) * size
    return {"pageIndex": index, "pageSize": size, "totalCount": total,
            "totalPages": math.ceil(total / size) if total else 0,
            "data": [render(i) for i in items[start:start + size]]}


def paged_lazily(total: int, items: Iterator[Any], index: int, size: int, render: Any) -> dict[str, Any]:
    """`paged` over an iterator of `total` items: only the page is rendered."""
    start = (index - 1) * size
    return {"pageIndex": index, "pageSize": size, "totalCount": total,
            "totalPages": math.ceil(total / size) if total else 0,
            "data": [render(i) for i in itertools.islice(items, start, start + size)]}


async def _judge(call: Call, url: str, kind: str) -> m.Media:
    return await m.judge(call.emulator, url, kind)


def _money_number(cents: int) -> int | float:
    return cents // 100 if cents % 100 == 0 else cents / 100


# -- avatars ---------------------------------------------------------------------------------------
def avatar_json(call: Call, avatar: Any, with_type: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"digitalHumanId": avatar.digitalHumanId}
    if with_type:
        out["supportTypeId"] = avatar.supportTypeId
    out.update({"digitalHumanThumbnailUrl": _url(call, avatar.thumbnail),
                "digitalHumanPhotoUrl": _url(call, avatar.photo),
                "digitalHumanPreviewVideoUrl": _url(call, avatar.preview)})
    return out


async def avatar_list(call: Call) -> Response:
    data = await _body(call)
    clone = req_int(data, "cloneDigitalHuman", choices=(0, 1))
    support = req_int(data, "supportTypeId", choices=(PHOTO, VIDEO))
    avatar_id = opt_int(data, "digitalHumanId")
    tags = opt_int_list(data, "tagIds")
    areas = opt_int_list(data, "areaTypeIds")
    if areas and not set(areas) <= set(AREA_TAGS):
        raise _fail()
    if tags and not set(tags) <= set(GENDER_TAGS + STYLE_TAGS):
        raise _fail()
    index, size = _page(data, call)
    found = _backend(call).list_avatars(call.token or "", call.now, clone, support, avatar_id, tags, areas)
    return ok(paged(found, index, size, lambda a: avatar_json(call, a)))


async def upload_avatar(call: Call) -> Response:
    data = await _body(call)
    url = m.check_url(req_str(call, data, "fileUrl"))
    backend = _backend(call)
    media = await _judge(call, url, m.IMAGE)
    m.check_photo(media, backend.state.settings.limits)
    with call.emulator.lock:
        upload = backend.upload_avatar(call.account, "photo", url, media, call.now)
    return ok({"jobId": job_id_out(call, upload.jobId)})


def _upload_status(call: Call, upload: Upload, with_type: bool) -> dict[str, Any]:
    backend = _backend(call)
    status = backend.status(upload.jobId, call.now)
    avatar = backend.state.avatars.get(str(upload.digitalHumanId))
    human = avatar_json(call, avatar, with_type) if avatar is not None and status in (2, SUCCESS) else None
    return {"status": status, "digitalHuman": human}


async def get_upload_custom_avatar(call: Call) -> Response:
    data = await _body(call)
    upload = _backend(call).upload(call.token or "", job_id(data), "photo")
    return ok(_upload_status(call, upload, True))


async def upload_clone_video(call: Call) -> Response:
    data = await _body(call)
    url = m.check_url(req_str(call, data, "videoUrl"))
    backend = _backend(call)
    limits = backend.state.settings.limits
    media = await _judge(call, url, m.VIDEO)
    m.check_video(media, limits, limits["video_max_bytes"], limits["clone_max_seconds"], inclusive_min=True)
    m.check_clone_resolution(media, limits)
    with call.emulator.lock:
        upload = backend.upload_avatar(call.account, "clone", url, media, call.now)
    return ok({"jobId": job_id_out(call, upload.jobId)})


async def get_upload_clone_video_status(call: Call) -> Response:
    data = await _body(call)
    upload = _backend(call).upload(call.token or "", job_id(data), "clone")
    return ok(_upload_status(call, upload, False))


# -- lip-sync videos ---------------------------------------------------------------------------------
async def _audio(call: Call, audio_url: str, audio_id: int | None) -> tuple[m.Media, str | None]:
    backend = _backend(call)
    if audio_id is not None:
        backend.audio_by_id(call.token or "", audio_id)
    media = await _judge(call, audio_url, m.AUDIO)
    m.check_audio(media, backend.state.settings.limits)
    record = call.emulator.file_from_url(audio_url) if "/files/" in audio_url else None
    return media, (record.id if record is not None else None)


def _task_name(data: dict[str, Any], call: Call) -> str:
    return req_str(call, data, "taskName", _backend(call).state.settings.limits["task_name_max_chars"])


async def submit_lip_task(call: Call) -> Response:
    data = await _body(call)
    backend = _backend(call)
    limits = backend.state.settings.limits
    name = _task_name(data, call)
    video_url = m.check_url(req_str(call, data, "videoUrl"))
    audio_url = m.check_url(req_str(call, data, "audioUrl"))
    audio_id = opt_int(data, "audioId")
    video = await _judge(call, video_url, m.VIDEO)
    m.check_video(video, limits, limits["video_max_bytes"])
    audio, audio_file = await _audio(call, audio_url, audio_id)
    defaults = backend.state.settings.media_defaults["video"]
    with call.emulator.lock:
        task = backend.submit_video(
            call.account, call.now, kind="lip", task_name=name, audio_url=audio_url, audio=audio,
            audio_file=audio_file, width=video.width or defaults["width"], height=video.height or defaults["height"],
            support_type=VIDEO, avatar_id=None, inputs=data)
    return ok({"jobId": job_id_out(call, task.jobId)})


async def submit_system_lip_task(call: Call) -> Response:
    data = await _body(call)
    backend = _backend(call)
    name = _task_name(data, call)
    ratio = req_int(data, "videoRatio", choices=(1, 2))
    audio_obj = opt_obj(data, "audio")
    human = opt_obj(data, "digitalHuman")
    if audio_obj is None or human is None:
        raise _fail()
    audio_url = m.check_url(req_str(call, audio_obj, "audioUrl", where="audio."))
    audio_id = opt_int(audio_obj, "audioId")
    avatar_id = req_int(human, "digitalHumanId")
    opt_int(human, "mask", choices=(0, 1, 2))
    opt_int(human, "x", -10000, 10000)
    opt_int(human, "y", -10000, 10000)
    opt_resize(call, human, "digitalHuman.", positive=True)
    template = opt_int(human, "templateId")
    if template is not None and template not in backend.emotion_ids:
        raise _fail()
    background = opt_obj(data, "background")
    if background is not None:
        _check_background(call, background)
    avatar = backend.state.avatars.get(str(avatar_id))
    if avatar is None or not backend.avatar_usable(avatar, call.token or "", call.now):
        raise _fail("10020")
    audio, audio_file = await _audio(call, audio_url, audio_id)
    width, height = (1280, 720) if ratio == 1 else (720, 1280)
    with call.emulator.lock:
        task = backend.submit_video(
            call.account, call.now, kind="system", task_name=name, audio_url=audio_url, audio=audio,
            audio_file=audio_file, width=width, height=height, support_type=avatar.supportTypeId,
            avatar_id=avatar_id, inputs=data)
    return ok({"jobId": job_id_out(call, task.jobId)})


def _check_background(call: Call, background: dict[str, Any]) -> None:
    kind = opt_int(background, "type", choices=(302, 303))
    color = opt_str(call, background, "color", 64, "background.")
    elements = background.get("backgroundElements")
    if elements is not None and not isinstance(elements, list):
        raise _fail()
    if kind == 302 and (color is None or not color.strip()):
        raise _fail()
    if kind == 303 and not elements:
        raise _fail()
    for i, element in enumerate(elements or []):
        if not isinstance(element, dict):
            raise _fail()
        where = f"background.backgroundElements[{i}]."
        opt_int(element, "elementType", choices=(330,))
        url = element.get("fileUrl")
        if kind == 303 or url is not None:
            m.check_url(req_str(call, element, "fileUrl", where=where))
        opt_resize(call, element, where, positive=False)


async def get_lip_video_result(call: Call) -> Response:
    data = await _body(call)
    backend = _backend(call)
    task = backend.video_by_job(call.token or "", job_id(data))
    status = backend.status(task.jobId, call.now)
    return ok({"status": status, "videoTask": {
        "taskId": task.taskId, "videoUrl": _url(call, task.video_id()) if status == SUCCESS else None}})


def video_json(call: Call, task: VideoTask) -> dict[str, Any]:
    backend = _backend(call)
    status = backend.status(task.jobId, call.now)
    done = status == SUCCESS
    finished = backend.finished_at(task.jobId, call.now)
    return {
        "taskName": task.taskName, "taskId": task.taskId, "status": status, "supportTypeId": task.supportTypeId,
        "videoUrl": _url(call, task.video_id()) if done else None,
        "videoThumbnailUrl": _url(call, task.thumb_id()) if done else None,
        "audioUrl": _url(call, task.audio_id()), "audioDuration": hms(task.audioSeconds),
        "createTime": fmt_time(task.createdAt),
        "successTime": fmt_time(finished) if done and finished is not None else None,
    }


async def video_list(call: Call) -> Response:
    data = await _body(call)
    status = opt_int(data, "status", choices=STATUSES)
    index, size = _page(data, call)
    total, tasks = _backend(call).list_videos(call.token or "", call.now, status)
    return ok(paged_lazily(total, tasks, index, size, lambda t: video_json(call, t)))


async def video_detail(call: Call) -> Response:
    data = await _body(call)
    task_id = req_int(data, "taskId")
    return ok(video_json(call, _backend(call).video_by_task(call.token or "", task_id)))


async def emo_list(call: Call) -> Response:
    data = await _body(call)
    wanted = opt_int(data, "id")
    index, size = _page(data, call)
    items = [e for e in _backend(call).state.emotions if wanted is None or e.id == wanted]
    return ok(paged(items, index, size, lambda e: {
        "id": e.id, "emoVideoUrl": _url(call, e.video), "emoVideoThumbnailUrl": _url(call, e.thumbnail),
        "emoZhDescription": e.zh, "emoEnDescription": e.en}))


# -- account -------------------------------------------------------------------------------------------
async def get_info(call: Call) -> Response:
    account = call.account
    return ok({"balance": fmt_money(account.wallet.total()), "vipExpireTime": fmt_time(account.vipExpireAt)})


# -- voices ----------------------------------------------------------------------------------------------
async def get_voice_language(call: Call) -> Response:
    return ok(_backend(call).state.languages)


def voice_json(call: Call, voice: Voice) -> dict[str, Any]:
    return {
        "id": voice.id, "languageId": voice.languageId,
        "languageCityType": _backend(call).city_type(voice.languageId), "voiceId": voice.voiceId,
        "voiceName": voice.voiceName, "defaultPhotoUrl": _url(call, voice.photo),
        "defaultVoiceUrl": _url(call, voice.sample), "voiceSource": voice.voiceSource, "voiceClone": 0,
        "gender": voice.gender, "ageGroup": voice.ageGroup, "voiceStyles": [dict(s) for s in voice.styles],
    }


async def get_voice_list(call: Call) -> Response:
    data = await _body(call)
    language = req_str(call, data, "language", 100)
    city = opt_str(call, data, "languageCityType", 200)
    gender = opt_str(call, data, "gender", 20)
    if gender and gender.casefold() not in GENDERS:
        raise _fail()
    age = opt_str(call, data, "ageGroup", 20)
    if age and age.casefold() not in AGE_GROUPS:
        raise _fail()
    clone = req_int(data, "voiceClone", choices=(0, 1))
    source = opt_int(data, "voiceSource", choices=VOICE_SOURCES)
    if clone == 0 and source is None:
        raise _fail()
    index, size = _page(data, call)
    voices = _backend(call).list_voices(language, city or None, gender or None, age or None, clone, source)
    return ok(paged(voices, index, size, lambda v: voice_json(call, v)))


async def text_to_speech(call: Call) -> Response:
    data = await _body(call)
    backend = _backend(call)
    language_id = req_str(call, data, "languageId", 100)
    content = req_str(call, data, "content", backend.state.settings.limits["tts_max_chars"])
    voice_id = req_str(call, data, "voiceId", 200)
    clone = req_int(data, "voiceClone", choices=(0, 1))
    source = req_int(data, "voiceSource", choices=VOICE_SOURCES)
    style = opt_str(call, data, "styleId", 100)
    values = {name: opt_int(data, name) for name in ("volume", "prosodyRate", "prosodyPitch")}
    if clone == 1:
        raise _fail("10009")  # no cloned voices exist
    voice = backend.voice_index.get((voice_id, source))
    if voice is None:
        raise _fail("10009")
    ranges = COSYVOICE_RANGES if voice.cosyVoice else TTS_RANGES[source]
    for name, value in values.items():
        bounds = ranges[name]
        if value is not None and bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise _fail()
    if style and style not in {s.get("styleId") for s in voice.styles}:
        raise _fail()
    with call.emulator.lock:
        audio: SpeechAudio = backend.tts(call.account, call.now, language_id=language_id.strip(),
                                         content=content, voice=voice)
    return ok({"taskId": audio.taskId, "textToSpeech": {
        "fileId": audio.fileId, "duration": audio.duration, "audioUrl": _url(call, audio.file),
        "paymentMoney": _money_number(audio.paymentCents)}})


# -- subtitle removal ----------------------------------------------------------------------------------
def _finite(value: float) -> bool:
    """A finite double; an integer beyond a double (10**400) is not, as Java's binding refuses it."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _rects(data: dict[str, Any], name: str) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, list) or len(value) > 50:
        raise _fail()
    for rect in value:
        if not isinstance(rect, dict):
            raise _fail()
        coords = {}
        for key in ("lt_x", "lt_y", "rb_x", "rb_y"):
            v = rect.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v) or v < 0:
                raise _fail()
            coords[key] = v
        if coords["rb_x"] < coords["lt_x"] or coords["rb_y"] < coords["lt_y"]:
            raise _fail()


async def submit_subtitle_task(call: Call) -> Response:
    data = await _body(call)
    backend = _backend(call)
    limits = backend.state.settings.limits
    name = _task_name(data, call)
    url = m.check_url(req_str(call, data, "srcFileUrl"))
    _rects(data, "customRectAreaList")
    _rects(data, "rectAreaList")
    video = await _judge(call, url, m.VIDEO)
    m.check_video(video, limits, limits["subtitle_max_bytes"])
    with call.emulator.lock:
        task = backend.submit_subtitle(call.account, call.now, name, video, data)
    return ok({"jobId": job_id_out(call, task.jobId)})


def subtitle_json(call: Call, task: SubtitleTask) -> dict[str, Any]:
    backend = _backend(call)
    status = backend.status(task.jobId, call.now)
    done = status == SUCCESS
    finished = backend.finished_at(task.jobId, call.now)
    started = backend.started_at(task.jobId)
    process = None
    if finished is not None:
        process = max(0, round(finished - (started if started is not None else task.createdAt)))
    end = fmt_iso_local(finished) if done and finished is not None else None
    return {
        "jobId": job_id_out(call, task.jobId), "businessTaskId": task.businessTaskId, "taskName": task.taskName,
        "status": status, "targetVideoUrl": _url(call, task.targetFile) if done else None,
        "processTime": process, "duration": max(1, round(task.duration)),
        "createTime": fmt_iso_local(task.createdAt), "successTime": end, "completeTime": end,
    }


async def subtitle_result(call: Call) -> Response:
    data = await _body(call)
    task = _backend(call).subtitle(call.token or "", job_id(data))
    return ok(subtitle_json(call, task))
