"""Kitta AI handlers: parse the request, call the backend, serialize the answer."""
from __future__ import annotations

import asyncio
import functools
import math
import re
import unicodedata
from typing import Any

import msgpack
from starlette.datastructures import UploadFile
from starlette.responses import Response

from emulators.engine.clock import iso
from emulators.engine.errors import ProviderError
from emulators.engine.http import JSON, PROVIDER_JSON_DEPTH, BodyTooLarge, Call, decode_json
from emulators.engine.strict_json import check_tree
from emulators.engine.render import render
from emulators.media.probe import probe
from emulators.media.sniff import HEAD_SIZE, MIME_TYPES, sniff
from emulators.providers.kitta.exceptions import TASK_NOT_FOUND, VOICE_NOT_FOUND, error, error_v2
from emulators.providers.kitta.models import VISIBILITIES, KittaBackend, LipSyncTask, NotEnough

V2_PREFIX = "/api/open/v2/"
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")

TTS_VERSIONS = ("v1", "v2", "s1", "v3-turbo", "v3-hd")
V3_VERSIONS = ("v3-turbo", "v3-hd")  # the versions `language` (and `emotion`) apply to
TTS_FORMATS = ("mp3", "wav", "pcm")
# The docs list no emotions: these are the ones the emulator knows; any other string is accepted
# and noted in the journal.
EMOTIONS = ("happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm", "auto")
EMOTION_MAX_CHARS = 64
LANGUAGES = ("auto", "zh", "en")  # documented for v3 only
V2_MODELS = ("fishaudio-s2pro", "fishaudio-s1", "minimax-2.8-turbo", "minimax-2.8-hd",
             "minimax-2.6-turbo", "minimax-2.6-hd", "qwen3-tts-flash")
# The docs write the Minimax engines as "minimax-2.8/2.6 turbo and hd", no exact id: any spelling
# of them is taken (case, separators, Minimax's own "speech-2.8-hd"); contracts/kitta.yaml has the
# same pattern.
_MINIMAX = re.compile(r"(?:minimax[-_ ]?(?:speech[-_ ]?)?|speech[-_ ]?)(2\.[68])[-_ ]?(turbo|hd)",
                      re.IGNORECASE | re.ASCII)
V2_FORMATS = ("mp3", "wav", "ogg")
CLONE_FORMATS = ("wav", "mp3")
MULTIPART_SLACK = 1024 * 1024


def _backend(call: Call) -> KittaBackend:
    return call.emulator.backend  # type: ignore[no-any-return]


def fail(call: Call, code: str, message: str | None = None, *, headers: dict[str, str] | None = None,
         **extra: Any) -> ProviderError:
    """The provider's error in the shape of the endpoint called (v2 speech has its own)."""
    table = error_v2 if call.request.url.path.startswith(V2_PREFIX) else error
    return table(code, message, headers=headers, **extra)


# -- bodies ---------------------------------------------------------------------------------------
class BodyError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def read_body(call: Call, *, allow_empty: bool = False) -> dict[str, Any] | None:
    """The JSON (or msgpack) object of a POST body; None for an empty body when allowed."""
    limit = _backend(call).limits["json_body_max_bytes"]
    try:
        raw = await call.body(limit=limit)
    except ValueError:
        raise BodyError("PAYLOAD_TOO_LARGE", f"Request body exceeds {limit} bytes") from None
    if not raw.strip():
        if allow_empty:
            return None
        raise BodyError("INVALID_PARAMETERS", "Request body is required")
    ctype = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in MSGPACK_TYPES:
        try:
            data = msgpack.unpackb(raw, raw=False, strict_map_key=False)
            check_tree(data, PROVIDER_JSON_DEPTH)  # the same text and numbers a JSON body may carry
        except Exception:
            raise BodyError("INVALID_PARAMETERS", "Invalid MessagePack body") from None
    else:
        try:
            data = decode_json(raw)
        except ValueError:  # not JSON text: not UTF-8, a lone surrogate, NaN, too deep, too many digits
            raise BodyError("INVALID_PARAMETERS", "Invalid JSON body") from None
    if not isinstance(data, dict):
        raise BodyError("INVALID_PARAMETERS", "Request body must be an object")
    return data


async def _object_body(call: Call, *, allow_empty: bool = False) -> dict[str, Any]:
    try:
        body = await read_body(call, allow_empty=allow_empty)
    except BodyError as exc:
        raise fail(call, exc.code, exc.message) from None
    body = body or {}
    if "token" in body and not isinstance(body["token"], str):
        raise fail(call, "INVALID_PARAMETERS", "token must be a string")
    return body


