"""Voice Clone & TTS handlers: parse the request, call the backend, serialize the answer."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response

from emulators.engine.clock import iso
from emulators.engine.http import JSON, BodyTooLarge, Call
from emulators.engine.ledger import InsufficientFunds
from emulators.media.probe import probe
from emulators.media.sniff import sniff
from emulators.providers.voiceclone.exceptions import (
    FILE_TOO_LARGE,
    INVALID_FILE_TYPE,
    error,
)
from emulators.providers.voiceclone.models import (
    FORMATS,
    SORT_FIELDS,
    VOICE_STATUSES,
    VOICE_TYPES,
    NotFound,
    Speech,
    VoiceCloneBackend,
)

VOICE_FORMATS = {"mp3": "mp3", "wav": "wav", "webm": "webm"}
MULTIPART_SLACK = 1024 * 1024  # room for the other fields and the multipart framing


def _backend(call: Call) -> VoiceCloneBackend:
    return call.emulator.backend  # type: ignore[no-any-return]


def _url(call: Call, file_id: str | None) -> str | None:
    if file_id is None:
        return None
    record = call.emulator.state.files.get(file_id)
    return call.emulator.file_url(call.base_url, record) if record else None


# -- POST /api/v1/voice-clone ---------------------------------------------------------------------
async def clone_voice(call: Call) -> Response:
    backend = _backend(call)
    max_bytes = backend.state.settings.limits["voice_max_bytes"]
    try:
        form = await call.form(max_body=max_bytes + MULTIPART_SLACK)
    except BodyTooLarge:
        raise error("INVALID_PARAMETERS", FILE_TOO_LARGE) from None
    except ValueError:
        raise error("INVALID_PARAMETERS", "Request must be multipart/form-data with a voice file") from None
    try:
        upload = form.get("voice")
        if not isinstance(upload, UploadFile):
            raise error("INVALID_PARAMETERS", "Voice file is required")
        size = upload.size if upload.size is not None else _size_of(upload)
        if size > max_bytes:
            raise error("INVALID_PARAMETERS", FILE_TOO_LARGE)
        upload.file.seek(0)
        fmt = VOICE_FORMATS.get(sniff(upload.file.read(64)) or "")
        if fmt is None:
            raise error("INVALID_PARAMETERS", INVALID_FILE_TYPE)
        title = _text_field(form, "title")
        description = _text_field(form, "description")
        cover = _text_field(form, "coverImage")
        if cover is not None and not cover.startswith(("http://", "https://")):
            raise error("INVALID_PARAMETERS", "coverImage must be an http(s) URL")
        tags = parse_tags(_text_field(form, "tags"))
        blob, stored = call.emulator.store_blob(upload.file)
        info = await asyncio.get_running_loop().run_in_executor(
            None, probe, call.emulator.blobs.path(blob))
        if info is None or not info.has_audio or not info.duration:
            raise error("INVALID_PARAMETERS", INVALID_FILE_TYPE)
        filename = upload.filename
    finally:
        await form.close()  # before any write: nothing awaits between a charge and its answer
    try:
        voice = backend.clone_voice(call.account, blob, stored, fmt, info.duration, title, description,
                                    cover, tags, filename, call.now)
    except ValueError as exc:
        raise error("INVALID_PARAMETERS", str(exc)) from None
    except Exception as exc:
        raise _credit_error(exc) from None
    body = backend.voice_json(voice, call.now, _url(call, voice.audioFile))
    cloned = {k: body[k] for k in ("id", "title", "description", "coverImage", "audioUrl", "duration",
                                    "tags", "createdAt", "status")}
    return JSON({"success": True, "voiceId": voice.id, "voice": cloned})


def _size_of(upload: UploadFile) -> int:
    upload.file.seek(0, 2)
    return upload.file.tell()


def _text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise error("INVALID_PARAMETERS", f"{name} must be a text field")
    value = value.strip()
    return value or None


def parse_tags(raw: str | None) -> list[str]:
    """Tags as a JSON array of strings, or a comma-separated list."""
    if raw is None:
        return []
    if raw.startswith("["):
        try:
            tags = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON; nested too deep; a number of 4,300+ digits
            raise error("INVALID_PARAMETERS", "tags must be a JSON array or a comma-separated list") from None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise error("INVALID_PARAMETERS", "tags must be a JSON array of strings")
        if any(_has_lone_surrogate(t) for t in tags):  # "\ud800": no text, and no UTF-8 for the answer
            raise error("INVALID_PARAMETERS", "tags must be valid Unicode text")
    else:
        tags = raw.split(",")
    return [t.strip() for t in tags if t.strip()]


def _has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _credit_error(exc: Exception) -> Exception:
    if isinstance(exc, InsufficientFunds):
        return error("USAGE_LIMIT_EXCEEDED", credits=exc.available, needCredits=exc.needed)
    if isinstance(exc, NotFound):
        return error("NOT_FOUND", str(exc))
    return exc


# -- GET /api/v1/voices ---------------------------------------------------------------------------
async def list_voices(call: Call) -> Response:
    backend = _backend(call)
    page = _int_param(call, "page", 1, 1, None)
    limit = _int_param(call, "limit", 20, 1, backend.state.settings.limits["page_limit_max"])
    status = _enum_param(call, "status", VOICE_STATUSES, None)
    vtype = _enum_param(call, "type", VOICE_TYPES, None)
    sort_by = _enum_param(call, "sortBy", SORT_FIELDS, "createdAt")
    order = _enum_param(call, "sortOrder", ("asc", "desc"), "desc")
    voices, total = backend.list_voices(call.account, call.now, page, limit, status, vtype, sort_by, order)
    total_pages = -(-total // limit)
    return JSON({
        "success": True,
        "voices": [backend.voice_json(v, call.now, _url(call, v.audioFile)) for v in voices],
        "pagination": {"page": page, "limit": limit, "total": total, "totalPages": total_pages,
                       "hasNext": page < total_pages, "hasPrev": page > 1},
    })


def _single(call: Call, name: str) -> str | None:
    """A query parameter's value; given twice it is a list (as an Express app parses it), which
    no parameter of this API takes."""
    values = call.request.query_params.getlist(name)
    if len(values) > 1:
        raise error("INVALID_PARAMETERS", f"{name} must be given once")
    return values[0] if values else None


def _int_param(call: Call, name: str, default: int, low: int, high: int | None) -> int:
    raw = _single(call, name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise error("INVALID_PARAMETERS", f"{name} must be an integer")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise error("INVALID_PARAMETERS", f"{name} must be {bound}")
    return value


def _enum_param(call: Call, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    raw = _single(call, name)
    if raw is None or raw == "":
        return default
    if raw not in allowed:
        raise error("INVALID_PARAMETERS", f"{name} must be one of: {', '.join(allowed)}")
    return raw


# -- POST /api/v1/tts -----------------------------------------------------------------------------
async def create_speech(call: Call) -> Response:
    backend = _backend(call)
    try:
        body = await call.json(limit=256 * 1024)
    except ValueError:
        raise error("INVALID_PARAMETERS", "Request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise error("INVALID_PARAMETERS", "Request body must be a JSON object")
    text, voice_id, fmt = body.get("text"), body.get("voiceId"), body.get("format", "mp3")
    if not isinstance(text, str) or not text.strip():
        raise error("INVALID_PARAMETERS", "text is required")
    if not isinstance(voice_id, str) or not voice_id:
        raise error("INVALID_PARAMETERS", "voiceId is required")
    if fmt is None:
        fmt = "mp3"
    if fmt not in FORMATS:
        raise error("INVALID_PARAMETERS", f"Invalid format. Supported formats: {', '.join(FORMATS)}")
    try:
        speech = backend.create_speech(call.account, text, voice_id, fmt, call.now)
    except ValueError as exc:
        raise error("INVALID_PARAMETERS", str(exc)) from None
    except Exception as exc:
        raise _credit_error(exc) from None
    return JSON({"success": True, "speechId": speech.id, "creditsUsed": speech.creditsUsed,
                 "speech": {"id": speech.id, "text": speech.text, "format": speech.format,
                            "status": backend.speech_status(speech, call.now),
                            "creditsUsed": speech.creditsUsed, "createdAt": iso(speech.createdAt)}})


# -- GET /api/v1/tts/{speechId} -------------------------------------------------------------------
async def get_speech(call: Call) -> Response:
    backend = _backend(call)
    try:
        speech = backend.speech(call.account, call.params["speechId"])
    except LookupError as exc:
        raise error("NOT_FOUND", str(exc)) from None
    return JSON({"success": True, "speech": speech_json(call, backend, speech)})


def speech_json(call: Call, backend: VoiceCloneBackend, speech: Speech) -> dict[str, Any]:
    status = backend.speech_status(speech, call.now)
    done = status == "COMPLETED"
    voice = backend.state.voices.get(speech.voiceId)
    return {
        "id": speech.id, "text": speech.text,
        "audioUrl": _url(call, speech.audioFile) if done else None,
        "format": speech.format, "duration": speech.duration if done else None, "status": status,
        "creditsUsed": speech.creditsUsed, "createdAt": iso(speech.createdAt),
        "updatedAt": iso(backend.speech_updated_at(speech, call.now)),
        "voice": {"id": speech.voiceId, "title": voice.title if voice else None,
                  "coverImage": voice.coverImage if voice else None,
                  "type": voice.type if voice else "USER"},
    }


# -- GET /api/v1/credits --------------------------------------------------------------------------
async def get_credits(call: Call) -> Response:
    return JSON({"success": True, **_backend(call).credits(call.account)})
