"""`/_emulator/`: the control API every emulator port serves (see design.md).

Every call passes `access.check` first (host, token, cross-site, JSON only). Input is checked
like provider input, all or nothing: a refused call answers 400 with a reason and changes
nothing; a body over MAX_BODY is refused without being read, a body that stops arriving is
given up after the emulator's `body_timeout`.
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from emulators.engine import access, dashboard
from emulators.engine.chaos import parse_settings
from emulators.engine.faults import parse_rule
from emulators.engine.http import declared_length
from emulators.engine.stall import BodyStalled
from emulators.engine.strict_json import NotStrictJSON, strict_json
from emulators.engine.serde import to_json
from emulators.engine.store import until_saved

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

log = logging.getLogger("emulators")

PREFIX = "/_emulator/"
MAX_BODY = 64 * 1024 * 1024  # a state document can be large
# What every control answer carries: never cached, never sniffed into HTML or script.
BASE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ControlError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


async def handle(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
    """One control call as one unit of work: all of it takes effect, or none of it."""
    request = Request(scope, receive)
    method = scope["method"]
    parts = scope["path"][len(PREFIX):].strip("/").split("/", 1)
    resource, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    headers = dict(BASE_HEADERS)
    store = emulator.store
    unit = None
    try:
        access.check(emulator, method, resource, Headers(scope=scope))
        if resource == dashboard.UI:  # the page's static shell: no data, no token needed
            return await dashboard.serve_shell(scope, receive, send, rest)
        if (method, resource, rest) == ("GET", "state", ""):  # streamed: 100k jobs never block
            stream = StreamingResponse(emulator.snapshot_stream(), media_type="application/json",
                                       headers=headers)
            return await stream(scope, receive, send)
        unit = store.begin()  # one control call, one unit of work: all of it or none of it
        status, body = await _dispatch(emulator, request, method, resource, rest)
        with emulator.lock:
            store.commit(unit)
        unit = None
        saved = store.saved()  # answered once saved (a reset or restore included)
        if saved is not None:
            await until_saved(saved)
    except (access.Refused, ControlError) as err:
        status, body = err.status, {"error": err.message}
        headers.update(err.headers)
    except ClientDisconnect:  # nobody left to answer; not an error of ours
        log.info("control %s %s: client went away mid-request", method, scope["path"])
        return
    except BodyStalled:
        log.info("control %s %s: request body stalled for %ss; dropped", method, scope["path"],
                 emulator.body_timeout)
        status, body = 408, {"error": f"request body not received within {emulator.body_timeout:g} s"}
        headers["Connection"] = "close"
    except Exception:
        log.exception("control API failed on %s %s", method, scope["path"])
        status, body = 500, {"error": "the control call failed; see the emulator's log"}
    finally:
        if unit is not None:
            store.abort(unit)
    try:
        response = JSONResponse(body, status_code=status, headers=headers)
    except ValueError:  # a value JSON cannot carry (NaN) reached the state by another way
        log.exception("control API answer of %s %s is not JSON", method, scope["path"])
        response = JSONResponse({"error": "the answer is not representable as JSON; see the log"},
                                status_code=500, headers=headers)
    await response(scope, receive, send)


async def _json(request: Request) -> Any:
    """The body as strict JSON ({} when empty). Over MAX_BODY: 413 before reading any more of
    it, and the connection closes (the rest is never read)."""
    too_large = ControlError(413, f"body over {MAX_BODY} bytes", {"Connection": "close"})
    if declared_length(request.scope) > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return strict_json(raw)
    except NotStrictJSON as exc:
        raise ControlError(400, str(exc)) from None


async def _object(request: Request, what: str) -> dict[str, Any]:
    data = await _json(request)
    if not isinstance(data, dict):
        raise ControlError(400, f"{what} must be a JSON object")
    return data


def _advance_seconds(data: dict[str, Any]) -> float:
    seconds = data.get("advance_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ControlError(400, "advance_seconds must be a number")
    try:
        return float(seconds)
    except OverflowError:  # an integer of hundreds of digits; Clock.advance refuses infinity
        return math.inf


def _usable_token(token: str) -> bool:
    """What a client could send back in an Authorization header (or a query/body field)."""
    return 0 < len(token) <= 512 and all("!" <= ch <= "~" for ch in token)


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
            data = await _object(request, "a state")
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
            if not _usable_token(token):
                raise ControlError(400, "a token is 1-512 printable ASCII characters, no spaces")
            data = await _object(request, "an account")
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
            data = await _object(request, "settings")
            try:
                with em.lock:
                    return 200, em.backend.put_settings(data)
            except (ValueError, TypeError) as exc:
                raise ControlError(400, str(exc)) from None
    if resource == "clock" and not rest:
        if method == "POST":
            seconds = _advance_seconds(await _object(request, "a clock change"))
            try:
                em.advance_clock(seconds)  # checks first: a refused advance moves nothing
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
    if resource == "chaos" and not rest:  # emulator-wide settings like faults: not in the snapshot
        if method == "GET":
            return 200, em.chaos.as_json()
        if method == "PUT":
            try:
                settings = parse_settings(await _object(request, "chaos settings"))
            except (ValueError, TypeError) as exc:
                raise ControlError(400, str(exc)) from None
            em.chaos.configure(settings)
            return 200, em.chaos.as_json()
        if method == "DELETE":
            em.chaos.configure(None)
            return 200, em.chaos.as_json()
    if resource == "journal" and not rest:
        if method == "GET":
            return 200, {"entries": em.journal.as_json()}
        if method == "DELETE":
            em.journal.clear()
            return 200, {"entries": []}
    if resource == "jobs" and rest and method == "POST":
        data = await _object(request, 'a job change {"state": ...}')
        if "state" not in data:
            raise ControlError(400, 'body must be {"state": ...}')
        try:
            job = em.force_job(rest, data["state"])
        except KeyError:
            raise ControlError(404, "no such job") from None
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return 200, {"id": job.id, "kind": job.kind, "state": job.forced_state}
    raise ControlError(404 if resource not in _RESOURCES else 405, "no such control call")


_RESOURCES = {"health", "reset", "state", "accounts", "settings", "clock", "faults", "chaos", "journal", "jobs"}
