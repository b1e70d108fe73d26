"""Voice Clone & TTS errors as data: every error is {"code", "error"} (+ documented extras)."""
from __future__ import annotations

from typing import Any

from emulators.engine.errors import ErrorTable


def _shape(code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "error": message, **extra}


error = ErrorTable(
    {
        "INVALID_PARAMETERS": (400, "One or more parameters are invalid"),
        "UNAUTHORIZED": (401, "Authentication required"),
        "NOT_FOUND": (404, "Resource not found"),
        "METHOD_NOT_ALLOWED": (405, "Method not allowed"),
        "USAGE_LIMIT_EXCEEDED": (429, "Insufficient credits"),
        "RATE_LIMITED": (429, "Rate limit exceeded"),
        "INTERNAL_ERROR": (500, "Internal server error"),
    },
    _shape,
)

# The documented messages, used verbatim.
INVALID_FILE_TYPE = "Invalid file type. Supported formats: MP3, WAV, WebM"
FILE_TOO_LARGE = "File size exceeds 20MB limit"
TEXT_TOO_LONG = "Text exceeds maximum length of 5000 bytes"
VOICE_NOT_FOUND = "Voice not found or not available"
SPEECH_NOT_FOUND = "Speech not found or access denied"
INVALID_API_KEY = "Invalid API key"
