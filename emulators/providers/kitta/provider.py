"""Kitta AI: authentication (header or body token), rate limiting and headers."""
from __future__ import annotations

from starlette.responses import Response

from emulators.engine.errors import ProviderError
from emulators.engine.http import Call, add_headers
from emulators.engine.provider import Provider
from emulators.engine.ratelimit import WindowRule, retry_after_seconds
from emulators.providers.kitta.exceptions import INVALID_TOKEN, MISSING_TOKEN
from emulators.providers.kitta.models import LIP_SYNC_JOB, KittaBackend
from emulators.providers.kitta.responses import BodyError, fail, read_body
from emulators.providers.kitta.urls import endpoints


class KittaProvider(Provider):
    id = "kitta"
    title = "Kitta AI"
    default_port = 8803
    api_prefix = ""
    client_env = "KITTA_BASE_URL"
    endpoints = endpoints
    job_kinds = {"lipsync": LIP_SYNC_JOB}
    backend_cls = KittaBackend

    async def authenticate(self, call: Call) -> None:
        token = self.token_of(call.request.scope)
        if token is None and call.request.method == "POST":
            token = await _body_token(call)
        if token is None:
            raise fail(call, "UNAUTHORIZED", MISSING_TOKEN)
        account = call.emulator.backend.account(token)
        if account is None:
            raise fail(call, "UNAUTHORIZED", INVALID_TOKEN)
        call.token, call.subject = token, token
        if account.status != "active":
            raise fail(call, "FORBIDDEN", "Access forbidden", details="This API token has been disabled")
        call.account = account

    def admit(self, call: Call) -> None:
        account = call.account
        if account is None:  # the CDN route: files are not API calls
            return
        decision = self.count_request(call, WindowRule("*", account.rate_limit, account.rate_window_seconds))
        if not decision.allowed:
            wait = retry_after_seconds(decision)
            raise fail(call, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded",
                       details=f"Too many requests, retry in {wait} seconds")

    def finish(self, call: Call, response: Response) -> None:
        if call.extra_headers:
            add_headers(response, call.extra_headers)

    def not_found(self, call: Call) -> ProviderError:
        return fail(call, "NOT_FOUND", "Not found")

    def method_not_allowed(self, call: Call) -> ProviderError:
        allowed = sorted({ep.method for ep in self.endpoints if ep.path == call.request.url.path})
        return fail(call, "METHOD_NOT_ALLOWED", headers={"Allow": ", ".join(allowed)} if allowed else None)

    def internal_error(self, call: Call) -> ProviderError:
        return fail(call, "INTERNAL_ERROR")


async def _body_token(call: Call) -> str | None:
    """The `token` field of a JSON or msgpack POST body (multipart bodies are not read here)."""
    ctype = call.request.headers.get("content-type", "")
    if "multipart/" in ctype or "x-www-form-urlencoded" in ctype:
        return None
    try:
        body = await read_body(call, allow_empty=True)
    except BodyError as exc:
        if exc.code == "PAYLOAD_TOO_LARGE":
            raise fail(call, exc.code, exc.message) from None
        return None  # not a body we can read a token from: "token is required"
    token = body.get("token") if isinstance(body, dict) else None
    return token.strip() or None if isinstance(token, str) else None


PROVIDER = KittaProvider()
