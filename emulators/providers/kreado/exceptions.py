"""KreadoAI errors as data (kreado.md section 9). Every answer, errors included, is HTTP 200 with
{"code": "<string>", "message", "data", "requestId"}."""
from __future__ import annotations

import itertools
import random
import time
from typing import Any

from emulators.engine.errors import ErrorTable, ProviderError

TWEPOCH_MS = 1288834974657  # the docs' ids are snowflake ids on this epoch
_sequence = itertools.count(random.randrange(4096))


def request_id() -> str:
    """A fresh 19-digit snowflake-style id (real wall time: request ids are not state)."""
    ms = int(time.time() * 1000) - TWEPOCH_MS
    return str((ms << 22) | (next(_sequence) & 0x3FFFFF))


def _shape(code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "message": message, "data": extra.get("data"), "requestId": request_id()}


MESSAGES: dict[str, str] = {
    "200": "Success",
    "400": "Failed",
    "405": "To ensure account security, login has expired. Please log in again",
    "429": "Too many requests, please try again later.",
    "10001": "Internal system exception.",
    "10002": "Request parameter error.",
    "10003": "Audio file download failed.",
    "10004": "The audio length must be between 1 and 600 seconds.",
    "10005": "Video file download failed.",
    "10006": "File download failed.",
    "10007": "File size is too large.",
    "10008": "The file content is illegal.",
    "10009": "Data does not exist.",
    "10010": "Face check failed.",
    "10011": "Processing timeout, please try again later.",
    "10012": "User information does not exist.",
    "10013": "Failed to generate thumbnail for the video file.",
    "10014": "The query condition is not supported.",
    "10015": "Client connection terminated.",
    "10016": "Order payment failed.",
    "10017": "Your balance is insufficient. Please recharge and try again.",
    "10018": "Digital Human video download failed.",
    "10019": "There are too many tasks queued. Please submit the task later.",
    "10020": "Digital human information does not exist.",
    "10021": "The query result is empty. Please contact the administrator.",
    "10022": "Please upgrade to Pro Membership.",
    "10999": "Unknown error.",
}

error = ErrorTable({code: (200, message) for code, message in MESSAGES.items() if code != "200"}, _shape)


class KreadoError(ProviderError):
    """A documented error raised by the backend or the media rules (no HTTP needed there):
    it is already the provider's answer, so the gateway sends it as is."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES[code]
        super().__init__(200, _shape(code, self.message, {}))
