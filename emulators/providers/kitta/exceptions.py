"""Kitta AI errors as data.

Every v1 endpoint answers `{"error": str, "details"?: str, "code"?: str}`; the v2 speech
endpoint answers `{"code": str, "message": str, "requestId"?: str}`. Both shapes come from the
one table below, so a code has the same HTTP status everywhere.
"""
from __future__ import annotations

from typing import Any

from emulators.engine.errors import ErrorTable
from emulators.engine.ids import hex_id

TABLE: dict[str, tuple[int, str]] = {
    "INVALID_PARAMETERS": (400, "Invalid request parameters"),
    "UNAUTHORIZED": (401, "Invalid API Token"),
    "FORBIDDEN": (403, "Access forbidden"),
    "NOT_FOUND": (404, "Resource not found"),
    "METHOD_NOT_ALLOWED": (405, "Method not allowed"),
    "PAYLOAD_TOO_LARGE": (413, "Upload file too large"),
    "RATE_LIMIT_EXCEEDED": (429, "Rate limit exceeded"),
    "INSUFFICIENT_CREDITS": (429, "Insufficient credits"),
    "INSUFFICIENT_QUOTA": (429, "Insufficient API quota"),
    "INTERNAL_ERROR": (500, "Internal server error"),
}


def _v1_shape(code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    details = extra.get("details")
    if details:
        body["details"] = str(details)
    body["code"] = code
    return body


def _v2_shape(code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "message": message, "requestId": extra.get("requestId") or hex_id(16)}


error = ErrorTable(TABLE, _v1_shape)
error_v2 = ErrorTable(TABLE, _v2_shape)

# Messages used verbatim in several places.
MISSING_TOKEN = "API token is required"
INVALID_TOKEN = "Invalid API Token"
TASK_NOT_FOUND = "Task not found"
VOICE_NOT_FOUND = "Voice model not found"
