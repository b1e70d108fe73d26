"""KreadoAI V3: `apiToken` authentication, membership expiry, per-endpoint per-second limits.

Every API answer is HTTP 200 with {"code", "message", "data", "requestId"}, errors included.
"""
from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from emulators.engine.errors import ProviderError
from emulators.engine.http import Call, add_headers, header
from emulators.engine.provider import Provider
from emulators.engine.ratelimit import WindowRule
from emulators.providers.kreado.exceptions import _shape, error
from emulators.providers.kreado.models import JOB_KINDS, KreadoBackend
from emulators.providers.kreado.urls import endpoints


class KreadoProvider(Provider):
    id = "kreado"
    title = "KreadoAI API V3"
    default_port = 8804
    api_prefix = ""
    client_env = "KREADO_BASE_URL"
    endpoints = endpoints
    job_kinds = JOB_KINDS
    backend_cls = KreadoBackend

    def token_of(self, scope: Scope) -> str | None:
        token = header(scope, b"apitoken")
        return token.strip() or None if token else None

    async def authenticate(self, call: Call) -> None:
        token = self.token_of(call.request.scope)
        account = call.emulator.backend.account(token) if token else None
        if account is None:
            raise error("405")
        call.token, call.account, call.subject = token, account, token
        if call.now >= account.vipExpireAt:  # "Requests will fail after the membership expires" (every call)
            raise error("10022")

    def admit(self, call: Call) -> None:
        account = call.account
        if account is None or call.endpoint is None:  # the CDN route: files are not API calls
            return
        name = call.endpoint.name
        limit = account.limits.get(name)
        if not limit:
            return
        if not self.count_request(call, WindowRule(name, limit, 1.0, extend_on_reject=True)).allowed:
            raise error("429")

    def finish(self, call: Call, response: Response) -> None:
        if call.extra_headers:
            add_headers(response, call.extra_headers)

    def not_found(self, call: Call) -> ProviderError:
        # Not an API path (or a file that does not exist): a real 404, in the provider's shape.
        return ProviderError(404, _shape("10009", "Data does not exist.", {}))

    def method_not_allowed(self, call: Call) -> ProviderError:
        # A documented path called with the wrong method: HTTP 405 (the gateway adds Allow).
        return ProviderError(405, _shape("400", "Failed", {}))

    def internal_error(self, call: Call) -> ProviderError:
        return error("10001")


PROVIDER = KreadoProvider()
