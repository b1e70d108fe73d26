"""One running emulator of one provider: the engine's state and services, and its ASGI app.

The middleware order is built in one place (`_build_stack`):
control API -> journal -> faults -> contract check (switchable) -> gateway.
The gateway matches the endpoint, settles due jobs, authenticates, admits (rate limits), calls
the handler and turns every failure into the provider's own error response.
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.engine import control
from emulators.engine.clock import Clock
from emulators.engine.errors import ProviderError
from emulators.engine.faults import FaultTable
from emulators.engine.files import BlobStore, FileRecord, content_type_for, new_file_id
from emulators.engine.http import Call, Endpoint
from emulators.engine.jobs import Job, JobKind, Scheduler
from emulators.engine.journal import Journal
from emulators.engine.layers import FaultLayer, JournalLayer
from emulators.engine.ledger import LedgerEntry, Wallet
from emulators.engine.provider import FIXTURES_DIR, Provider
from emulators.engine.ratelimit import ConcurrencySlots, RateLimiter
from emulators.engine.render import render
from emulators.engine.routing import Router
from emulators.engine.serde import from_json, to_json
from emulators.engine.stall import BodyStalled, stall_guarded

log = logging.getLogger("emulators")

FILES_PREFIX = "/files/"


@dataclass
class EngineState:
    """The engine's part of a snapshot; the provider's part is its backend's `State`."""

    clock_offset: float = 0.0
    jobs: dict[str, Job] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    rate_windows: dict[str, list[float]] = field(default_factory=dict)


