"""One emulator under fuzzing: a frozen clock, a baseline state restored before every case, and
the checks every answer must pass.

For each request: the state before it (`GET /_emulator/state`'s document, less what any request
may legitimately change: rate-limit windows, and kai's request counters, which count errors too)
is compared with the state after it. An error answer (HTTP >= 400, or a 200 whose body carries
an error code where the provider answers errors that way) must leave it exactly as it was.
No answer may be a 5xx the provider does not plan, log an unplanned error, break the contract
(the plugin's contract check) or change state behind the store's back (audit mode). And no
handler may await after it wrote (a watcher task looks whenever the request is suspended): a
failure after that await would roll back over what other requests committed meanwhile."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import warnings
from typing import Any, Callable

import httpx
from hypothesis import HealthCheck, given, settings

from emulators.engine.clock import Clock
from emulators.pytest_plugin import start_emulator
from tests.fuzz.mutations import Auth, Spec, fuzz_request, sweep
from tests.fuzz.wire import Wire

# EMULATORS_FUZZ_SCALE=N runs N times as many cases, with fresh random seeds each run (the
# default run is derandomized: the same cases every time, so CI is reproducible).
SCALE = float(os.environ.get("EMULATORS_FUZZ_SCALE", "1") or 1)


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), derandomize=SCALE == 1, deadline=None,
                    database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def fuzz_operation(fuzzer: Fuzzer, spec: Spec, auth: Auth) -> None:
    """Hypothesis requests of one operation, each checked by `fuzzer` (every provider's test_*_fuzz)."""

    @fuzz_settings(spec.examples)
    @given(wire=fuzz_request(spec, auth))
    def run(wire: Wire) -> None:
        fuzzer.check(wire)

    run()


def sweep_operation(fuzzer: Fuzzer, spec: Spec, auth: Auth) -> None:
    """Every field of one operation, each with the values most likely to break it (mutations.SWEEP_*)."""
    for wire in sweep(spec, auth):
        fuzzer.check(wire, read_back=False)


class FrozenClock(Clock):
    """Emulated time that moves only when told (`advance`): jobs neither finish nor settle
    between the two snapshots of one case, and every case starts at the same instant."""

    __slots__ = ("base",)

    def __init__(self, base: float) -> None:
        super().__init__(0.0)
        self.base = base

    def now(self) -> float:
        return self.base + self.offset


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


ErrorTest = Callable[[httpx.Response], bool]
FILE_URL = re.compile(rb"https?://testserver/files/[A-Za-z0-9._-]+")


def http_error(response: httpx.Response) -> bool:
    return response.status_code >= 400


def body_code_error(success: Any) -> ErrorTest:
    """Errors as HTTP >= 400, or a JSON body whose `code` is not `success` (kreado, kie live)."""
    def test(response: httpx.Response) -> bool:
        if response.status_code >= 400:
            return True
        if "json" not in response.headers.get("content-type", ""):
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and "code" in body and body["code"] != success
    return test


class Fuzzer:
    def __init__(self, provider: str, *, is_error: ErrorTest = http_error,
                 volatile: Callable[[dict[str, Any]], None] | None = None,  # drops fields (copying what it changes)
                 planned_5xx: Callable[[Wire, httpx.Response], bool] | None = None,
                 error_check: Callable[[dict[str, Any], dict[str, Any]], list[str]] | None = None,
                 readers: Callable[[Wire, httpx.Response], list[Wire]] | None = None) -> None:
        self.provider = provider
        self.running, self._stop = start_emulator(provider)  # contract check and audit on
        self.em = self.running.emulator
        self.em.clock = FrozenClock(time.time())
        self.em.clock.offset = self.em.state.clock_offset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.client: httpx.Client = self.running.client()
        self.control = self.running.control
        self.is_error = is_error
        self.volatile = volatile
        self.planned_5xx = planned_5xx or (lambda wire, response: False)
        self.error_check = error_check  # more about an error answer: (state before, state after) -> problems
        self.readers = readers  # after a successful case: the requests that show what it stored
        self.baseline: dict[str, Any] | None = None
        self.baseline_view: dict[str, Any] | None = None
        # Units of work opened while a case runs: a watcher task looks at them whenever the
        # request is suspended (awaiting a thread, a body, a sleep). A unit that already holds
        # changes then is a handler that awaits after it wrote: if it failed after that await,
        # its rollback would restore records other requests changed meanwhile (lost updates).
        self._units: list[Any] = []
        self._awaited_after_write: list[str] = []
        store = self.em.store
        begin = store.begin

        def tracking_begin() -> Any:
            unit = begin()
            self._units.append(unit)
            return unit

        store.begin = tracking_begin  # type: ignore[method-assign]
        # One event loop for every case: the engine keeps a little per loop (stall.py's
        # sweeper), so a loop per case would pile those up.
        self.loop = asyncio.new_event_loop()
        self._log = _Collect()
        logging.getLogger("emulators").addHandler(self._log)
        self.cases = 0
        self.errors = 0
        self.statuses: dict[int, int] = {}
        self.outcomes: dict[str, list[int]] = {}  # path -> [successes, error answers]

    def close(self) -> None:
        logging.getLogger("emulators").removeHandler(self._log)
        self.loop.close()
        self._stop()

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def freeze_baseline(self) -> None:
        """The state every case starts from (after the provider's setup requests)."""
        self.em.audit_failures.clear()
        self.em.journal.clear()
        self._log.records.clear()
        self.baseline = self.em.snapshot()
        self.baseline_view = self.view()
        self.em.restore(self.baseline)
        assert self.view() == self.baseline_view, diff(self.baseline_view, self.view())  # restore is exact

    def view(self, snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole state, less what any request may change."""
        state = dict(snapshot if snapshot is not None else self.em.snapshot())  # `volatile` copies what it drops from
        state["engine"] = {k: v for k, v in state["engine"].items() if k != "rate_windows"}
        if self.volatile is not None:
            self.volatile(state)
        return state

    def send(self, wire: Wire) -> httpx.Response:
        """Sends `wire` in-process on an event loop of this thread, watched (see __init__)."""
        self._units.clear()
        self._awaited_after_write.clear()
        return self.loop.run_until_complete(self._send(wire))

    async def _send(self, wire: Wire) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.em, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
            done = asyncio.Event()
            watcher = asyncio.create_task(self._watch(done))
            try:
                return await client.request(wire.method, wire.url(), content=wire.body, headers=wire.headers)
            finally:
                done.set()
                await watcher

    async def _watch(self, done: asyncio.Event) -> None:
        spins = 0
        while not done.is_set():
            for unit in self._units:
                # admission's rate-limit counts are written before the handler and kept anyway
                changed = sorted({str(k) for k in unit.changes if k[0] != "engine.rate_windows"})[:5]
                if changed and not unit.closed:
                    note = f"a handler awaited after it wrote {changed}"
                    if note not in self._awaited_after_write:
                        self._awaited_after_write.append(note)
            spins += 1
            await asyncio.sleep(0 if spins < 100 else 0.0002)

    def check(self, wire: Wire, *, read_back: bool = True) -> httpx.Response:
        """Sends one case from the baseline state and checks everything about its answer.
        Every case starts from the same state (restored), so the state before it is the
        baseline's, taken once. When the case succeeded and the provider has `readers`, the
        clock then moves on an hour (its jobs finish) and every answer that shows what it
        stored is fetched and checked too (lists, task queries, the files it made): whatever
        one request was allowed to store, no later answer may break on it."""
        assert self.baseline is not None, "freeze_baseline() first"
        self.em.restore(self.baseline)
        response, after = self._step(wire, self.baseline_view, raw_before=self.baseline)
        if not read_back or self.readers is None or self.is_error(response) or after == self.baseline_view:
            return response  # nothing stored: nothing new to show
        context = f"after the case {wire.short()}\n-> {response.status_code} {response.content[:300]!r}\n"
        self.advance(3600)
        seen = {response.content}
        for reader in self.readers(wire, response):
            answer, _ = self._step(reader, self.view(), context=context, reader=True)
            seen.add(answer.content)
        known = self.baseline["engine"]["files"]  # the files this case made, not the seeded ones
        urls = sorted({u for content in seen for u in FILE_URL.findall(content)
                       if u.rsplit(b"/", 1)[-1].decode() not in known})[:2]
        for url in urls:
            self._step(Wire("GET", url.decode()), self.view(), context=context, reader=True)
        return response

    def advance(self, seconds: float) -> None:
        """Moves the emulated clock on, settling what finished meanwhile (as the control API does)."""
        em = self.em
        with em.lock, em.store.unit():
            em.advance_clock(seconds)

    def _step(self, wire: Wire, before: dict[str, Any], *, raw_before: dict[str, Any] | None = None,
              context: str = "", reader: bool = False) -> tuple[httpx.Response, dict[str, Any]]:
        em = self.em
        em.journal.clear()
        em.audit_failures.clear()
        self._log.records.clear()
        response = self.send(wire)
        if not reader:
            self.cases += 1
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        problems: list[str] = []
        if response.status_code >= 500 and not self.planned_5xx(wire, response):
            problems.append(f"status {response.status_code}: {response.text[:500]}")
        for record in self._log.records:
            problems.append(f"logged: {record.getMessage()}\n{_exc_text(record)}")
        problems.extend(f"audit: {failure}" for failure in em.audit_failures)
        problems.extend(self._awaited_after_write)
        for entry in em.journal.as_json():
            problems.extend(f"contract: {v}" for v in entry["violations"])
        error = self.is_error(response)
        path = re.sub(r".*/files/.*", "/files/*", wire.path)
        label = ("reader " if reader else "") + f"{wire.method} {path}"[:80]
        self.outcomes.setdefault(label, [0, 0])[error] += 1
        # A success that declared no write (audit mode vouches for that) changed nothing: no
        # snapshot needed. An error answer is always compared, whatever it declared.
        wrote = any(k[0] != "engine.rate_windows" for unit in self._units for k in unit.changes)
        if not error and not wrote and not problems:
            return response, before
        raw_after = self.em.snapshot()
        after = self.view(raw_after)
        if error:
            if not reader:
                self.errors += 1
            if before != after:
                problems.append("an error answer changed the state:\n  " + "\n  ".join(diff(before, after)[:20]))
            if self.error_check is not None and raw_before is not None:
                problems.extend(self.error_check(raw_before, raw_after))
        sent = b" ".join([wire.body, *(v for _, v in wire.headers)])
        for token, account in before["backend"].get("accounts", {}).items():
            if token.encode() not in sent and after["backend"]["accounts"].get(token) != account:
                problems.append(f"the account of {token!r}, not named in the request, changed:\n  "
                                + "\n  ".join(diff(account, after["backend"]["accounts"].get(token))[:10]))
        if problems:
            raise AssertionError(
                f"{self.provider}: {context}{'reader: ' if reader else ''}{wire.short()}\n-> {response.status_code} "
                f"{response.headers.get('content-type', '')} {response.content[:400]!r}\n"
                + "\n".join(problems))
        return response, after


def _exc_text(record: logging.LogRecord) -> str:
    if record.exc_info:
        return logging.Formatter().formatException(record.exc_info)[-3000:]
    return ""


def diff(before: Any, after: Any, path: str = "$") -> list[str]:
    """The paths where two JSON documents differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            if key not in after:
                out.append(f"{path}.{key}: removed")
            elif key not in before:
                out.append(f"{path}.{key}: added {str(after[key])[:200]}")
            else:
                out.extend(diff(before[key], after[key], f"{path}.{key}"))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in diff(b, a, f"{path}[{i}]")]
    if before != after:
        return [f"{path}: {str(before)[:200]} -> {str(after)[:200]}"]
    return []
