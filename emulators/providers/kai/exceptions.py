"""kai errors as data: the OpenAI shape {"error": {"message", "type", "code", "param"}}.

The (status, type, code) triples are exactly those of the docs' error table, plus
`metadata_stripping_failed` (documented on POST /api/v1/documents/strip-metadata).
"""
from __future__ import annotations

from typing import Any

from emulators.engine.errors import ErrorTable, ProviderError

# code -> error type (the `type` field of the body)
TYPES = {
    "invalid_request": "invalid_request_error",
    "text_extraction_failed": "invalid_request_error",
    "metadata_stripping_failed": "invalid_request_error",
    "invalid_api_key": "authentication_error",
    "endpoint_not_allowed": "permission_error",
    "subscription_inactive": "permission_error",
    "token_inactive": "permission_error",
    "token_expired": "permission_error",
    "rate_limit_exceeded": "rate_limit_error",
    "concurrent_request_in_progress": "rate_limit_error",
    "usage_cap_exceeded": "rate_limit_error",
    "internal_error": "server_error",
    "service_unavailable": "server_error",
    # not in the table: unknown paths and methods (the gateway's own answers)
    "not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
}


def _shape(code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"message": message, "type": TYPES[code], "code": code,
                      "param": extra.get("param")}}


_table = ErrorTable(
    {
        "invalid_request": (400, "Invalid request format or parameters"),
        "text_extraction_failed": (400, "Document text extraction failed"),
        "metadata_stripping_failed": (400, "Failed to strip metadata"),
        "invalid_api_key": (401, "Invalid or missing API key"),
        "endpoint_not_allowed": (403, "Token lacks required endpoint permission"),
        "subscription_inactive": (403, "Subscription is not active"),
        "token_inactive": (403, "Token has been deactivated"),
        "token_expired": (403, "Token has expired"),
        "not_found": (404, "Not found"),
        "method_not_allowed": (405, "Method not allowed"),
        "rate_limit_exceeded": (429, "Rate limit exceeded"),
        "concurrent_request_in_progress": (429, "Another request is still processing"),
        "usage_cap_exceeded": (429, "Monthly usage cap or trial limit exceeded"),
        "internal_error": (500, "Internal server error"),
        "service_unavailable": (503, "Service temporarily unavailable"),
    },
    _shape,
)


def error(code: str, message: str | None = None, *, param: str | None = None,
          headers: dict[str, str] | None = None) -> ProviderError:
    return _table(code, message, headers=headers, param=param)


def invalid(message: str, param: str | None = None) -> ProviderError:
    """400 invalid_request with the offending parameter."""
    return error("invalid_request", message, param=param)