def blank(value: str) -> bool:
    """Only white space, as JSON Schema's `\\s` (ECMA-262) counts it: the contract's
    `pattern: "\\S"` and this check agree on what is blank."""
    return all(c in "\t\n\v\f\r\ufeff" or unicodedata.category(c) in ("Zs", "Zl", "Zp") for c in value)


def _string(call: Call, body: dict[str, Any], name: str, *, required: bool = False,
            max_len: int | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise fail(call, "INVALID_PARAMETERS", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be a string")
    if required and blank(value):
        raise fail(call, "INVALID_PARAMETERS", f"{name} is required")
    if max_len is not None and len(value) > max_len:
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be at most {max_len} characters")
    return value


def _number(call: Call, body: dict[str, Any], name: str, default: float | None, low: float,
            high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be a number")
    if not low <= value <= high:
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be between {low:g} and {high:g}")
    return float(value)


def _enum(call: Call, body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = body.get(name)
    if value is None:
        return default
    if value not in allowed:
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be one of: {', '.join(allowed)}")
    return str(value)


def _free_choice(call: Call, body: dict[str, Any], name: str, known: tuple[str, ...], max_len: int,
                 why: str) -> str | None:
    """A string field whose values the docs do not list: any string is taken; one the emulator
    does not know is noted in the journal (`why` says what the note means)."""
    value = _string(call, body, name, max_len=max_len)
    if value is not None and value not in known:
        call.note(f"{name} {value!r} {why}")
    return value


def _model_id(call: Call, body: dict[str, Any]) -> str:
    """The v2 engine: a documented id, or any spelling of a documented Minimax engine (noted)."""
    value = _string(call, body, "modelId", max_len=128)
    if value is None:
        return "fishaudio-s1"
    if value in V2_MODELS:
        return value
    minimax = _MINIMAX.fullmatch(value)
    if minimax is None:
        raise fail(call, "INVALID_PARAMETERS", f"modelId must be one of: {', '.join(V2_MODELS)}")
    canonical = f"minimax-{minimax.group(1)}-{minimax.group(2).lower()}"
    call.note(f"modelId {value!r} taken as {canonical!r} (the docs give no exact spelling)")
    return canonical


def _text(call: Call, body: dict[str, Any]) -> str:
    text = _string(call, body, "text", required=True)
    assert text is not None
    limit = _backend(call).limits["tts_max_characters"]
    if len(text) > limit:
        raise fail(call, "INVALID_PARAMETERS", f"text must be at most {limit} characters")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise fail(call, "INVALID_PARAMETERS", "text must be valid Unicode")
    return text


def _shortage(call: Call, exc: NotEnough) -> ProviderError:
    if exc.what == "quota":
        return fail(call, "INSUFFICIENT_QUOTA", "Insufficient API quota",
                    details=f"This request needs {exc.needed} characters of quota, {exc.available} remaining")
    return fail(call, "INSUFFICIENT_CREDITS", "Insufficient credits",
                details=f"This task needs {exc.needed} credits, {exc.available} remaining")


def _file_url(call: Call, file_id: str) -> str:
    return call.emulator.url_of(call.base_url, file_id)


async def _audio(text: str, fmt: str, voice: str) -> bytes:
    recipe = {"kind": "speech", "text": text, "format": fmt, "voice": voice}
    return await asyncio.get_running_loop().run_in_executor(None, render, recipe)


# -- /api/open/profile ----------------------------------------------------------------------------
async def profile(call: Call) -> Response:
    if call.request.method == "POST":
        await _object_body(call, allow_empty=True)
    return JSON(_backend(call).profile(call.account))


# -- POST /api/open/tts -----------------------------------------------------------------------------
async def tts(call: Call) -> Response:
    backend = _backend(call)
    body = await _object_body(call)
    reference_id = _string(call, body, "reference_id", required=True, max_len=128)
    text = _text(call, body)
    _number(call, body, "speed", 1.0, 0.5, 2.0)
    _number(call, body, "volume", 0.0, -20.0, 20.0)
    version = _enum(call, body, "version", TTS_VERSIONS, "v1")
    fmt = _enum(call, body, "format", TTS_FORMATS, "mp3")
    # v3 only, ignored by the other versions: the docs list languages (for v3), not emotions
    _free_choice(call, body, "emotion", EMOTIONS, EMOTION_MAX_CHARS, "is not one the emulator knows; accepted")
    if version in V3_VERSIONS:
        _enum(call, body, "language", LANGUAGES, "auto")
    else:
        _free_choice(call, body, "language", LANGUAGES, 32,
                     f"is not one of auto|zh|en; accepted, as language applies to v3 only (version {version})")
    cache = body.get("cache", False)
    if cache is None:
        cache = False
    if not isinstance(cache, bool):
        raise fail(call, "INVALID_PARAMETERS", "cache must be a boolean")
    assert reference_id is not None and fmt is not None and version is not None
    account = call.account
    if backend.usable_voice(account, reference_id) is None:
        raise fail(call, "NOT_FOUND", VOICE_NOT_FOUND)
    characters = backend.tts_cost(text)
    try:
        backend.check_quota(account, characters)
        # Rendered before the charge: a failure after an await would roll the account back to
        # what it was before, undoing what other requests charged meanwhile.
        data = None if cache else await _audio(text, fmt, reference_id)
        remaining = backend.charge_quota(account, characters, f"tts:{reference_id}")
    except NotEnough as exc:
        raise _shortage(call, exc) from None
    if data is None:
        file_id = backend.speech_file(account, text, fmt, reference_id)
        return JSON({"success": True, "audio_url": _file_url(call, file_id), "format": fmt,
                     "characters_used": characters, "quota_remaining": remaining})
    return Response(data, media_type=MIME_TYPES[fmt],
                    headers={"X-Characters-Used": str(characters), "X-Quota-Remaining": str(remaining)})


# -- POST /api/open/v2/speech/tts -----------------------------------------------------------------
async def tts_v2(call: Call) -> Response:
    backend = _backend(call)
    body = await _object_body(call)
    voice_id = _string(call, body, "voiceId", required=True, max_len=128)
    _model_id(call, body)
    text = _text(call, body)
    fmt = _enum(call, body, "format", V2_FORMATS, "mp3")
    _number(call, body, "speed", 1.0, 0.5, 2.0)
    _number(call, body, "volume", 0.0, -20.0, 20.0)
    # engine-specific controls: ranges always checked, ignored by engines that lack them
    _number(call, body, "stability", None, 0.5, 1.5)
    _number(call, body, "similarity", None, 0.5, 1.5)
    _number(call, body, "pitch", None, -12.0, 12.0)
    _string(call, body, "language", max_len=32)
    _free_choice(call, body, "emotion", EMOTIONS, EMOTION_MAX_CHARS, "is not one the emulator knows; accepted")
    assert voice_id is not None and fmt is not None
    account = call.account
    if backend.usable_voice(account, voice_id) is None:
        raise fail(call, "NOT_FOUND", VOICE_NOT_FOUND)
    characters = backend.tts_cost(text)
    try:
        backend.check_quota(account, characters)
        data = await _audio(text, fmt, voice_id)  # before the charge: see tts()
        remaining = backend.charge_quota(account, characters, f"tts-v2:{voice_id}")
    except NotEnough as exc:
        raise _shortage(call, exc) from None
    return Response(data, media_type=MIME_TYPES[fmt],
                    headers={"X-Characters-Used": str(characters), "X-Quota-Remaining": str(remaining)})


# -- POST /api/open/create-model ------------------------------------------------------------------
async def create_model(call: Call) -> Response:
    backend = _backend(call)
    limits = backend.limits
    max_file, max_files = limits["clone_max_file_bytes"], limits["clone_max_files"]
    try:
        form = await call.form(max_body=limits["clone_max_body_bytes"] + MULTIPART_SLACK,
                               max_files=max_files)
    except BodyTooLarge:
        raise fail(call, "PAYLOAD_TOO_LARGE", "Upload file too large",
                   details=f"The request exceeds {limits['clone_max_body_bytes']} bytes") from None
    except ValueError as exc:
        raise fail(call, "INVALID_PARAMETERS", "Request must be multipart/form-data",
                   details=str(exc)[:200]) from None
    try:
        name = _form_text(call, form, "name")
        if not name:
            raise fail(call, "INVALID_PARAMETERS", "name is required")
        if len(name) > limits["clone_name_max_chars"]:
            raise fail(call, "INVALID_PARAMETERS", f"name must be at most {limits['clone_name_max_chars']} characters")
        description = _form_text(call, form, "description")
        if description is not None and len(description) > limits["clone_description_max_chars"]:
            raise fail(call, "INVALID_PARAMETERS",
                       f"description must be at most {limits['clone_description_max_chars']} characters")
        visibility = _form_text(call, form, "visibility") or "private"
        if visibility not in VISIBILITIES:
            raise fail(call, "INVALID_PARAMETERS", "visibility must be one of: public, private")
        uploads = form.getlist("audioFiles")
        if not uploads:
            raise fail(call, "INVALID_PARAMETERS", "audioFiles is required")
        if not all(isinstance(u, UploadFile) for u in uploads):
            raise fail(call, "INVALID_PARAMETERS", "audioFiles must be files")
        samples = []
        for upload in uploads:
            assert isinstance(upload, UploadFile)
            size = upload.size if upload.size is not None else _size_of(upload)
            if size > max_file:
                raise fail(call, "PAYLOAD_TOO_LARGE", "Upload file too large",
                           details=f"Each audio file must be at most {max_file} bytes")
            upload.file.seek(0)
            fmt = sniff(upload.file.read(HEAD_SIZE))
            if fmt not in CLONE_FORMATS:
                raise fail(call, "INVALID_PARAMETERS", "Unsupported audio format",
                           details="audioFiles must be WAV or MP3 audio")
            blob, stored = call.emulator.store_blob(upload.file)
            info = await asyncio.get_running_loop().run_in_executor(None, probe, call.emulator.blobs.path(blob))
            if info is None or not info.has_audio or not info.duration:
                raise fail(call, "INVALID_PARAMETERS", "Unsupported audio format",
                           details=f"{upload.filename or 'audio file'} could not be decoded as {fmt}")
            samples.append((blob, stored, fmt, upload.filename, float(info.duration)))
    finally:
        await form.close()  # before the write: nothing awaits between a write and its answer
    voice = backend.create_model(call.account, name, description, visibility, samples, call.now)
    return JSON({"modelId": voice.id, "title": voice.title, "description": voice.description,
                 "createdAt": iso(voice.created_at), "message": "Model created successfully"})


def _form_text(call: Call, form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be a text field")
    return None if blank(value) else (value.strip() or value)


def _size_of(upload: UploadFile) -> int:
    upload.file.seek(0, 2)
    return upload.file.tell()


# -- lip-sync -------------------------------------------------------------------------------------------
def _url_field(call: Call, body: dict[str, Any], name: str) -> str:
    url = _string(call, body, name, required=True, max_len=_backend(call).limits["url_max_chars"])
    assert url is not None
    url = url.strip()
    if not _is_http_url(url):
        raise fail(call, "INVALID_PARAMETERS", f"{name} must be a public http(s) URL")
    own = call.base_url + "/files/"
    if url.startswith(own):
        record = call.emulator.file_from_url(url)
        if record is None or (record.expires_at is not None and call.now >= record.expires_at):
            raise fail(call, "INVALID_PARAMETERS", f"{name} is not accessible")
    return url


_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]]+")
# printable ASCII except what RFC 3986 never allows in a URI
_URI_CHARS = re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x21, 0x7f) if chr(c) not in '<>"{}|\\^`') + "]+")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_AUTHORITY_END = re.compile(r"[/?#]")


