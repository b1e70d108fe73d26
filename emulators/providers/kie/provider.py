"""kie.ai: the switches (maintenance, disabled features, the documented or live profile),
authentication and the createTask rate limit around the handlers."""
from __future__ import annotations

import math

from starlette.responses import Response

from emulators.engine.errors import ProviderError
from emulators.engine.http import JSON, Call
from emulators.engine.outbound import port_of_scope
from emulators.engine.provider import Provider
from emulators.engine.ratelimit import WindowRule
from emulators.providers.kie.exceptions import error
from emulators.providers.kie.models import TASK_JOB, KieBackend
from emulators.providers.kie.urls import endpoints

FILES = "files.get"


def _is_upload(call: Call) -> bool:
    return call.endpoint is not None and call.endpoint.name.startswith("file-")


class KieProvider(Provider):
    id = "kie"
    title = "kie.ai"
    default_port = 8802
    api_prefix = ""
    client_env = "KIE_BASE_URL"
    endpoints = endpoints
    job_kinds = {"task": TASK_JOB}
    backend_cls = KieBackend

    async def authenticate(self, call: Call) -> None:
        backend: KieBackend = call.emulator.backend
        backend.note_port(port_of_scope(call.request.scope))  # never fetched from or called back
        upload = _is_upload(call)
        name = call.endpoint.name if call.endpoint else ""
        if backend.switch("maintenance"):
            raise error(455, upload=upload)
        disabled = backend.switch("disabledFeatures")
        if "*" in disabled or name in disabled:
            raise error(505, upload=upload)
        token = self.token_of(call.request.scope)
        account = backend.account(token) if token else None
        if account is None:
            raise error(401, upload=upload)
        call.token, call.account, call.subject = token, account, token

    def admit(self, call: Call) -> None:
        account = call.account
        if account is None or call.endpoint is None or call.endpoint.name != "createTask":
            return
        rule = WindowRule("createTask", account.rateLimit, account.rateWindowSeconds)
        decision = call.emulator.limiter.hit(call.subject, rule, call.now)
        if not decision.allowed:
            wait = max(1, math.ceil(decision.retry_after))
            raise error(429, f"Rate limited: at most {account.rateLimit} new tasks per "
                             f"{account.rateWindowSeconds:g} seconds; retry in {wait} s",
                        headers={"Retry-After": str(wait)})

    def error_response(self, call: Call, err: ProviderError) -> Response:
        """The live profile: errors travel as HTTP 200 with the code in the body (the file host and
        unknown paths keep their real statuses)."""
        live = (call.endpoint is not None and call.endpoint.name != FILES
                and call.emulator.backend.profile() == "live")
        return JSON(err.body, status_code=200 if live else err.status, headers=err.headers)

    def not_found(self, call: Call) -> ProviderError:
        return error(404)

    def method_not_allowed(self, call: Call) -> ProviderError:
        return error(405)

    def internal_error(self, call: Call) -> ProviderError:
        return error(500, upload=_is_upload(call))


PROVIDER = KieProvider()
