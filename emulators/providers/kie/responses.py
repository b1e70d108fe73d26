"""kie.ai handlers: parse the request, call the backend, serialize the answer."""
from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
import re
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.responses import Response

from emulators.engine.clock import iso
from emulators.engine.http import JSON, BodyTooLarge, Call
from emulators.engine.ledger import InsufficientFunds
from emulators.engine.outbound import FetchFailed, Refused, TooLarge
from emulators.engine.ids import hex_id
from emulators.media.sniff import MIME_TYPES, sniff
from emulators.providers.kie import profiles
from emulators.providers.kie.catalog import Invalid, http_url
from emulators.providers.kie.exceptions import TASK_NOT_FOUND, error
from emulators.providers.kie.models import ForeignFile, KieBackend, NotFound, Upload

MULTIPART_SLACK = 1024 * 1024
NAME_RE = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")
PATH_RE = re.compile(r"^[A-Za-z0-9._\-/ ]{1,200}$")


def _backend(call: Call) -> KieBackend:
    return call.emulator.backend  # type: ignore[no-any-return]


def ok(data: Any) -> Response:
    return JSON({"code": 200, "msg": "success", "data": data})


async def _json_object(call: Call, limit: int = 1024 * 1024, *, upload: bool = False) -> dict[str, Any]:
    code = 400 if upload else 422
    try:
        body = await call.json(limit=limit)
    except ValueError as exc:
        if "too large" in str(exc):
            raise error(code, "Request body is too large", upload=upload) from None
        raise error(code, "Request body must be a JSON object", upload=upload) from None
    if not isinstance(body, dict):
        raise error(code, "Request body must be a JSON object", upload=upload)
    return body


# -- GET /api/v1/chat/credit ----------------------------------------------------------------------
async def get_credit(call: Call) -> Response:
    return ok(_backend(call).balance(call.account))


# -- POST /api/v1/jobs/createTask -----------------------------------------------------------------
async def create_task(call: Call) -> Response:
    backend = _backend(call)
    body = await _json_object(call)
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id.strip():
        raise error(422, "model is required")
    callback = body.get("callBackUrl")
    if callback == "":
        callback = None
    if callback is not None and not http_url(callback, 2048):
        raise error(422, "callBackUrl must be an http(s) URL")
    try:
        plan = backend.plan(model_id, body.get("input"), call.now)
        task = backend.create_task(call.account, plan, body, callback, call.base_url, call.now)
    except Invalid as exc:
        raise error(422, str(exc)) from None
    except InsufficientFunds:
        raise error(402, "Credits insufficient: the account does not have enough credits for this task") from None
    return ok(profiles.create_task(task.id, backend.profile()))


# -- GET /api/v1/jobs/recordInfo ------------------------------------------------------------------
async def record_info(call: Call) -> Response:
    backend = _backend(call)
    task_id = call.query("taskId")
    if not task_id:
        raise error(422, "taskId is required")
    try:
        task = backend.task(call.account, task_id)
    except NotFound:
        raise error(404, TASK_NOT_FOUND) from None
    return ok(backend.task_json(task, call.now, call.base_url))


# -- POST /api/v1/common/download-url -------------------------------------------------------------
async def download_url(call: Call) -> Response:
    backend = _backend(call)
    body = await _json_object(call)
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise error(422, "url is required")
    try:
        with call.emulator.lock:
            link = backend.download_link(call.account, url.strip(), call.now)
    except Invalid as exc:
        raise error(422, str(exc)) from None
    return ok(call.emulator.file_url(call.base_url, link))


# -- the upload API ---------------------------------------------------------------------------------
def _limits(call: Call) -> dict[str, Any]:
    return _backend(call).state.settings["limits"]  # type: ignore[no-any-return]


def _upload_path(value: Any) -> str:
    if value is None or value == "":
        raise error(400, "uploadPath is required", upload=True)
    if not isinstance(value, str):
        raise error(400, "uploadPath must be a string", upload=True)
    path = value.strip().strip("/")
    if not path or not PATH_RE.match(path) or ".." in path.split("/") or "//" in path:
        raise error(400, "uploadPath may hold letters, digits, '.', '_', '-', spaces and '/' "
                         "(at most 200 characters, no '..')", upload=True)
    return path


def _file_name(value: Any, ext: str | None) -> str:
    if value is None or value == "":
        return f"{hex_id(8)}.{ext or 'bin'}"
    if not isinstance(value, str) or not NAME_RE.match(value.strip()) or value.strip() in (".", ".."):
        raise error(400, "fileName must be a file name (no '/', at most 255 characters)", upload=True)
    return value.strip()


def _kind(head: bytes, name: str | None, declared: str | None = None) -> tuple[str, str]:
    """(extension for the stored file, MIME type) from the bytes, else the name, else declared."""
    fmt = sniff(head)
    if fmt is not None:
        return fmt, MIME_TYPES.get(fmt, "application/octet-stream")
    guessed = mimetypes.guess_type(name or "")[0] if name else None
    mime = guessed or declared or "application/octet-stream"
    ext = (name.rsplit(".", 1)[-1].lower() if name and "." in name else "") or "bin"
    if not re.fullmatch(r"[a-z0-9]{1,8}", ext):
        ext = "bin"
    return ext, mime