@functools.lru_cache(maxsize=1024)  # a fleet sends the same few URLs again and again
def _is_http_url(url: str) -> bool:
    """An absolute http(s) URI (RFC 3986 characters only) with a host."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not _URI_CHARS.fullmatch(url):
        return False
    if _BAD_PERCENT.search(url):
        return False
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    return bool(authority) and _AUTHORITY.fullmatch(authority) is not None


async def lip_sync_create(call: Call) -> Response:
    backend = _backend(call)
    body = await _object_body(call)
    video_url = _url_field(call, body, "video_url")
    audio_url = _url_field(call, body, "audio_url")
    try:
        task = backend.create_lip_sync(call.account, video_url, audio_url, call.now)
    except NotEnough as exc:
        raise _shortage(call, exc) from None
    return JSON({"success": True, "message": "Task created successfully",
                 "data": {"id": task.id, "status": backend.task_status(task, call.now),
                          "created_at": iso(task.created_at), "credits_used": task.credits_used,
                          "remaining_credits": call.account.credits.total()}})


async def lip_sync_query(call: Call) -> Response:
    if call.request.method == "POST":
        body = await _object_body(call)
        task_id = body.get("id")
    else:
        task_id = call.query("id")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str) or blank(task_id):
        raise fail(call, "INVALID_PARAMETERS", "id is required")
    backend = _backend(call)
    task = backend.task(call.account, task_id.strip())
    if task is None:
        raise fail(call, "NOT_FOUND", TASK_NOT_FOUND)
    return JSON({"success": True, "data": task_json(call, backend, task)})


def task_json(call: Call, backend: KittaBackend, task: LipSyncTask) -> dict[str, Any]:
    view = backend.task_view(task, call.now)
    status = view["status"]
    return {
        "id": task.id, "status": status, "progress": view["progress"],
        "result_url": _file_url(call, task.result_id()) if status == "completed" else None,
        "error_message": ("Lip-sync failed: no speaking face could be matched to the audio"
                          if status == "failed" else None),
        "created_at": iso(task.created_at), "updated_at": iso(view["updated_at"]),
        "completed_at": iso(view["completed_at"]) if view["completed_at"] is not None else None,
        "credits_used": 0 if task.refunded else task.credits_used,
    }
