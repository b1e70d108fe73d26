"""kie.ai errors as data.

Every answer is the envelope `{"code", "msg", "data"}`; the code is the documented status code
(kie-extra.md "Status codes"). Errors of the upload API (a separate host in production) carry
`"success": false` in front, like its success answers.
"""
from __future__ import annotations

from typing import Any

from emulators.engine.errors import ErrorTable, ProviderError


def _shape(code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"code": int(code), "msg": message, "data": None}
    if extra.get("upload"):
        body = {"success": False, **body}
    return body


_table = ErrorTable(
    {
        "400": (400, "Bad request"),
        "401": (401, "You do not have access permissions"),
        "402": (402, "Credits insufficient"),
        "404": (404, "Not found"),
        "405": (405, "Method not allowed"),
        "422": (422, "Validation error"),
        "429": (429, "Rate limited: too many requests"),
        "455": (455, "Service unavailable: the system is under maintenance"),
        "500": (500, "Server error, please try again later"),
        "501": (501, "Generation failed"),
        "505": (505, "The feature is currently disabled"),
    },
    _shape,
)


def error(code: int, message: str | None = None, *, upload: bool = False,
          headers: dict[str, str] | None = None) -> ProviderError:
    return _table(str(code), message, headers=headers, upload=upload)


# Messages used verbatim in more than one place (the backend's own are in models.py).
TASK_NOT_FOUND = "The task does not exist or does not belong to this API key"
