"""`/_emulator/`: the control API every emulator port serves (see design.md)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from emulators.engine import dashboard
from emulators.engine.faults import parse_rule
from emulators.engine.serde import to_json

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

PREFIX = "/_emulator/"
MAX_BODY = 64 * 1024 * 1024  # a state document can be large


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def handle(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
    """One control call as one unit of work: all of it takes effect, or none of it."""
    request = Request(scope, receive)
    parts = scope["path"][len(PREFIX):].strip("/").split("/", 1)
    resource, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    if resource == dashboard.UI:  # the page's static shell: no data, no token needed
        return await dashboard.serve_shell(scope, receive, send, rest)
    if (scope["method"], resource, rest) == ("GET", "state", ""):
        stream = StreamingResponse(emulator.snapshot_stream(), media_type="application/json")
        await stream(scope, receive, send)
        return
    store = emulator.store
    unit = store.begin()
    try:
        status, body = await _dispatch(emulator, request, scope["method"], resource, rest)
        with emulator.lock:
            store.commit(unit)
    except ControlError as err:
        store.abort(unit)
        status, body = err.status, {"error": err.message}
    except BaseException:
        store.abort(unit)
        raise
    await JSONResponse(body, status_code=status)(scope, receive, send)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ControlError(413, "body too large")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlError(400, "body must be JSON") from None


async def _dispatch(em: Emulator, request: Request, method: str, resource: str,
                    rest: str) -> tuple[int, Any]:
    if dashboard.handles(method, resource, rest):  # read-only lists the dashboard polls
        return dashboard.dispatch(em, resource, request.query_params)
    key = (method, resource)
    if key == ("GET", "health") and not rest:
        return 200, {"status": "ok", "provider": em.provider.id}
    if key == ("POST", "reset") and not rest:
        em.reset()
        return 200, {"status": "ok"}
    if resource == "state" and not rest:
        if method == "GET":
            return 200, em.snapshot()
        if method == "PUT":
            data = await _json(request)
            try:
                em.restore(data)
            except (ValueError, TypeError, KeyError) as exc:
                raise ControlError(400, f"state does not fit: {exc}") from None
            return 200, em.snapshot()
    if resource == "accounts" and rest:
        token = rest
        if method == "GET":
            with em.lock:
                view = em.backend.account_view(token)
            if view is None:
                raise ControlError(404, "no such account")
            return 200, view
        if method == "PUT":
            data = await _json(request)
            if not isinstance(data, dict):
                raise ControlError(400, "an account is a JSON object")
            try:
                with em.lock:
                    return 200, em.backend.put_account(token, data)
            except (ValueError, TypeError) as exc:
                raise ControlError(400, str(exc)) from None
    if resource == "settings" and not rest:
        if method == "GET":
            with em.lock:
                return 200, em.backend.settings_view()
        if method == "PUT":
            data = await _json(request)
            if not isinstance(data, dict):
                raise ControlError(400, "settings are a JSON object")
            try:
                with em.lock:
                    return 200, em.backend.put_settings(data)
            except (ValueError, TypeError) as exc:
                raise ControlError(400, str(exc)) from None
    if resource == "clock" and not rest:
        if method == "POST":
            data = await _json(request)
            seconds = data.get("advance_seconds") if isinstance(data, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise ControlError(400, "advance_seconds must be a number")
            try:
                em.advance_clock(float(seconds))
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
            return 200, em.clock.as_json()
        if method == "GET":
            return 200, em.clock.as_json()
    if resource == "faults" and not rest:
        if method == "POST":
            try:
                rule = parse_rule(await _json(request))
            except (ValueError, TypeError) as exc:
                raise ControlError(400, str(exc)) from None
            with em.lock:
                em.faults.add(rule)
            return 200, {"id": rule.id}
        if method == "GET":
            return 200, {"faults": to_json(em.faults.rules)}
        if method == "DELETE":
            em.faults.clear()
            return 200, {"faults": []}
    if resource == "journal" and not rest:
        if method == "GET":
            return 200, {"entries": em.journal.as_json()}
        if method == "DELETE":
            em.journal.clear()
            return 200, {"entries": []}
    if resource == "jobs" and rest and method == "POST":
        data = await _json(request)
        if not isinstance(data, dict) or "state" not in data:
            raise ControlError(400, 'body must be {"state": ...}')
        try:
            job = em.force_job(rest, data["state"])
        except KeyError:
            raise ControlError(404, "no such job") from None
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return 200, {"id": job.id, "kind": job.kind, "state": job.forced_state}
    raise ControlError(404 if resource not in _RESOURCES else 405, "no such control call")


_RESOURCES = {"health", "reset", "state", "accounts", "settings", "clock", "faults", "journal", "jobs"}
