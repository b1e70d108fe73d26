"""One running emulator of one provider: the engine's state and services, and its ASGI app.

The middleware order is built in one place (`_build_stack`):
control API -> access log (off unless the CLI turns it on) -> journal -> faults -> contract check
(switchable) -> chaos (off unless set; see chaos.py) -> gateway. While no fault rule is set and
chaos is off, requests take the same stack without those two layers (`_build_lean_stack`).
The gateway matches the endpoint, settles due jobs, authenticates, admits (rate limits), calls
the handler and turns every failure into the provider's own error response.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import threading
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO, Iterable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.engine import control
from emulators.engine.chaos import SCOPE_PLAN, Chaos, ChaosLayer
from emulators.engine.accesslog import AccessLogLayer
from emulators.engine.clock import Clock
from emulators.engine.errors import ProviderError
from emulators.engine.faults import FaultTable
from emulators.engine.files import BlobStore, Expiries, FileRecord, content_type_for, new_file_id
from emulators.engine.http import Call, Endpoint
from emulators.engine.jobs import Job, JobKind, Scheduler
from emulators.engine.journal import Journal
from emulators.engine.layers import FaultLayer, JournalLayer
from emulators.engine.ledger import InsufficientFunds, LedgerEntry, Wallet
from emulators.engine.provider import FIXTURES_DIR, Backend, Provider
from emulators.engine.ratelimit import ConcurrencySlots, RateLimiter
from emulators.engine.render import RECIPE_KINDS, render
from emulators.engine.routing import Router
from emulators.engine.serde import codec, forget_shared_strings, from_json, to_json
from emulators.engine.stall import BodyStalled, stall_guarded
from emulators.engine.store import (ABSENT, AuditError, SnapshotCursor, Sink, StateRoot, Store, Table, Unit,
                                    current_unit, until_saved)

log = logging.getLogger("emulators")

FILES_PREFIX = "/files/"


@dataclass
class EngineState(StateRoot):
    """The engine's part of a snapshot; the provider's part is its backend's `State`.
    Dict fields are tables of the store (see store.py)."""

    clock_offset: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)  # a provider's switches (maintenance, ...)
    jobs: dict[str, Job] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)  # "1", "2", ... in order
    rate_windows: dict[str, list[float]] = field(default_factory=dict)


class Emulator:
    def __init__(self, provider: Provider, *, fixtures_dir: Path | None = None,
                 blob_dir: Path | None = None, contract_check: bool = False,
                 ticker_seconds: float = 0.5, sink: Sink | None = None, audit: bool = False) -> None:
        self.provider = provider
        self.fixtures_dir = (fixtures_dir or FIXTURES_DIR) / provider.id
        self.lock = threading.RLock()
        self.clock = Clock()
        self.blobs = BlobStore(blob_dir)
        self.faults = FaultTable()
        self.chaos = Chaos(self)  # chaos mode's settings (off until set), kept across resets
        self.journal = Journal()
        self.slots = ConcurrencySlots()
        self.contract_check = contract_check
        self.ticker_seconds = ticker_seconds
        self.store = Store(provider.id)
        self.store.audit = audit
        self.store.sink = sink
        self.audit_failures: list[str] = []  # audit mode: writes that skipped touch()
        # Control API access (see access.py): the token `--control-token` sets, the host names
        # `--allow-host` adds, and how long a half-sent request body is waited for.
        self.control_token: str | None = None
        self.allowed_hosts: list[str] = []
        self.body_timeout: float = 30.0
        files = Endpoint("GET", FILES_PREFIX + "{file_id}", _serve_file, "files.get", auth=False)
        files_head = Endpoint("HEAD", FILES_PREFIX + "{file_id}", _serve_file, "files.head", auth=False)
        self.router = Router([*provider.endpoints, files, files_head])
        self.app = self._build_stack()
        self._lean = self._build_lean_stack()
        self.reset()

    @property
    def settings(self) -> dict[str, Any]:
        """The provider's emulator-wide switches (a table of the engine state)."""
        return self.state.settings

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the seeded fixtures and real time (also what the sink holds)."""
        with self.lock:
            self.faults.clear()
            self.chaos.restart()
            self.journal.clear()
            self.clock.reset()
            store = self.store
            store.loading = True
            try:
                state = EngineState()
                self._install(state, None)
                backend = self.provider.backend_cls.seed(self, self.fixtures_dir)
                self._install(state, backend)
            finally:
                store.loading = False
            self._write_through()

    def _install(self, engine: EngineState, backend: Backend | None) -> None:
        """Makes `engine` (and `backend`) the live state: binds their tables to the store and
        rebuilds what is derived from them (schedule, expiry watermark, limiter)."""
        store = self.store
        store.unbind()
        store.bind("engine", engine)
        self.state = engine
        self.clock.offset = engine.clock_offset
        self.limiter = RateLimiter(engine.rate_windows)
        self.scheduler = Scheduler()
        self.scheduler.rebuild(engine.jobs.values())
        # file ids by expiry time, earliest first: forgetting expired records costs what expires
        self._file_expiries = Expiries((r.expires_at, r.id) for r in engine.files.values()
                                       if r.expires_at is not None)
        if backend is not None:
            store.bind("backend", backend.state)
            self.backend = backend
            backend.on_bound()

    def _write_through(self) -> None:
        """After a wholesale change (reset, restore): the sink gets the whole state (the
        control call that made it waits for `store.saved()` like any answer)."""
        sink = self.store.sink
        if sink is not None:
            sink.replace(self.provider.id, self.store.rows())

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"provider": self.provider.id, "engine": to_json(self.state),
                    "backend": to_json(self.backend.state)}

    async def snapshot_stream(self, chunk_records: int = 500) -> AsyncIterator[bytes]:
        """The snapshot as JSON text, streamed: yields to other requests every `chunk_records`
        records, and shows the state as it was when it began (changes made meanwhile are seen
        through their before-images), so a snapshot of 100k jobs never blocks the emulator."""
        store = self.store
        with SnapshotCursor(store) as cursor:
            with self.lock:
                plan = [(name, root, [(f.name, store.tables.get(f"{name}.{f.name}"))
                                      for f in dataclasses.fields(root)],
                         store.tables.get(f"{name}.$"))
                        for name, root in store.roots.items()]
                keys = {table.name: list(table) for _, _, fields, _ in plan
                        for _, table in fields if isinstance(table, Table)}
                scalars = {name: {k: fields_.dump(k) for k in fields_.codecs}
                           for name, _, _, fields_ in plan if fields_ is not None}
            yield b'{"provider": ' + json.dumps(self.provider.id).encode()
            count = 0
            for name, _, fields, _ in plan:
                yield f', "{name}": {{'.encode()
                first_field = True
                for field_name, table in fields:
                    head = ("" if first_field else ", ") + json.dumps(field_name) + ": "
                    first_field = False
                    if not isinstance(table, Table):
                        yield (head + json.dumps(scalars[name][field_name])).encode()
                        continue
                    parts = [head + "{"]
                    first = True
                    for key in keys[table.name]:
                        with self.lock:
                            value = cursor.value(table, key)
                        if value is ABSENT:
                            continue
                        parts.append(("" if first else ", ") + json.dumps(str(key)) + ": " + json.dumps(value))
                        first = False
                        count += 1
                        if count % chunk_records == 0:
                            yield "".join(parts).encode()
                            parts = []
                            await asyncio.sleep(0)
                    parts.append("}")
                    yield "".join(parts).encode()
                yield b"}"
            yield b"}"

    def restore(self, data: Any) -> None:
        """Replaces the whole state; ValueError (state untouched) when `data` does not fit."""
        if not isinstance(data, dict) or data.get("provider") != self.provider.id:
            raise ValueError(f"not a {self.provider.id} state")
        engine_doc = data.get("engine")
        if isinstance(engine_doc, dict) and "settings" in data:  # snapshots before 0.2 kept them apart
            engine_doc = {**engine_doc, "settings": data["settings"]}
        with self.lock:
            self.store.loading = True
            try:
                engine = from_json(EngineState, engine_doc)
                backend_state = from_json(self.provider.backend_cls.State, data.get("backend"))
                check_files(engine.files.values())
            finally:
                self.store.loading = False
            self._replace(engine, backend_state)
            self._write_through()

    def _replace(self, engine: EngineState, backend_state: Any) -> None:
        self.store.loading = True
        try:
            self._install(engine, self.provider.backend_cls(self, backend_state))
        finally:
            self.store.loading = False

    def load_rows(self, rows: Iterable[tuple[str, Any, Any]]) -> None:
        """Rebuilds the state from a sink's rows (`table name, key, decoded record`), checking
        every type as `restore` does, record by record as they stream in (100k jobs are never
        all held twice), without writing anything back. ValueError when a row does not fit."""
        roots = {"engine": EngineState, "backend": self.provider.backend_cls.State}
        hints = {name: typing.get_type_hints(cls) for name, cls in roots.items()}
        tables: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        scalars: dict[str, dict[str, Any]] = {name: {} for name in roots}
        with self.lock:
            self.store.loading = True
            try:
                for name, key, value in rows:
                    root, _, field_name = name.partition(".")
                    if root not in roots:
                        raise ValueError(f"unknown table {name!r}")
                    if field_name == "$":
                        scalars[root][key] = value
                        continue
                    table = tables.get((root, field_name))
                    if table is None:
                        hint = hints[root].get(field_name)
                        if hint is None or typing.get_origin(hint) is not dict:
                            raise ValueError(f"unknown table {name!r}")
                        table = tables[(root, field_name)] = (codec(typing.get_args(hint)[1]).load, {})
                    table[1][key] = table[0](value)
                states = {}
                for root, cls in roots.items():
                    kwargs = {f: codec(hints[root][f]).load(v) for f, v in scalars[root].items()
                              if f in hints[root]}
                    kwargs.update({f: data for (r, f), (_, data) in tables.items() if r == root})
                    states[root] = cls(**kwargs)
                check_files(states["engine"].files.values())
            finally:
                self.store.loading = False
                forget_shared_strings()
            self._replace(states["engine"], states["backend"])

    def advance_clock(self, seconds: float) -> None:
        """Moves emulated time forward (the control API); ValueError for a bad amount."""
        with self.lock:
            self.clock.advance(seconds)
            self.state.clock_offset = self.clock.offset
            self.settle(self.clock.now())

    # -- jobs ----------------------------------------------------------------------------------
    def create_job(self, kind: JobKind, job_id: str, owner: str, durations: list[float],
                   fail: bool) -> Job:
        durations, fail = self.chaos.job_terms(durations, fail)  # chaos mode: queued long, or failing
        job = kind.new_job(job_id, owner, self._now(), durations, fail)
        self.state.jobs[job_id] = job
        self.scheduler.add(job)
        return job

    def _now(self) -> float:
        """The time of the request being answered (one clock reading for every record it
        makes: consistent times, and one float object shared instead of one per record), or
        the clock's time outside a request."""
        unit = current_unit()
        if unit is not None and unit.now is not None and unit.store is self.store:
            return unit.now
        return self.clock.now()

    def job(self, job_id: str) -> Job | None:
        return self.state.jobs.get(job_id)

    def force_job(self, job_id: str, state: Any) -> Job:
        """Pins a job to one of its kind's states (control API); KeyError / ValueError.

        The ledger follows: a job that has ended may only be forced into another final state,
        and then its money moves as if it had ended that way: a success forced to a failure is
        refunded (the provider's usual refund), a refunded failure forced to a success is
        charged again (ValueError, nothing changed, when the account cannot pay)."""
        with self.lock:
            job = self.state.jobs[job_id]
            kind = self.provider.job_kinds[job.kind]
            matches = [s for s in kind.states if s == state or str(s) == str(state)]
            if not matches:
                raise ValueError(f"state must be one of {list(kind.states)}")
            target = matches[0]
            now = self.clock.now()
            ended = job.settled and kind.is_terminal(job.state_at(now))
            if ended and not kind.is_terminal(target):
                raise ValueError(f"job {job_id} has ended ({job.state_at(now)}); it can only be forced "
                                 "into another final state")
            reversal = ended and (job.state_at(now) == kind.success) != (target == kind.success)
            if reversal and target == kind.success:
                try:
                    self.backend.recharge(job, now)
                except InsufficientFunds as exc:
                    raise ValueError(f"the owner cannot pay for job {job_id} again ({exc})") from None
            self.state.jobs.touch(job_id)
            job.forced_state, job.forced_at = target, now
            if reversal:
                job.settled = False  # the new outcome's side effects run once more
            if kind.is_terminal(target):
                self._finish(job, now)
            return job

    def settle(self, now: float) -> None:
        """Runs the finishing side effects of every job that has ended by `now`."""
        heap = self.scheduler.heap
        if heap and heap[0][0] <= now:
            self._settle_jobs(now)
        expiries = self._file_expiries.times
        if expiries and expiries[0] <= now:
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
            self.state.jobs.touch(job.id).settled = True
            self.backend.on_job_finished(job, now)

    # -- money -----------------------------------------------------------------------------------
    def charge(self, token: str, wallet: Wallet, amount: int, ref: str) -> dict[str, int]:
        """Atomic check-and-take; raises InsufficientFunds with nothing taken."""
        with self.lock:
            self.backend.touch_account(token)
            parts = wallet.charge(amount)
            self._book(LedgerEntry(self._now(), token, "charge", amount, parts, ref))
            return parts

    def refund(self, token: str, wallet: Wallet, parts: dict[str, int], ref: str) -> None:
        with self.lock:
            self.backend.touch_account(token)
            wallet.refund(parts)
            amount = sum(parts.values())
            self._book(LedgerEntry(self._now(), token, "refund", amount, parts, ref))

    def recharge(self, token: str, wallet: Wallet, ref: str) -> dict[str, int]:
        """Takes back exactly what the latest refund of `ref` returned (a refunded job forced
        into success); InsufficientFunds with nothing taken."""
        with self.lock:
            refunds = [e for e in self.state.ledger.values() if e.ref == ref and e.kind == "refund"]
            parts = dict(refunds[-1].parts) if refunds else {}
            self.backend.touch_account(token)
            wallet.take(parts)
            self._book(LedgerEntry(self._now(), token, "charge", sum(parts.values()), parts, ref))
            return parts

    def _book(self, entry: LedgerEntry) -> None:
        ledger = self.state.ledger
        ledger[str(len(ledger) + 1)] = entry

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
            created_at=self._now(), owner=owner, name=name, size=size, sha256=blob,
            expires_at=expires_at))

    def add_generated(self, recipe: dict[str, Any], ext: str, *, owner: str | None = None,
                      expires_at: float | None = None, file_id: str | None = None,
                      content_type: str | None = None) -> FileRecord:
        """Publishes a file made from `recipe` (see render.py) on its first download."""
        return self._add_file(FileRecord.generated(
            file_id or new_file_id(ext), content_type or content_type_for(ext), self._now(), owner, recipe,
            expires_at, pack=not self.store.loading))  # seeding: speed over a few hundred bytes

    def _add_file(self, record: FileRecord) -> FileRecord:
        with self.lock:
            self.state.files[record.id] = record
            if record.expires_at is not None:
                self._file_expiries.push(record.expires_at, record.id)
        return record

    def expire_file(self, file_id: str, at: float | None) -> None:
        """Sets when a file stops being served (None: never)."""
        with self.lock:
            record = self.state.files.get(file_id)
            if record is not None:
                self.state.files.touch(file_id)
                record.expires_at = at
                if at is not None:
                    self._file_expiries.push(at, file_id)

    def _forget_expired_files(self, now: float) -> None:
        """Drops records whose time is over (their URLs already answer 404). An entry whose
        record has gone or changed its expiry since is skipped."""
        files = self.state.files
        for file_id in self._file_expiries.due(now):
            record = files.get(file_id)
            if record is not None and record.expires_at is not None and record.expires_at <= now:
                del files[file_id]

    def file_bytes(self, record: FileRecord) -> bytes:
        if record.sha256 is not None:
            return self.blobs.read(record.sha256)
        recipe = record.recipe
        assert recipe is not None
        return render(recipe)

    def file(self, file_id: str) -> FileRecord | None:
        """The file served at `file_id`: a stored record, or one the provider derives from its
        own records (Backend.derived_file)."""
        record = self.state.files.get(file_id)
        return record if record is not None else self.backend.derived_file(file_id)

    @staticmethod
    def file_url(base_url: str, record: FileRecord) -> str:
        return Emulator.url_of(base_url, record.id)

    @staticmethod
    def url_of(base_url: str, file_id: str) -> str:
        """The URL of `file_id` (a file that may be made only when asked for)."""
        return f"{base_url}{FILES_PREFIX}{file_id}"

    def file_from_url(self, url: str) -> FileRecord | None:
        """The record behind a URL this emulator handed out (any host: clients may rewrite it)."""
        if FILES_PREFIX not in url:
            return None
        file_id = url.split(FILES_PREFIX, 1)[1].split("?", 1)[0]
        return self.file(file_id)

    # -- ASGI ----------------------------------------------------------------------------------
    def _build_stack(self) -> ASGIApp:
        app: ASGIApp = ChaosLayer(self._gateway, self)  # passes straight through while chaos is off
        if self.contract_check:
            from emulators.engine.contracts import ContractLayer

            app = ContractLayer(app, self)
        app = FaultLayer(app, self)
        app = JournalLayer(app, self)
        return AccessLogLayer(app, self)  # off until the CLI turns it on (accesslog.enable)

    def _build_lean_stack(self) -> AccessLogLayer:
        """The same stack without the layers that only pass through while they are off (faults,
        chaos): what a request takes when neither is on (see __call__). Measured on the wire,
        the idle layers cost a cheap read a sixth of its throughput. Its access log layer is
        switched with the full stack's (accesslog.enable)."""
        app: ASGIApp = self._gateway
        if self.contract_check:  # the stack's own contract layer (it holds strict mode's switches)
            from emulators.engine.contracts import ContractLayer

            app = self.app
            while not isinstance(app, ContractLayer):
                app = app.app  # type: ignore[attr-defined]
        return AccessLogLayer(JournalLayer(app, self), self)

    @property
    def stacks(self) -> tuple[ASGIApp, AccessLogLayer]:
        """The full middleware stack and the lean one (see _build_lean_stack)."""
        return self.app, self._lean

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            receive = stall_guarded(scope, receive, self.body_timeout)
            if scope["path"].startswith(control.PREFIX):
                await control.handle(self, scope, receive, send)
                return
            try:
                if not self.faults.rules and self.chaos.settings is None:
                    await self._lean(scope, receive, send)
                else:
                    await self.app(scope, receive, send)
            except BodyStalled:  # the gateway noted 408 for the journal
                log.info("%s %s: request body stalled for %ss; dropped", scope["method"],
                         scope["path"], self.body_timeout)
                await _request_timeout(send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def token_of(self, scope: Scope) -> str | None:
        return self.provider.token_of(scope)

    async def _gateway(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One provider request as one unit of work: whatever the handler changed is rolled
        back when it fails, and committed (written through to the state file) before the
        response is sent. Settling and admission (rate-limit counts) are kept either way."""
        provider = self.provider
        endpoint, params, methods = self.router.match(scope["method"], scope["path"])
        now = self.clock.now()
        call = Call(Request(scope, receive), self, endpoint, params, now)
        store = self.store
        unit = store.begin()
        if unit.now is None:
            unit.now = now
        mark = -1  # the savepoint before the handler: its writes are what a failure undoes
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
            if SCOPE_PLAN in scope:  # chaos mode: a documented error instead (nothing admitted or run)
                self.chaos.before_handler(call)
            with self.lock:
                provider.admit(call)
            admitted = True
            mark = unit.mark()
            response = await endpoint.handler(call)
        except ProviderError as err:
            if mark >= 0:
                unit.rollback_to(mark)
            response = provider.error_response(call, err)
        except ClientDisconnect:  # nobody left to answer: no error of ours, no response
            log.info("%s %s: client went away mid-request", scope["method"], scope["path"])
            self._close_unit(unit, mark)
            return
        except BodyStalled:  # answered (408) outside the contract check: no provider's answer
            scope["emulator.status"] = 408
            self._close_unit(unit, mark)
            raise
        except Exception:
            if mark >= 0:
                unit.rollback_to(mark)
            log.exception("unplanned error in %s %s", scope["method"], scope["path"])
            response = provider.error_response(call, provider.internal_error(call))
        finally:
            if admitted:
                provider.release(call)
        try:
            provider.finish(call, response)
            with self.lock:
                store.commit(unit)
            saved = store.saved()  # this request's changes, or changes it may have seen
            if saved is not None:
                await until_saved(saved)
        except AuditError as exc:  # tests: a write that skipped touch()
            self.audit_failures.append(f"{scope['method']} {scope['path']}: {exc}")
        except Exception:
            if not unit.closed:
                store.abort(unit)
            log.exception("could not commit %s %s", scope["method"], scope["path"])
            response = provider.error_response(call, provider.internal_error(call))
        scope["emulator.status"] = response.status_code  # for the journal
        await response(scope, receive, send)

    def _close_unit(self, unit: Unit, mark: int) -> None:
        """A request that gets no answer: its handler's writes go, the rest is kept."""
        if mark >= 0:
            unit.rollback_to(mark)
        with self.lock:
            self.store.commit(unit)

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
                with self.lock, self.store.unit():
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
    record = emulator.file(call.params["file_id"])
    if record is None or (record.expires_at is not None and call.now >= record.expires_at):
        raise emulator.provider.not_found(call)
    if record.sha256 is not None:
        try:
            path = emulator.blobs.path(record.sha256)
        except ValueError:  # not a digest: never a path outside the store
            raise emulator.provider.not_found(call) from None
        if not emulator.blobs.contains(path):  # a restored state whose bytes are not on this machine
            raise emulator.provider.not_found(call)
        return FileResponse(path, media_type=record.content_type)  # answers HEAD without the body
    data = await asyncio.get_running_loop().run_in_executor(None, emulator.file_bytes, record)
    if call.request.method == "HEAD":
        return Response(b"", media_type=record.content_type, headers={"Content-Length": str(len(data))})
    return Response(data, media_type=record.content_type)


_DIGEST = re.compile(r"[0-9a-f]{64}")
_FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_files(records: Iterable[FileRecord]) -> None:
    """A restored state may only point at blobs inside the store and at recipes the renderer
    knows: a record naming `/etc/passwd` or `../x` is refused (ValueError), never served."""
    for record in records:
        if not _FILE_ID.fullmatch(record.id) or ".." in record.id:
            raise ValueError(f"file id {record.id!r} is not a file id")
        if record.sha256 is not None and not _DIGEST.fullmatch(record.sha256):
            raise ValueError(f"file {record.id}: sha256 must be 64 lowercase hex digits")
        if (record.sha256 is None) == (record.recipe_json is None):
            raise ValueError(f"file {record.id}: exactly one of sha256 and recipe_json")
        try:
            recipe = record.recipe
        except ValueError:
            raise ValueError(f"file {record.id}: recipe_json is not JSON") from None
        if recipe is not None and (not isinstance(recipe, dict) or recipe.get("kind") not in RECIPE_KINDS):
            raise ValueError(f"file {record.id}: unknown recipe kind")


