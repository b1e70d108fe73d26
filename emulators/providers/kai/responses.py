"""kai handlers: parse and validate (Laravel-style messages, OpenAI error shape), call the
backend and the pure helpers, serialize. A successful POST sleeps its emulated processing time
while holding its concurrency slot."""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.responses import PlainTextResponse, Response

from emulators.engine.http import JSON, BodyTooLarge, Call
from emulators.engine.jobs import carries_fail_marker
from emulators.media.probe import probe
from emulators.media.sniff import sniff
from emulators.providers.kai import chat, transcribe
from emulators.providers.kai.exceptions import error, invalid
from emulators.providers.kai.models import Account, KaiBackend, new_id

SCOPE_USAGE = "kai.usage"  # read by provider.finish: (tokens_in, tokens_out)
SCOPE_ENDS_AT = "kai.ends_at"  # read by provider.release: when this POST's processing ends

MAX_UPLOAD_KB = 25600
MAX_UPLOAD = MAX_UPLOAD_KB * 1024
MULTIPART_SLACK = 256 * 1024
JSON_LIMIT = 4 * 1024 * 1024  # chat bodies
TOO_LARGE = f"The {{}} field must not be greater than {MAX_UPLOAD_KB} kilobytes."
CHAT_ROLES = ("system", "user", "assistant")
AUDIO_FORMATS = ("mp3", "m4a", "wav", "webm", "ogg", "flac", "aac", "mp4", "mov", "avi", "mkv")
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
AUDIO_ALIASES = ("whisper-1",)
MAX_FIELDS = 50  # form fields per upload request


def _backend(call: Call) -> KaiBackend:
    return call.emulator.backend  # type: ignore[no-any-return]


async def _process(call: Call, seconds: float) -> None:
    """The emulated processing time; the concurrency slot stays taken meanwhile."""
    if seconds > 0:
        ends_at = call.emulator.clock.now() + seconds
        with call.emulator.lock:
            _backend(call).busy(call.account, ends_at)
        call.request.scope[SCOPE_ENDS_AT] = ends_at
        await asyncio.sleep(seconds)


def _fail_marker(call: Call, *values: Any) -> None:
    if carries_fail_marker(*values):
        raise error("internal_error", "The upstream model failed to process the request (EMULATOR_FAIL).")


# -- GET /api/v1/models -----------------------------------------------------------------------------
async def list_models(call: Call) -> Response:
    return JSON.rendered(_backend(call).model_list_json(call.account))


# -- GET /api/v1/usage ------------------------------------------------------------------------------
async def usage(call: Call) -> Response:
    backend = _backend(call)
    with call.emulator.lock:
        return JSON(backend.usage_json(call.account, call.now))


# -- validation helpers -----------------------------------------------------------------------------
def _number(body: dict[str, Any], name: str, low: float, high: float, integer: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"The {name} field must be an integer.", name)
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise invalid(f"The {name} field must be a number.", name)
    if value < low:
        raise invalid(f"The {name} field must be at least {_fmt(low)}.", name)
    if value > high:
        raise invalid(f"The {name} field must not be greater than {_fmt(high)}.", name)
    return value


