"""Document handlers: POST /api/v1/documents/anonymize and /documents/strip-metadata."""
from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from emulators.engine.http import JSON, Call
from emulators.providers.kai import extract, ole, pii, strip
from emulators.providers.kai.exceptions import error, invalid
from emulators.providers.kai.models import Account, KaiBackend
from emulators.providers.kai.responses import _fail_marker, _form, _process, _read_upload

ANONYMIZE_TYPES = ("pdf", "docx", "pptx", "ppt", "xlsx", "xls", "csv", "json", "png", "jpeg", "tiff", "txt")
ANONYMIZE_KINDS = {"pdf", "docx", "pptx", "xlsx", "ole", "csv", "json", "png", "jpeg", "tiff", "txt"}
STRIP_TYPES = ("pdf", "docx", "pptx", "xlsx", "xls", "csv", "json", "png", "jpeg", "tiff", "webp", "bmp", "txt")
STRIP_KINDS = {"pdf", "docx", "pptx", "xlsx", "ole", "csv", "json", "png", "jpeg", "tiff", "webp", "bmp", "txt"}
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "bmp": "image/bmp",
    "tiff": "image/tiff", "txt": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
DEFAULT_NAMES = {"ole": "document.xls"}


def _backend(call: Call) -> KaiBackend:
    return call.emulator.backend  # type: ignore[no-any-return]


def _array(form: FormData, name: str) -> list[Any]:
    """Every value sent as `name`, `name[]` or `name[N]` (in the order sent)."""
    pattern = re.compile(rf"{re.escape(name)}(?:\[\d*\])?")
    return [value for key, value in form.multi_items() if pattern.fullmatch(key)]


def _one_file(form: FormData, name: str, array: bool) -> UploadFile:
    values = _array(form, name) if array else form.getlist(name)
    where = f"{name}.0" if array else name
    files = [v for v in values if isinstance(v, UploadFile)]
    if not values or all(v == "" for v in values):
        raise invalid(f"The {name} field is required.", name)
    if len(files) != len(values):
        raise invalid(f"The {where} field must be a file.", where)
    if len(files) > 1:
        raise invalid(f"The {name} field must not have more than 1 items." if array
                      else f"The {name} field must be a single file.", name)
    return files[0]


def _header_text(text: str) -> str:
    """Printable ASCII only: names from uploads (file names, custom property names) may hold
    control characters or line breaks, which no HTTP header may carry."""
    return "".join(c if " " <= c <= "~" else "_" for c in text)


def _display_name(upload: UploadFile, kind: str) -> str:
    return (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1] or DEFAULT_NAMES.get(kind, f"document.{kind}")


# -- POST /api/v1/documents/anonymize -----------------------------------------------------------------
async def anonymize(call: Call) -> Response:
    backend = _backend(call)
    account: Account = call.account
    form = await _form(call, "files", max_files=8)
    try:
        upload = _one_file(form, "files", array=True)
        data = _read_upload(account, upload, "files.0")
        kinds_raw = _array(form, "pii_types")
        kinds: list[str] = []
        for i, value in enumerate(kinds_raw):
            if not isinstance(value, str) or value not in pii.PII_TYPES:
                if value == "" and len(kinds_raw) == 1:
                    continue
                raise invalid(f"The selected pii_types.{i} is invalid.", f"pii_types.{i}")
            kinds.append(value)
        filename = upload.filename
    finally:
        await form.close()
    kind = extract.kind_of(data, filename)
    if kind not in ANONYMIZE_KINDS:
        raise invalid(f"The files.0 field must be a file of type: {', '.join(ANONYMIZE_TYPES)}.", "files.0")
    try:
        doc = await asyncio.get_running_loop().run_in_executor(None, extract.extract, data, kind)
    except extract.NoText as exc:
        raise error("text_extraction_failed", f"Text extraction failed for '{_display_name(upload, kind)}': {exc}",
                    param="files.0") from None
    _fail_marker(call, doc.text, filename)
    selected = set(kinds) if kinds else set(pii.PII_TYPES)
    text, placeholders, mapping = await asyncio.get_running_loop().run_in_executor(
        None, pii.anonymize, doc.text, selected, backend.state.catalog.pii)
    name = _display_name(upload, kind)
    await _process(call, backend.processing_seconds(account, "anonymize"))
    return JSON({"object": "list", "data": [{
        "original_filename": name,
        "sanitized_filename": pii.sanitize_filename(name, mapping),
        "sanitized_text": text,
        "placeholders": placeholders,
        "metadata": {"extraction_method": doc.method, "used_ocr": doc.used_ocr, "page_count": doc.page_count,
                     "strategy": "ai"},
    }]})


# -- POST /api/v1/documents/strip-metadata ------------------------------------------------------------
async def strip_metadata(call: Call) -> Response:
    backend = _backend(call)
    account: Account = call.account
    form = await _form(call, "file", max_files=4)
    try:
        upload = _one_file(form, "file", array=False)
        data = _read_upload(account, upload, "file")
        filename = upload.filename
    finally:
        await form.close()
    kind = extract.kind_of(data, filename)
    if kind not in STRIP_KINDS:
        raise invalid(f"The file field must be a file of type: {', '.join(STRIP_TYPES)}.", "file")
    name = _display_name(upload, kind)
    _fail_marker(call, filename)
    try:
        cleaned, method, fields = await asyncio.get_running_loop().run_in_executor(None, strip.strip, data, kind)
    except strip.StripFailed:
        raise error("metadata_stripping_failed", f"Failed to strip metadata from '{name}'", param="file") from None
    await _process(call, backend.processing_seconds(account, "strip"))
    ascii_name = _header_text(name).replace('"', "'").replace("?", "_")
    media_type = ole.media_type(data) if kind == "ole" else MEDIA_TYPES[kind]
    if kind == "json" and not extract.is_json(extract.decode_text(cleaned) or ""):
        media_type = MEDIA_TYPES["txt"]  # a .json name on text that is no JSON
    return Response(cleaned, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Metadata-Stripped": "true",
        "X-Strip-Method": method,
        "X-Stripped-Fields": ",".join(_header_text(f) for f in fields) or "none",
        "X-Original-Size": str(len(data)),
        "X-Sanitized-Size": str(len(cleaned)),
    })
