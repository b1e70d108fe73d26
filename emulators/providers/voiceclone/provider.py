"""Voice Clone & TTS: authentication, rate limiting and headers around the handlers."""
from __future__ import annotations

from starlette.responses import Response

from emulators.engine.errors import ProviderError
from emulators.engine.http import Call, add_headers
from emulators.engine.provider import Provider
from emulators.engine.ratelimit import WindowRule, rate_limit_headers, retry_after_seconds
from emulators.providers.voiceclone.exceptions import INVALID_API_KEY, error
from emulators.providers.voiceclone.models import SPEECH_JOB, VOICE_JOB, VoiceCloneBackend
from emulators.providers.voiceclone.urls import endpoints

# Limits for callers that are not (yet) an account: 401s and unknown paths.
ANONYMOUS_RULE = WindowRule("*", 100, 60.0)


class VoiceCloneProvider(Provider):
    id = "voiceclone"
    title = "Voice Clone & TTS API"
    default_port = 8805
    api_prefix = "/api/v1"
    client_env = "VOICECLONE_BASE_URL"
    endpoints = endpoints
    job_kinds = {"voice": VOICE_JOB, "speech": SPEECH_JOB}
    backend_cls = VoiceCloneBackend

    async def authenticate(self, call: Call) -> None:
        token = self.token_of(call.request.scope)
        if token is None:
            raise error("UNAUTHORIZED")
        account = call.emulator.backend.account(token, call.now)
        if account is None:
            raise error("UNAUTHORIZED", INVALID_API_KEY)
        call.token, call.account, call.subject = token, account, token

    def admit(self, call: Call) -> None:
        account = call.account
        if account is None:  # the CDN route: files are not API calls
            return
        decision = self.count_request(call, WindowRule("*", account.rateLimit, account.rateWindowSeconds))
        if not decision.allowed:
            wait = retry_after_seconds(decision)
            raise error("RATE_LIMITED", f"Rate limit exceeded. Try again in {wait} seconds.", retryAfter=wait)

    def finish(self, call: Call, response: Response) -> None:
        headers = call.extra_headers
        if not headers:
            client = call.request.client
            subject = f"ip:{client.host if client else '-'}"
            headers = rate_limit_headers(call.emulator.limiter.peek(subject, ANONYMOUS_RULE, call.now))
        add_headers(response, headers)

    def not_found(self, call: Call) -> ProviderError:
        return error("NOT_FOUND", "Not found")

    def method_not_allowed(self, call: Call) -> ProviderError:
        return error("METHOD_NOT_ALLOWED")

    def internal_error(self, call: Call) -> ProviderError:
        return error("INTERNAL_ERROR")


PROVIDER = VoiceCloneProvider()