def _finite(value: float) -> bool:
    """A finite double; an integer beyond a double (10**400) is not, like the float 1e400."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _form_number(form: FormData, name: str, low: float, high: float) -> float | None:
    raw = _form_text(form, name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise invalid(f"The {name} field must be a number.", name) from None
    if not math.isfinite(value):
        raise invalid(f"The {name} field must be a number.", name)
    if value < low:
        raise invalid(f"The {name} field must be at least {_fmt(low)}.", name)
    if value > high:
        raise invalid(f"The {name} field must not be greater than {_fmt(high)}.", name)
    return value


def _form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"The {name} field must be a string.", name)
    return value


async def _json_object(call: Call) -> dict[str, Any]:
    unparsable = invalid("We could not parse the JSON body of your request. The body must be valid JSON.")
    try:
        body = await call.json(limit=JSON_LIMIT)
        # an unpaired UTF-16 surrogate escape ("\ud800") is no text: refused as a JSON error
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except BodyTooLarge:
        raise invalid(f"The request body must not be greater than {JSON_LIMIT // 1024} kilobytes.") from None
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise unparsable from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


# -- POST /api/v1/chat/completions ------------------------------------------------------------------
def validate_chat(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("The messages field is required.", "messages")
    if not isinstance(messages, list):
        raise invalid("The messages field must be an array.", "messages")
    if len(messages) < 1:
        raise invalid("The messages field must have at least 1 items.", "messages")
    clean = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid(f"The {where} field must be an object.", where)
        role, content = message.get("role"), message.get("content")
        if role is None:
            raise invalid(f"The {where}.role field is required.", f"{where}.role")
        if role not in CHAT_ROLES:
            raise invalid(f"The selected {where}.role is invalid.", f"{where}.role")
        if content is None:
            raise invalid(f"The {where}.content field is required.", f"{where}.content")
        if not isinstance(content, str):
            raise invalid(f"The {where}.content field must be a string.", f"{where}.content")
        if len(content) < 1:
            raise invalid(f"The {where}.content field must be at least 1 characters.", f"{where}.content")
        clean.append({"role": role, "content": content})
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise invalid("The model field must be a string.", "model")
    _number(body, "temperature", 0, 2)
    _number(body, "max_tokens", 1, 32768, integer=True)
    _number(body, "top_p", 0, 1)
    stream = body.get("stream")
    if stream is not None:
        if stream not in (True, False, 0, 1) or isinstance(stream, float):
            raise invalid("The stream field must be true or false.", "stream")
        if stream:
            raise invalid("Streaming is not currently supported. Set stream to false or omit it.", "stream")
    _number(body, "n", 1, 10, integer=True)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise invalid("The stop field must be a string.", "stop")
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    return clean


def _pick_model(backend: KaiBackend, account: Account, requested: str | None, kind: str,
                aliases: tuple[str, ...] = ()) -> str:
    available = backend.models_of(account, kind)
    if not requested:
        if not available:
            raise invalid(f"No {kind} model is available for your plan.", "model")
        return available[0].id
    if requested in aliases and available:
        return requested
    if requested not in {m.id for m in available}:
        raise invalid(f"The model '{requested}' does not exist or is not available for your plan. "
                      "Use GET /v1/models to list available models.", "model")
    return requested


async def chat_completions(call: Call) -> Response:
    backend = _backend(call)
    body = await _json_object(call)
    messages = validate_chat(body)
    account: Account = call.account
    model = _pick_model(backend, account, body.get("model"), "chat")
    _fail_marker(call, [m["content"] for m in messages])
    reply = chat.reply_for(messages, backend.state.catalog.scripts, model)
    text, completion, cut = chat.truncate(reply, body.get("max_tokens"))
    prompt = chat.prompt_tokens(messages)
    await _process(call, backend.processing_seconds(account, "chat", completion))
    call.request.scope[SCOPE_USAGE] = (prompt, completion)
    return JSON({
        "id": new_id("chatcmpl-kai-"), "object": "chat.completion", "created": int(call.now),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "length" if cut else "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    })


# -- uploads -----------------------------------------------------------------------------------------
async def _form(call: Call, file_field: str, max_files: int = 4) -> FormData:
    try:
        return await call.form(max_body=MAX_UPLOAD + MULTIPART_SLACK, max_files=max_files, max_fields=MAX_FIELDS)
    except BodyTooLarge:
        raise invalid(TOO_LARGE.format(file_field), file_field) from None
    except (ValueError, MultiPartException) as exc:  # an urlencoded body's limits raise the latter
        reason = str(exc).lower()
        if "too many files" in reason:
            raise invalid(f"The {file_field} field must not have more than 1 items.", file_field) from None
        if "too many fields" in reason:
            raise invalid(f"The request must not have more than {MAX_FIELDS} fields.") from None
        raise invalid(f"The request must be multipart/form-data with a {file_field} field.", file_field) from None


def _read_upload(account: Account, upload: UploadFile, field: str) -> bytes:
    upload.file.seek(0, 2)
    size = upload.file.tell()
    if size > MAX_UPLOAD:
        raise invalid(TOO_LARGE.format(field), field)
    if size > account.max_file_size:
        raise invalid(f"The {field} field must not be greater than {account.max_file_size // 1024} "
                      f"kilobytes (your plan's maximum file size).", field)
    upload.file.seek(0)
    return upload.file.read()


# -- POST /api/v1/audio/transcriptions --------------------------------------------------------------
async def transcriptions(call: Call) -> Response:
    backend = _backend(call)
    account: Account = call.account
    form = await _form(call, "file")
    try:
        upload = form.get("file")
        if upload is None or upload == "":
            raise invalid("The file field is required.", "file")
        if not isinstance(upload, UploadFile):
            raise invalid("The file field must be a file.", "file")
        data = _read_upload(account, upload, "file")
        fmt = sniff(data[:64])
        if fmt not in AUDIO_FORMATS:
            raise invalid(f"The file field must be a file of type: {', '.join(AUDIO_FORMATS)}.", "file")
        requested = _form_text(form, "model")
        if requested and requested not in AUDIO_ALIASES:
            available = {m.id for m in backend.models_of(account, "audio")}
            if requested not in available:
                raise invalid("The selected model is invalid.", "model")
        _pick_model(backend, account, requested, "audio", AUDIO_ALIASES)
        language = _form_text(form, "language")
        if language is not None and language != "" and len(language) != 2:
            raise invalid("The language field must be 2 characters.", "language")
        prompt = _form_text(form, "prompt")
        if prompt is not None and len(prompt) > 1000:
            raise invalid("The prompt field must not be greater than 1000 characters.", "prompt")
        response_format = _form_text(form, "response_format") or "json"
        if response_format not in RESPONSE_FORMATS:
            raise invalid("The selected response_format is invalid.", "response_format")
        temperature = _form_number(form, "temperature", 0, 1) or 0.0
        _fail_marker(call, prompt, upload.filename)
        info = await asyncio.get_running_loop().run_in_executor(None, probe, data)
        if info is None:
            raise invalid("The file could not be decoded as audio or video.", "file")
        if not info.has_audio or not info.duration:
            raise invalid("The file does not contain an audio stream.", "file")
        text, detected = await asyncio.get_running_loop().run_in_executor(
            None, transcribe.transcript, data, info.duration, backend.state.catalog.samples,
            backend.state.catalog.filler)
    finally:
        await form.close()
    lang = (language or detected or "en").lower()
    await _process(call, backend.processing_seconds(account, "transcription", info.duration))
    segs = transcribe.segments(text, info.duration)
    if response_format == "json":
        return JSON({"text": text})
    if response_format == "verbose_json":
        return JSON(transcribe.verbose(text, lang, info.duration, segs, temperature))
    if response_format == "text":
        return PlainTextResponse(text + "\n")
    if response_format == "srt":
        return PlainTextResponse(transcribe.srt(segs))
    return Response(transcribe.vtt(segs), media_type="text/vtt; charset=utf-8")