def _upload_json(call: Call, upload: Upload) -> Response:
    record = call.emulator.state.files[upload.fileId]
    data = _backend(call).upload_view(call.account, upload, call.emulator.file_url(call.base_url, record),
                                      iso(upload.uploadedAt))
    return JSON({"success": True, "code": 200, "msg": "File uploaded successfully", "data": data})


def _store(call: Call, data: bytes, name_field: Any, upload_path: str, source_name: str | None,
           declared: str | None = None) -> Response:
    ext, mime = _kind(data[:64], name_field if isinstance(name_field, str) and name_field else source_name,
                      declared)
    file_name = _file_name(name_field, ext)
    blob, size = call.emulator.store_blob(data)
    upload = _backend(call).save_upload(call.account, blob, size, ext, mime, upload_path, file_name, call.now)
    return _upload_json(call, upload)


async def stream_upload(call: Call) -> Response:
    max_bytes = int(_limits(call)["stream_upload_max_bytes"])
    try:
        form = await call.form(max_body=max_bytes + MULTIPART_SLACK)
    except BodyTooLarge:
        raise error(400, f"File size exceeds the {max_bytes // (1024 * 1024)} MB limit", upload=True) from None
    except ValueError:
        raise error(400, "Request must be multipart/form-data with a file", upload=True) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise error(400, "file is required", upload=True)
        upload_path = _upload_path(form.get("uploadPath"))
        name_field = form.get("fileName")
        if name_field is not None and not isinstance(name_field, str):
            raise error(400, "fileName must be a text field", upload=True)
        upload.file.seek(0, 2)
        size = upload.file.tell()
        if size > max_bytes:
            raise error(400, f"File size exceeds the {max_bytes // (1024 * 1024)} MB limit", upload=True)
        if size == 0:
            raise error(400, "The file is empty", upload=True)
        upload.file.seek(0)
        head = upload.file.read(64)
        source_name = upload.filename
        ext, mime = _kind(head, name_field or source_name, upload.content_type)
        file_name = _file_name(name_field, ext)
        blob, stored = call.emulator.store_blob(upload.file)
    finally:
        await form.close()
    saved = _backend(call).save_upload(call.account, blob, stored, ext, mime, upload_path, file_name, call.now)
    return _upload_json(call, saved)


DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,", re.ASCII)


async def base64_upload(call: Call) -> Response:
    max_bytes = int(_limits(call)["base64_upload_max_bytes"])
    body = await _json_object(call, limit=max_bytes * 4 // 3 + 64 * 1024, upload=True)
    raw = body.get("base64Data")
    if not isinstance(raw, str) or not raw.strip():
        raise error(400, "base64Data is required", upload=True)
    upload_path = _upload_path(body.get("uploadPath"))
    declared = None
    match = DATA_URL.match(raw)
    if match:
        declared = match.group(1)
        raw = raw[match.end():]
    elif raw.startswith("data:"):
        raise error(400, "base64Data must be base64 or a data: URL with ;base64", upload=True)
    try:
        data = base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise error(400, "base64Data is not valid base64", upload=True) from None
    if not data:
        raise error(400, "The file is empty", upload=True)
    if len(data) > max_bytes:
        raise error(400, f"File size exceeds the {max_bytes // (1024 * 1024)} MB limit", upload=True)
    return _store(call, data, body.get("fileName"), upload_path, None, declared)


async def url_upload(call: Call) -> Response:
    backend = _backend(call)
    limits = _limits(call)
    body = await _json_object(call, upload=True)
    url = body.get("fileUrl")
    if not isinstance(url, str) or not url.strip():
        raise error(400, "fileUrl is required", upload=True)
    url = url.strip()
    if not http_url(url):
        raise error(400, "fileUrl must be an http(s) URL", upload=True)
    upload_path = _upload_path(body.get("uploadPath"))
    name_field = body.get("fileName")
    _file_name(name_field, None)  # refuse a bad name before fetching anything
    max_bytes = int(limits["url_upload_max_bytes"])
    too_large = f"File size exceeds the {max_bytes // (1024 * 1024)} MB limit"
    emulator = call.emulator
    try:
        with emulator.lock:
            record = backend.own_file(call.account, url, call.now)
    except Invalid as exc:
        raise error(400, f"Failed to download the file from fileUrl: {exc}", upload=True) from None
    except ForeignFile:
        raise error(400, "fileUrl is another account's file: only your own files (and other hosts' "
                         "URLs) are copied", upload=True) from None
    if record is not None:  # the emulator's own file: copied without a request
        data = await asyncio.get_running_loop().run_in_executor(None, emulator.file_bytes, record)
        declared, source_name = record.content_type, record.name or record.id
    else:
        try:
            fetched = await backend.outbound().get(url, max_bytes, float(limits["url_upload_timeout_seconds"]),
                                                   int(limits["url_upload_max_redirects"]))
        except Refused as exc:
            raise error(400, f"fileUrl is refused: {exc}", upload=True) from None
        except FetchFailed as exc:
            raise error(400, f"Failed to download the file from fileUrl: {exc}", upload=True) from None
        except TooLarge:
            raise error(400, too_large, upload=True) from None
        data, declared = fetched.body, fetched.content_type
        source_name = unquote(url.split("?", 1)[0].rsplit("/", 1)[-1]) or None
    if len(data) > max_bytes:
        raise error(400, too_large, upload=True)
    if not data:
        raise error(400, "The file at fileUrl is empty", upload=True)
    return _store(call, data, name_field, upload_path, source_name, declared)
