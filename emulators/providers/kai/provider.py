"""kai: authentication, token states, permissions, rate limit, concurrency slots, usage caps
and the headers every response carries (x-request-id, X-RateLimit-*, X-Units-Remaining)."""
from __future__ import annotations

import functools
import math
from typing import Any

from starlette.responses import Response

from emulators.engine.errors import ProviderError
from emulators.engine.http import Call, add_headers
from emulators.engine.provider import Provider
from emulators.engine.ratelimit import WindowRule, rate_limit_headers
from emulators.engine.ids import hex_id
from emulators.providers.kai.exceptions import error
from emulators.providers.kai.models import KaiBackend
from emulators.providers.kai.responses import SCOPE_ENDS_AT
from emulators.providers.kai.urls import PERMISSIONS, endpoints

# Callers that are not (yet) an account (401s, unknown paths) see this window's standing.
ANONYMOUS_RULE = WindowRule("*", 60, 60.0)
WINDOW_SECONDS = 60.0
SCOPE_ADMITTED = "kai.admitted"  # request scope key: this POST passed every gate
SCOPE_USAGE = "kai.usage"  # request scope key: (tokens_in, tokens_out) of a successful call


class KaiProvider(Provider):
    id = "kai"
    title = "kai (OpenAI-compatible gateway)"
    default_port = 8801
    api_prefix = "/api/v1"
    client_env = "OPENAI_BASE_URL"
    endpoints = endpoints
    backend_cls = KaiBackend

    async def authenticate(self, call: Call) -> None:
        token = self.token_of(call.request.scope)
        if token is None:
            raise error("invalid_api_key", "Missing API key. Send it as 'Authorization: Bearer <key>'.")
        backend: KaiBackend = call.emulator.backend
        with call.emulator.lock:
            account = backend.account(token, call.now)
        if account is None:
            raise error("invalid_api_key", "Invalid API key provided.")
        call.token, call.account, call.subject = token, account, token

    def admit(self, call: Call) -> None:
        account = call.account
        if account is None:  # the emulator's own file route
            return
        backend: KaiBackend = call.emulator.backend
        endpoint = call.endpoint
        assert endpoint is not None
        rule = _rule(account.rate_limit_per_minute)
        refused = self._refused_before_the_limit(call, account, endpoint.name)
        if refused is not None:
            # answers before the rate limit do not count against it; they show its standing
            call.extra_headers = rate_limit_headers(call.emulator.limiter.peek(call.subject, rule, call.now))
            raise refused
        decision = call.emulator.limiter.hit(call.subject, rule, call.now)
        call.extra_headers = rate_limit_headers(decision)
        if not decision.allowed:
            raise error("rate_limit_exceeded",
                        f"Rate limit of {account.rate_limit_per_minute} requests per minute exceeded. "
                        f"Retry after {math.ceil(decision.retry_after)} seconds.",
                        headers=_retry_headers(decision.retry_after))
        if call.request.method != "POST":
            return
        if not call.emulator.slots.acquire(call.subject, account.max_concurrent_requests):
            # The request still counted against the rate window (it was answered).
            raise error("concurrent_request_in_progress",
                        f"Another request is still processing (max {account.max_concurrent_requests} "
                        "concurrent requests for this token). Retry shortly.",
                        headers=_retry_headers(backend.slot_wait(account, call.now)))
        capped = backend.cap_refusal(account, call.now)
        if capped is not None:
            call.emulator.slots.release(call.subject)
            raise error("usage_cap_exceeded", capped,
                        headers={**self._units_headers(call), "x-should-retry": "false"})
        backend.begin(account)
        call.request.scope[SCOPE_ADMITTED] = True

    @staticmethod
    def _refused_before_the_limit(call: Call, account: Any, endpoint: str) -> ProviderError | None:
        if settings_flag(call, "maintenance"):
            return error("service_unavailable", "kai is under maintenance. Please try again later.",
                         headers={"Retry-After": "30"})
        if endpoint != "usage":  # usage answers any known token, so it can tell why
            refusal = call.emulator.backend.refusal(account, call.now)
            if refusal is not None:
                return error(refusal[0], refusal[1])
            permission = PERMISSIONS.get(endpoint)
            if permission is not None and permission not in account.enabled_endpoints:
                return error("endpoint_not_allowed",
                             f"This API token's product does not include the {permission} endpoint.")
        return None

    def release(self, call: Call) -> None:
        if call.request.scope.get(SCOPE_ADMITTED):
            with call.emulator.lock:
                call.emulator.slots.release(call.subject)
                call.emulator.backend.release(call.account, call.request.scope.get(SCOPE_ENDS_AT))

    def finish(self, call: Call, response: Response) -> None:
        headers = call.extra_headers
        if not headers:
            client = call.request.client
            subject = f"ip:{client.host if client else '-'}"
            headers = rate_limit_headers(call.emulator.limiter.peek(subject, ANONYMOUS_RULE, call.now))
        headers = dict(headers)  # one pass over the response's headers, not one per source
        scope = call.request.scope
        if scope.get(SCOPE_ADMITTED):
            scope.pop(SCOPE_ADMITTED)
            backend: KaiBackend = call.emulator.backend
            tokens_in, tokens_out = scope.pop(SCOPE_USAGE, (0, 0))
            with call.emulator.lock:
                backend.end(call.account, call.emulator.clock.now(), 200 <= response.status_code < 300,
                            tokens_in, tokens_out)
            headers.update(self._units_headers(call))
        headers["x-request-id"] = f"req_{hex_id(12)}"
        add_headers(response, headers)

    @staticmethod
    def _units_headers(call: Call) -> dict[str, str]:
        backend: KaiBackend = call.emulator.backend
        account = call.account
        headers = {}
        units = backend.usage_remaining(account)
        if units is not None:
            headers["X-Units-Remaining"] = str(units)
        trial = backend.trial_remaining(account, call.now)
        if trial is not None:
            headers["X-Trial-Units-Remaining"] = str(trial)
        return headers

    def not_found(self, call: Call) -> ProviderError:
        return error("not_found", f"Unknown path {call.request.url.path}.")

    def method_not_allowed(self, call: Call) -> ProviderError:
        return error("method_not_allowed",
                     f"The {call.request.method} method is not supported for {call.request.url.path}.")

    def internal_error(self, call: Call) -> ProviderError:
        return error("internal_error", "The server had an error while processing your request.")


@functools.lru_cache(maxsize=64)
def _rule(per_minute: int) -> WindowRule:
    """An account's rate rule (one per distinct limit, not one per request)."""
    return WindowRule("*", per_minute, WINDOW_SECONDS)


def settings_flag(call: Call, name: str) -> bool:
    return bool(call.emulator.settings.get(name))


def _retry_headers(seconds: float) -> dict[str, str]:
    """Retry-After in whole seconds (rounded up) and the exact wait in retry-after-ms."""
    seconds = max(seconds, 0.001)
    return {"Retry-After": str(max(1, math.ceil(seconds))), "retry-after-ms": str(math.ceil(seconds * 1000))}


PROVIDER = KaiProvider()
