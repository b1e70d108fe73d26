"""`/_emulator/ui`: the dashboard page, and the read-only control calls it polls.

The page is a static shell (HTML, CSS, JS from `ui/`, no data in it, nothing from another host),
served without the control token because a browser's navigation cannot carry one. Everything it
shows and does goes through fetch() to the control API, with the token when the user gave one.

Read-only calls the control API lacked (listed newest first, always paginated: a state may hold
100k jobs):
  GET /_emulator/accounts?limit&offset        account views, tokens and keys redacted
  GET /_emulator/jobs?limit&offset            jobs with their current state, newest first
  GET /_emulator/journal/recent?limit&violations=1   the journal's tail, newest first
"""
from __future__ import annotations

import re
from functools import cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulators.engine.clock import iso
from emulators.engine.jobs import Job, JobKind
from emulators.engine.journal import Journal, redact

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

UI = "ui"  # /_emulator/ui
UI_DIR = Path(__file__).with_name("ui")

# Only these files are served (no path from the URL ever reaches the file system).
_SHELL_FILES: dict[str, tuple[str, str]] = {
    "": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
}

# The page may talk to its own origin only: no CDN, no inline script, no framing.
SHELL_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

DEFAULT_LIMITS = {"accounts": (200, 1000), "jobs": (50, 500), "journal": (100, 1000)}  # (default, max)

# Account fields that hold a secret: shown redacted like tokens (kie's webhookHmacKey, ...).
_SECRET_FIELD = re.compile(r"(token|key|secret|password)$", re.IGNORECASE)


class BadQuery(ValueError):
    """A query parameter out of range (the control API answers 400)."""


# -- the static shell ---------------------------------------------------------------------------
async def serve_shell(scope: Scope, receive: Receive, send: Send, rest: str) -> None:
    """GET /_emulator/ui[/app.js|/style.css]; no data, so no token needed."""
    entry = _SHELL_FILES.get(rest)
    if scope["method"] not in ("GET", "HEAD"):
        response = Response("method not allowed\n", 405, {"Allow": "GET, HEAD"}, "text/plain")
    elif entry is None:
        response = Response("not found\n", 404, media_type="text/plain")
    else:
        name, media_type = entry
        response = Response(_read(name), headers=SHELL_HEADERS, media_type=media_type)
    await response(scope, receive, send)


@cache
def _read(name: str) -> bytes:
    return (UI_DIR / name).read_bytes()


# -- read-only data calls ---------------------------------------------------------------------------
def handles(method: str, resource: str, rest: str) -> bool:
    """True for the calls this module answers (the rest of the control API is control.py's)."""
    return method == "GET" and (resource, rest) in {("accounts", ""), ("jobs", ""), ("journal", "recent")}


def dispatch(em: Emulator, resource: str, query: Mapping[str, str]) -> tuple[int, Any]:
    """Status and body of one of the calls `handles` accepts."""
    try:
        return 200, _answer(em, resource, query)
    except BadQuery as exc:
        return 400, {"error": str(exc)}


def _answer(em: Emulator, resource: str, query: Mapping[str, str]) -> dict[str, Any]:
    if resource == "accounts":
        return accounts_page(em, *_page(query, "accounts"))
    if resource == "jobs":
        return jobs_page(em, *_page(query, "jobs"))
    limit, _ = _page(query, "journal")
    return journal_tail(em, limit, violations_only=_flag(query, "violations"))


def accounts_page(em: Emulator, limit: int, offset: int) -> dict[str, Any]:
    """Account views in the order the accounts were made (seeded ones first)."""
    with em.lock:
        accounts = getattr(em.backend.state, "accounts", {})
        tokens = list(islice(accounts, offset, offset + limit))
        views = [(token, em.backend.account_view(token)) for token in tokens]
        total = len(accounts)
    return {"total": total, "offset": offset, "limit": limit,
            "accounts": [redacted_account(token, view) for token, view in views if view is not None]}


def redacted_account(token: str, view: dict[str, Any]) -> dict[str, Any]:
    """The view with the token (whatever the provider calls it) and other secrets redacted."""
    shown = {name: (redact(value) if isinstance(value, str) and (value == token or _SECRET_FIELD.search(name))
                    else value)
             for name, value in view.items()}
    return {"token": redact(token), "fields": shown}


def jobs_page(em: Emulator, limit: int, offset: int) -> dict[str, Any]:
    """Jobs newest first, each with its state on the emulated clock now."""
    kinds = em.provider.job_kinds
    with em.lock:
        now = em.clock.now()
        jobs = em.state.jobs
        page = list(islice(reversed(jobs.values()), offset, offset + limit))
        total = len(jobs)
        views = [job_view(job, kinds[job.kind], now) for job in page]
    return {"now": iso(now), "total": total, "offset": offset, "limit": limit, "jobs": views,
            "kinds": {name: {"states": list(kind.states),
                             "final": [kind.success, kind.failure, *kind.terminal],
                             "success": kind.success, "failure": kind.failure}
                      for name, kind in kinds.items()}}


def job_view(job: Job, kind: JobKind, now: float) -> dict[str, Any]:
    state = job.state_at(now)
    final = kind.is_terminal(state)
    return {
        "id": job.id, "kind": job.kind, "owner": redact(job.owner), "state": state,
        "final": final,
        "outcome": ("success" if state == kind.success else "failure") if final else None,
        "progress": round(job.progress_at(now), 4),
        "created_at": iso(job.created_at), "finishes_at": iso(job.finishes_at),
        "forced": job.forced_state is not None,
    }


def journal_tail(em: Emulator, limit: int, *, violations_only: bool = False) -> dict[str, Any]:
    """The last `limit` journal entries, newest first, formatted as GET /_emulator/journal does."""
    entries = list(em.journal.entries)  # one C-level copy: safe while requests append
    with_violations = [e for e in entries if e[6]]
    chosen = with_violations if violations_only else entries
    tail = Journal(limit=max(limit, 1))
    tail.entries.extend(reversed(chosen[-limit:]))
    return {"total": len(entries), "violations": len(with_violations), "entries": tail.as_json()}


def _page(query: Mapping[str, str], what: str) -> tuple[int, int]:
    default, most = DEFAULT_LIMITS[what]
    return _int(query, "limit", default, 1, most), _int(query, "offset", 0, 0, 10**9)


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be {low}-{high}")
    return value


def _flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "")
    if raw in ("", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise BadQuery(f"{name} must be 1 or 0")