class Emulator:
    def __init__(self, provider: Provider, *, fixtures_dir: Path | None = None,
                 blob_dir: Path | None = None, contract_check: bool = False,
                 ticker_seconds: float = 0.5) -> None:
        self.provider = provider
        self.fixtures_dir = (fixtures_dir or FIXTURES_DIR) / provider.id
        self.lock = threading.RLock()
        self.clock = Clock()
        self.blobs = BlobStore(blob_dir)
        self.faults = FaultTable()
        self.journal = Journal()
        self.slots = ConcurrencySlots()
        self.contract_check = contract_check
        self.ticker_seconds = ticker_seconds
        self.settings: dict[str, Any] = {}  # switches a provider reads (maintenance, ...)
        # Control API access (see access.py): the token `--control-token` sets, the host names
        # `--allow-host` adds, and how long a half-sent request body is waited for.
        self.control_token: str | None = None
        self.allowed_hosts: list[str] = []
        self.body_timeout: float = 30.0
        files = Endpoint("GET", FILES_PREFIX + "{file_id}", _serve_file, "files.get", auth=False)
        self.router = Router([*provider.endpoints, files])
        self.app = self._build_stack()
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.clock.reset()
            self.state = EngineState()
            self.limiter = RateLimiter(self.state.rate_windows)
            self.scheduler = Scheduler()
            self._next_file_expiry = math.inf
            self.faults.clear()
            self.journal.clear()
            self.settings.clear()
            self.backend = self.provider.backend_cls.seed(self, self.fixtures_dir)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self.state.clock_offset = self.clock.offset
            return {"provider": self.provider.id, "engine": to_json(self.state),
                    "backend": to_json(self.backend.state), "settings": dict(self.settings)}

    def restore(self, data: Any) -> None:
        """Replaces the whole state; ValueError (state untouched) when `data` does not fit."""
        if not isinstance(data, dict) or data.get("provider") != self.provider.id:
            raise ValueError(f"not a {self.provider.id} state")
        engine = from_json(EngineState, data.get("engine"))
        backend_state = from_json(self.provider.backend_cls.State, data.get("backend"))
        settings = data.get("settings") or {}
        if not isinstance(settings, dict):
            raise ValueError("settings must be an object")
        with self.lock:
            self.state = engine
            self.clock.offset = engine.clock_offset
            self.limiter = RateLimiter(engine.rate_windows)
            self.scheduler = Scheduler()
            self.scheduler.rebuild(engine.jobs.values())
            self._next_file_expiry = min(
                (r.expires_at for r in engine.files.values() if r.expires_at is not None), default=math.inf)
            self.settings = dict(settings)
            self.backend = self.provider.backend_cls(self, backend_state)

    # -- jobs ----------------------------------------------------------------------------------
    def create_job(self, kind: JobKind, job_id: str, owner: str, durations: list[float],
                   fail: bool) -> Job:
        job = kind.new_job(job_id, owner, self.clock.now(), durations, fail)
        self.state.jobs[job_id] = job
        self.scheduler.add(job)
        return job

    def job(self, job_id: str) -> Job | None:
        return self.state.jobs.get(job_id)

    def force_job(self, job_id: str, state: Any) -> Job:
        """Pins a job to one of its kind's states (control API); KeyError / ValueError."""
        with self.lock:
            job = self.state.jobs[job_id]
            kind = self.provider.job_kinds[job.kind]
            matches = [s for s in kind.states if s == state or str(s) == str(state)]
            if not matches:
                raise ValueError(f"state must be one of {list(kind.states)}")
            now = self.clock.now()
            job.forced_state, job.forced_at = matches[0], now
            if kind.is_terminal(job.forced_state):
                self._finish(job, now)
            return job

    def settle(self, now: float) -> None:
        """Runs the finishing side effects of every job that has ended by `now`."""
        heap = self.scheduler.heap
        if heap and heap[0][0] <= now:
            self._settle_jobs(now)
        if now >= self._next_file_expiry:
            self._forget_expired_files(now)
        self.backend.tick(now)

    def _settle_jobs(self, now: float) -> None:
        jobs = self.state.jobs
        for job_id in self.scheduler.due(now):
            job = jobs.get(job_id)
            if job is not None and not job.settled:
                kind = self.provider.job_kinds[job.kind]
                if kind.is_terminal(job.state_at(now)):
                    self._finish(job, now)

    def _finish(self, job: Job, now: float) -> None:
        if not job.settled:
            job.settled = True
            self.backend.on_job_finished(job, now)

    # -- money -----------------------------------------------------------------------------------
    def charge(self, token: str, wallet: Wallet, amount: int, ref: str) -> dict[str, int]:
        """Atomic check-and-take; raises InsufficientFunds with nothing taken."""
        with self.lock:
            parts = wallet.charge(amount)
            self.state.ledger.append(LedgerEntry(self.clock.now(), token, "charge", amount, parts, ref))
            return parts

    def refund(self, token: str, wallet: Wallet, parts: dict[str, int], ref: str) -> None:
        with self.lock:
            wallet.refund(parts)
            amount = sum(parts.values())
            self.state.ledger.append(LedgerEntry(self.clock.now(), token, "refund", amount, parts, ref))

    # -- files -----------------------------------------------------------------------------------
    def store_blob(self, source: BinaryIO | bytes) -> tuple[str, int]:
        """Keeps uploaded bytes (streamed from a spooled file, never whole in memory)."""
        if isinstance(source, bytes):
            return self.blobs.put_bytes(source), len(source)
        return self.blobs.put_file(source)

    def add_upload(self, blob: str, size: int, ext: str, *, owner: str | None = None,
                   name: str | None = None, expires_at: float | None = None,
                   file_id: str | None = None, content_type: str | None = None) -> FileRecord:
        """Publishes a stored blob at a file URL."""
        return self._add_file(FileRecord(
            id=file_id or new_file_id(ext), content_type=content_type or content_type_for(ext),
            created_at=self.clock.now(), owner=owner, name=name, size=size, sha256=blob,
            expires_at=expires_at))

    def add_generated(self, recipe: dict[str, Any], ext: str, *, owner: str | None = None,
                      expires_at: float | None = None, file_id: str | None = None,
                      content_type: str | None = None) -> FileRecord:
        """Publishes a file made from `recipe` (see render.py) on its first download."""
        return self._add_file(FileRecord(
            id=file_id or new_file_id(ext), content_type=content_type or content_type_for(ext),
            created_at=self.clock.now(), owner=owner, recipe=recipe, expires_at=expires_at))

    def _add_file(self, record: FileRecord) -> FileRecord:
        with self.lock:
            self.state.files[record.id] = record
            if record.expires_at is not None and record.expires_at < self._next_file_expiry:
                self._next_file_expiry = record.expires_at
        return record

    def expire_file(self, file_id: str, at: float | None) -> None:
        """Sets when a file stops being served (None: never)."""
        with self.lock:
            record = self.state.files.get(file_id)
            if record is not None:
                record.expires_at = at
                if at is not None and at < self._next_file_expiry:
                    self._next_file_expiry = at

    def _forget_expired_files(self, now: float) -> None:
        """Drops records whose time is over (their URLs already answer 404); scans only when
        the earliest expiry has passed, so the per-request cost is one comparison."""
        files = self.state.files
        for file_id in [i for i, r in files.items() if r.expires_at is not None and r.expires_at <= now]:
            del files[file_id]
        self._next_file_expiry = min((r.expires_at for r in files.values() if r.expires_at is not None),
                                     default=math.inf)

    def file_bytes(self, record: FileRecord) -> bytes:
        if record.sha256 is not None:
            return self.blobs.read(record.sha256)
        assert record.recipe is not None
        return render(record.recipe)

    @staticmethod
    def file_url(base_url: str, record: FileRecord) -> str:
        return f"{base_url}{FILES_PREFIX}{record.id}"

    def file_from_url(self, url: str) -> FileRecord | None:
        """The record behind a URL this emulator handed out (any host: clients may rewrite it)."""
        if FILES_PREFIX not in url:
            return None
        file_id = url.split(FILES_PREFIX, 1)[1].split("?", 1)[0]
        return self.state.files.get(file_id)

    # -- ASGI ----------------------------------------------------------------------------------
    def _build_stack(self) -> ASGIApp:
        app: ASGIApp = self._gateway
        if self.contract_check:
            from emulators.engine.contracts import ContractLayer

            app = ContractLayer(app, self)
        app = FaultLayer(app, self)
        app = JournalLayer(app, self)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            receive = stall_guarded(scope, receive, self.body_timeout)
            if scope["path"].startswith(control.PREFIX):
                await control.handle(self, scope, receive, send)
                return
            try:
                await self.app(scope, receive, send)
            except BodyStalled:  # the gateway noted 408 for the journal
                log.info("%s %s: request body stalled for %ss; dropped", scope["method"],
                         scope["path"], self.body_timeout)
                await _request_timeout(send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def token_of(self, scope: Scope) -> str | None:
        return self.provider.token_of(Headers(scope=scope))

    async def _gateway(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = self.provider
        endpoint, params, methods = self.router.match(scope["method"], scope["path"])
        now = self.clock.now()
        call = Call(Request(scope, receive), self, endpoint, params, now)
        admitted = False
        try:
            with self.lock:
                self.settle(now)
            if endpoint is None:
                if not methods:
                    raise provider.not_found(call)
                err = provider.method_not_allowed(call)
                err.headers["Allow"] = ", ".join(methods)  # RFC 9110 asks for it on a 405
                raise err
            if endpoint.auth:
                await provider.authenticate(call)
                scope["emulator.token"] = call.token
            with self.lock:
                provider.admit(call)
            admitted = True
            response = await endpoint.handler(call)
        except ProviderError as err:
            response = provider.error_response(call, err)
        except ClientDisconnect:  # nobody left to answer: no error of ours, no response
            log.info("%s %s: client went away mid-request", scope["method"], scope["path"])
            return
        except BodyStalled:  # answered (408) outside the contract check: no provider's answer
            scope["emulator.status"] = 408
            raise
        except Exception:
            log.exception("unplanned error in %s %s", scope["method"], scope["path"])
            response = provider.error_response(call, provider.internal_error(call))
        finally:
            if admitted:
                provider.release(call)
        provider.finish(call, response)
        scope["emulator.status"] = response.status_code  # for the journal
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        ticker: asyncio.Task[None] | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                ticker = asyncio.create_task(self._tick_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if ticker:
                    ticker.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _tick_forever(self) -> None:
        """Settles jobs between requests, so that callbacks fire without anyone polling."""
        while True:
            await asyncio.sleep(self.ticker_seconds)
            try:
                with self.lock:
                    self.settle(self.clock.now())
            except Exception:
                log.exception("ticker")


async def _request_timeout(send: Send) -> None:
    body = b'{"error":"request body not received in time"}'
    await send({"type": "http.response.start", "status": 408, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def _serve_file(call: Call) -> Response:
    """GET /files/{id}: the emulator playing the provider's CDN."""
    emulator = call.emulator
    record = emulator.state.files.get(call.params["file_id"])
    if record is None or (record.expires_at is not None and call.now >= record.expires_at):
        raise emulator.provider.not_found(call)
    if record.sha256 is not None:
        try:
            path = emulator.blobs.path(record.sha256)
        except ValueError:  # not a digest: never a path outside the store
            raise emulator.provider.not_found(call) from None
        if not emulator.blobs.contains(path):  # a restored state whose bytes are not on this machine
            raise emulator.provider.not_found(call)
        return FileResponse(path, media_type=record.content_type)
    data = await asyncio.get_running_loop().run_in_executor(None, emulator.file_bytes, record)
    return Response(data, media_type=record.content_type)


