"""Shared machinery of the stateful (model-checking) tests: an in-process emulator on a frozen
clock, spoken to over HTTP, and a Hypothesis `RuleBasedStateMachine` base that keeps a model of
what the emulator must hold and checks it after every step.

What every provider's machine checks (each provider adds its own rules and checks):
- credits conserved per pool: an account's balance (read through `/_emulator/accounts/{token}`)
  equals what it was seeded with, minus the ledger's charges, plus its refunds, pool by pool,
  and is never negative;
- the ledger is well formed: amounts are the sums of their parts, a ref is refunded at most
  once, by at most what was charged, to the token that paid;
- a job's state only moves forward along its kind's phases and ends once (a forced state starts
  its history again); a job that ended is settled, even when the clock was moved by exactly
  its duration; one that ended failed has been refunded, one that ended well has not;
- tenancy: no answer to a token names another token's job, voice or file (unless the token
  itself sent that id), and polling another token's job is the provider's "not found";
- rate limits: a request is refused exactly when its window already admitted `limit` requests
  (kreado: or while its cooldown runs); no window admits more; of a concurrent burst, exactly
  as many are refused, and no more are paid for than the balance covers;
- snapshot (`GET /_emulator/state`) then restore (`PUT`) then snapshot gives the same JSON;
  rewinding to an older snapshot rewinds everything (the model too); the same requests after a
  restore give the same answers and the same state, also on a second emulator restored from
  the snapshot (nothing that matters lives outside it);
- every answer matched the provider's contract and every change went through the store.

The clock is frozen (real time does not move it; only `POST /_emulator/clock` does), so a run is
a pure function of Hypothesis' choices: deterministic, and replayable after a restore.
"""
from __future__ import annotations

import asyncio
import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emulators.engine.clock import Clock
from emulators.engine.jobs import JobKind
from emulators.pytest_plugin import RunningEmulator, start_emulator

FROZEN_AT = 1768910400.0  # 2026-01-20T12:00:00Z: a multiple of every rate window used here

# Fast and deterministic: no example database, the same examples on every run.
MACHINE_SETTINGS = settings(max_examples=25, stateful_step_count=20, derandomize=True, database=None,
                            deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)

# Clock steps a rule may take: inside a phase, across phases, across rate windows, days.
ADVANCES = (0.25, 0.5, 1.0, 1.5, 3.0, 7.0, 16.0, 45.0, 61.0, 3600.0, 86400.0, 4 * 86400.0, 12 * 86400.0)


class FrozenClock(Clock):
    """Emulated time that moves only when advanced: `base + offset`."""

    __slots__ = ("base",)

    def __init__(self, base: float, offset: float = 0.0) -> None:
        super().__init__(offset)
        self.base = base

    def now(self) -> float:
        return self.base + self.offset


class Harness:
    """One in-process emulator (contract checks and store audit on, as the pytest plugin runs
    it) driven over HTTP by an httpx client on the ASGI app, on an event loop of its own."""

    def __init__(self, provider_id: str) -> None:
        self.running: RunningEmulator
        self.running, self._stop = start_emulator(provider_id)
        self.emulator = self.running.emulator
        self.emulator.clock = FrozenClock(FROZEN_AT)
        self._twin: Harness | None = None
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.emulator),
                                        base_url=self.running.base_url, timeout=30)
        self.control("POST", "reset")  # seeded again, on the frozen clock
        self.pristine = self.control("GET", "state")
        self.control("POST", "reset")
        assert self.control("GET", "state") == self.pristine, "seeding twice gave two states"

    def send(self, method: str, path: str, *, audit: bool = True, **kw: Any) -> httpx.Response:
        """One request; `audit=False` suspends the store audit for it."""
        store = self.emulator.store
        audited = store.audit
        store.audit = audited and audit
        try:
            return self.loop.run_until_complete(self.client.request(method, path, **kw))
        finally:
            store.audit = audited

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A control call that must succeed; its JSON answer. The machine's own reads (balances
        after every step, snapshots) and restores (which replace the state wholesale) skip the
        store audit, which dumps the whole state twice per unit of work: provider requests and
        the other control writes (the clock and forced jobs, where jobs settle and refunds
        happen; accounts) are audited."""
        r = self.send(method, f"/_emulator/{path}", json=body, audit=method != "GET" and path != "state")
        assert r.status_code == 200, f"control {method} {path}: {r.status_code} {r.text}"
        return r.json()

    def twin(self) -> Harness:
        """A second emulator of the same provider (made on first use)."""
        if self._twin is None:
            self._twin = Harness(self.emulator.provider.id)
        return self._twin

    def reset(self) -> None:
        """Back to the seeded state: restoring its snapshot is what `POST /_emulator/reset`
        does (checked once), for a fraction of the cost of seeding from the fixtures again."""
        self.control("PUT", "state", self.pristine)
        self.emulator.journal.clear()

    def now(self) -> float:
        return self.emulator.clock.now()

    def close(self) -> None:
        if self._twin is not None:
            self._twin.close()
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()
        self._stop()


@dataclass
class Baseline:
    """What a token's pools held when the machine last set them, and where the ledger stood."""

    pools: dict[str, int]
    ledger_len: int


@dataclass
class JobNote:
    owner: str
    kind: str  # the engine's job kind
    history: list[Any] = field(default_factory=list)  # states seen since creation or the last force


@dataclass
class Model:
    """Everything the machine believes; copied with a snapshot so that a rewind rewinds it."""

    baselines: dict[str, Baseline] = field(default_factory=dict)
    jobs: dict[str, JobNote] = field(default_factory=dict)
    known: dict[str, set[str]] = field(default_factory=dict)  # ids each token sent itself
    windows: dict[str, list[float]] = field(default_factory=dict)  # "token|scope" -> [start, count, blocked_until]
    rate_checks: int = 0  # requests whose admission was predicted (and checked)
    refusals: int = 0  # of which refused by a rate limit
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific


@dataclass(frozen=True)
class RateRule:
    scope: str
    limit: int
    seconds: float
    extend_on_reject: bool = False


def normalized(value: Any, drop: frozenset[str] = frozenset()) -> Any:
    """JSON with keys in `drop` removed at any depth (random request ids)."""
    if isinstance(value, dict):
        return {k: normalized(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [normalized(v, drop) for v in value]
    return value


def pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


INDEX = st.integers(0, 10_000)


class EmulatorMachine(RuleBasedStateMachine):
    """The rules and invariants every provider shares. A provider's machine sets `harness`
    (through `bind`), declares its tokens, how to read their pools, how to poll a job, and adds
    the rules that create its jobs and resources."""

    harness: ClassVar[Harness]
    failure_states: ClassVar[tuple[Any, ...]] = ()  # terminal states that refund
    # True: a job that already ended may be forced into any state, and the ledger must follow
    # (COMPLETED forced to FAILED refunds; FAILED forced to COMPLETED charges again or is
    # refused): see test_forced_finals.py.
    reforce_finals: ClassVar[bool] = True
    drop_keys: ClassVar[frozenset[str]] = frozenset()  # answer fields that are random per call
    # False: the machine's read-only provider requests (polls, lists, balances) skip the store
    # audit (for a provider whose large seeded state makes every audit expensive)
    audit_reads: ClassVar[bool] = True
    rate_headers: ClassVar[bool] = True  # answers carry X-RateLimit-* (and Retry-After when refused)

    @classmethod
    def bind(cls, harness: Harness, **attrs: Any) -> type[EmulatorMachine]:
        return type(cls.__name__, (cls,), {"harness": harness, **attrs})

    def __init__(self) -> None:
        super().__init__()
        self.h = self.harness
        self.h.reset()
        self.em = self.h.emulator
        self.m = Model()
        self.saved: list[tuple[Any, Model]] = []
        self.journal_seen = 0
        self.setup()

    # -- what a provider declares ------------------------------------------------------------------
    def setup(self) -> None:
        """Seeds the machine's tokens (PUT /_emulator/accounts) and notes their baselines."""

    def pools_of(self, view: dict[str, Any]) -> dict[str, int]:
        """The pools (named as the ledger names them) in a control API account view."""
        return {}

    def poll(self, job_id: str, token: str) -> httpx.Response:
        """The provider's own status query for a job, as `token`."""
        raise NotImplementedError

    def status_of(self, response: httpx.Response) -> Any:
        """The job state a successful poll shows (in the engine's terms)."""
        raise NotImplementedError

    def is_not_found(self, response: httpx.Response) -> bool:
        """A poll of another token's job answered with the provider's "not found"."""
        raise NotImplementedError

    def rate_rule(self, token: str, method: str, path: str) -> RateRule | None:
        """The window that counts this request (None: not counted, or not predicted)."""
        return None

    def is_rate_limited(self, response: httpx.Response) -> bool:
        return False

    def extra_owned(self) -> Iterable[tuple[str, str]]:
        """(id, owner token) of provider resources besides jobs and files (voices, models)."""
        return ()

    def tokens(self) -> list[str]:
        return list(self.m.baselines)

    def top_up_fields(self, token: str, amount: int) -> dict[str, Any] | None:
        """Account fields that set a token's balance anew (None: the provider has no credits)."""
        return None

    # -- talking to the emulator -------------------------------------------------------------------
    def seed_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = self.h.control("PUT", f"accounts/{token}", fields)
        pools = self.pools_of(view)
        if pools:
            self.m.baselines[token] = Baseline(pools, len(self.em.state.ledger))
        else:
            self.m.baselines[token] = Baseline({}, 0)
        return view

    def owners(self) -> dict[str, str]:
        """Every id that belongs to one token: jobs, owned files, provider resources."""
        found = {job_id: job.owner for job_id, job in self.em.state.jobs.items()}
        found.update((file_id, r.owner) for file_id, r in self.em.state.files.items() if r.owner)
        found.update(self.extra_owned())
        return found

    def call(self, token: str | None, method: str, path: str, *, headers: dict[str, str] | None = None,
             auth_header: bool = True, read: bool = False, **kw: Any) -> httpx.Response:
        """A provider request as `token` (sent in the provider's auth header unless
        `auth_header` is False: the body carries it; `read`: it changes nothing): admission
        predicted and checked, the answer checked for other tenants' ids."""
        owners = self.owners()
        sent = path + json.dumps(kw.get("json"), default=str) + json.dumps(kw.get("params"), default=str) \
            + json.dumps(kw.get("data"), default=str)
        if token is not None:
            known = self.m.known.setdefault(token, set())
            known.update(i for i, owner in owners.items() if owner != token and i in sent)
        rule = self.rate_rule(token, method, path) if token is not None else None
        predicted = self._admit(token, rule) if rule is not None and token is not None else None
        sent_auth = self.auth(token) if auth_header else {}
        r = self.h.send(method, path, headers={**sent_auth, **(headers or {})},
                        audit=self.audit_reads or not read, **kw)
        if predicted is not None:
            self.m.rate_checks += 1
            limited = self.is_rate_limited(r)
            self.m.refusals += limited
            assert limited == (not predicted), (
                f"{method} {path} as {token}: rate limit {'refused' if limited else 'admitted'} it, "
                f"the model {'admits' if predicted else 'refuses'} it ({rule}, window "
                f"{self.m.windows.get(f'{token}|{rule.scope}')}): {r.status_code} {r.text[:300]}")
            if self.rate_headers:
                self._check_rate_headers(r, token, rule, predicted)
        if token is not None:
            self._check_tenancy(token, r)
        return r

    def _check_rate_headers(self, r: httpx.Response, token: str, rule: RateRule, admitted: bool) -> None:
        """X-RateLimit-Limit/Remaining/Reset tell the window's standing after this request:
        what is left of it, and when it clears (a refusal: nothing left, and Retry-After)."""
        start, count, blocked_until = self.m.windows[f"{token}|{rule.scope}"]
        now = self.h.now()
        assert r.headers.get("X-RateLimit-Limit") == str(rule.limit), r.headers
        if admitted:
            assert r.headers.get("X-RateLimit-Remaining") == str(rule.limit - int(count)), r.headers
            assert r.headers.get("X-RateLimit-Reset") == str(math.ceil(start + rule.seconds)), r.headers
        else:
            assert r.headers.get("X-RateLimit-Remaining") == "0", r.headers
            clears = blocked_until if now < blocked_until else start + rule.seconds
            assert r.headers.get("X-RateLimit-Reset") == str(math.ceil(clears)), r.headers
            assert int(r.headers["Retry-After"]) == max(1, math.ceil(clears - now)), r.headers

    def call_many(self, token: str, method: str, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
        """Several requests as `token` at once (concurrent on the event loop): the number the
        rate limit refuses is the model's (which ones depends on their interleaving)."""
        rule = self.rate_rule(token, method, path)
        admitted = sum(self._admit(token, rule) for _ in bodies) if rule is not None else None

        async def send_all() -> list[httpx.Response]:
            return list(await asyncio.gather(*[
                self.h.client.request(method, path, headers=self.auth(token), **body) for body in bodies]))

        responses = self.h.loop.run_until_complete(send_all())
        if admitted is not None:
            limited = sum(self.is_rate_limited(r) for r in responses)
            self.m.rate_checks += len(bodies)
            self.m.refusals += limited
            assert limited == len(bodies) - admitted, f"{limited} of {len(bodies)} refused, the model says " \
                f"{len(bodies) - admitted}: {[r.status_code for r in responses]}"
        for r in responses:
            self._check_tenancy(token, r)
        return responses

    def check_burst(self, responses: list[httpx.Response], paid: list[httpx.Response], balance: int,
                    price: int) -> None:
        """Of a burst's requests the rate limit let through, as many were paid for as the
        balance covered, no more (no overspending, whatever the interleaving), no fewer."""
        admitted = sum(not self.is_rate_limited(r) for r in responses)
        assert len(paid) == min(admitted, balance // price), \
            f"{len(paid)} paid of {admitted} admitted, balance {balance}, price {price}: " \
            f"{[(r.status_code, r.text[:80]) for r in responses]}"

    def auth(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _admit(self, token: str, rule: RateRule) -> bool:
        """Fixed windows aligned to multiples of their length on the emulated clock: at most
        `limit` requests admitted per window; with `extend_on_reject`, a refusal starts a
        cooldown of one window length that every refused retry starts again."""
        now = self.h.now()
        key = f"{token}|{rule.scope}"
        start = math.floor(now / rule.seconds) * rule.seconds
        window = self.m.windows.setdefault(key, [start, 0.0, 0.0])
        if now < window[2]:
            if rule.extend_on_reject:
                window[2] = now + rule.seconds
            return False
        if window[0] != start:
            window[0], window[1] = start, 0.0
        if window[1] >= rule.limit:
            if rule.extend_on_reject:
                window[2] = now + rule.seconds
            return False
        window[1] += 1
        return True

    def _check_tenancy(self, token: str, r: httpx.Response) -> None:
        if "json" not in r.headers.get("content-type", ""):
            return
        text = r.text
        known = self.m.known.get(token, set())
        foreign = [i for i, owner in self.owners().items() if owner != token and i not in known and i in text]
        assert not foreign, f"an answer to {token} names other tokens' {foreign}: {text[:500]}"

    # -- generic rules -------------------------------------------------------------------------------
    @precondition(lambda self: any(b.pools for b in self.m.baselines.values()))
    @rule(index=INDEX, amount=st.sampled_from([0, 7, 1000, 123_456]))
    def set_balance(self, index: int, amount: int) -> None:
        """The control API sets a balance anew (a top-up, or taking it away): the ledger counts
        from there; refunds of earlier charges land on the new balance."""
        token = pick(self.tokens(), index)
        fields = self.top_up_fields(token, amount)
        if fields is not None:
            self.seed_account(token, fields)

    @rule(seconds=st.sampled_from(ADVANCES))
    def advance_clock(self, seconds: float) -> None:
        before = self.h.now()
        answer = self.h.control("POST", "clock", {"advance_seconds": seconds})
        assert self.h.now() == before + seconds or math.isclose(self.h.now(), before + seconds)
        assert answer["offset_seconds"] == self.em.clock.offset

    def job_ids(self) -> list[str]:
        return sorted(self.m.jobs)

    @precondition(lambda self: bool(self.m.jobs))
    @rule(index=INDEX)
    def advance_to_a_job_end(self, index: int) -> None:
        """What a client's test does: advance the clock by exactly what a job still needs (its
        phases' durations, right after creating it). Whether it is then over may hang on the
        last bit of a float; once it is over, it must be settled (refunded, called back)."""
        job = self.em.state.jobs[pick(self.job_ids(), index)]
        now = self.h.now()
        if job.created_at == now:
            seconds = sum(job.durations)
        else:
            seconds = max(0.0, job.finishes_at - now)
        self.h.control("POST", "clock", {"advance_seconds": seconds})

    @precondition(lambda self: bool(self.m.jobs))
    @rule(index=INDEX, state_index=INDEX)
    def force_job_state(self, index: int, state_index: int) -> None:
        job_id = pick(self.job_ids(), index)
        job = self.em.state.jobs[job_id]
        kind: JobKind = self.em.provider.job_kinds[job.kind]
        now = self.h.now()
        current = job.state_at(now)
        targets = list(kind.states)
        if kind.is_terminal(current) and not self.reforce_finals:
            targets = [current]  # the same end again: nothing about money changes
        target = pick(targets, state_index)
        r = self.h.send("POST", f"/_emulator/jobs/{job_id}", json={"state": target})
        if r.status_code != 200:
            # refusing to move a finished job (the ledger could not follow) is allowed
            assert self.reforce_finals and kind.is_terminal(current) and r.status_code in (400, 409), r.text
            return
        assert r.json() == {"id": job_id, "kind": job.kind, "state": target}
        note = self.m.jobs[job_id]
        note.history = [target]

    @rule()
    def snapshot_restore_snapshot(self) -> None:
        first = self.h.control("GET", "state")
        answer = self.h.control("PUT", "state", first)
        second = self.h.control("GET", "state")
        assert answer == first
        assert second == first

    @rule()
    def save_snapshot(self) -> None:
        self.saved.append((self.h.control("GET", "state"), copy.deepcopy(self.m)))
        del self.saved[:-3]

    @precondition(lambda self: bool(self.saved))
    @rule(index=INDEX)
    def rewind_to_snapshot(self, index: int) -> None:
        state, model = pick(self.saved, index)
        self.h.control("PUT", "state", state)
        assert self.h.control("GET", "state") == state
        self.m = copy.deepcopy(model)

    @rule(seconds=st.sampled_from(ADVANCES), twin=st.booleans())
    def same_requests_after_restore_same_answers(self, seconds: float, twin: bool) -> None:
        """Polls, advances the clock, polls again; restores the state from before (here, or on
        a second emulator: nothing that matters may live outside the snapshot) and does it all
        again: the same answers, the same state."""
        start = self.h.control("GET", "state")
        model = copy.deepcopy(self.m)
        if twin:
            other = self.h.twin()
            other.emulator.journal.clear()
        else:
            other = self.h
        first = self._probe(seconds)
        after_first = self.h.control("GET", "state")
        other.control("PUT", "state", start)
        assert other.control("GET", "state") == start
        self.m = model
        here = self.h
        self.h, self.em = other, other.emulator
        try:
            second = self._probe(seconds)
            after_second = other.control("GET", "state")
            bad = [e for e in other.emulator.journal.entries if e[6]] if twin else []
            assert not bad and not other.emulator.audit_failures, (bad[:3], other.emulator.audit_failures[:3])
        finally:
            self.h, self.em = here, here.emulator
        assert first == second
        assert after_first == after_second  # and the model went the same way twice

    def _probe(self, seconds: float) -> list[Any]:
        """Polls (the last few jobs: the states after both runs are compared whole), balances,
        a clock step; twice."""
        seen: list[Any] = []
        for _ in range(2):
            for job_id in self.pollable()[-3:]:
                r = self.poll(job_id, self.m.jobs[job_id].owner)
                seen.append((job_id, r.status_code, normalized(_body(r), self.drop_keys)))
                if r.status_code == 200:
                    self.observe(job_id, self.status_of(r))
            for token in self.tokens():
                seen.append((token, self.h.control("GET", f"accounts/{token}")))
            seen.extend(self.probe_requests())
            self.h.control("POST", "clock", {"advance_seconds": seconds})
        return seen

    def probe_requests(self) -> list[Any]:
        """Provider requests the replay rule makes besides polls (normalized answers)."""
        return []

    def pollable(self) -> list[str]:
        """The jobs the provider has a status query for."""
        return self.job_ids()

    @precondition(lambda self: bool(self.pollable()) and len(self.tokens()) > 1)
    @rule(index=INDEX, other=INDEX)
    def poll_job(self, index: int, other: int) -> None:
        """The owner sees its job's state as the engine holds it; any other token gets the
        provider's not-found."""
        job_id = pick(self.pollable(), index)
        owner = self.m.jobs[job_id].owner
        r = self.poll(job_id, owner)
        if not self.is_rate_limited(r):
            assert r.status_code == 200, r.text
            self.observe(job_id, self.status_of(r))
        stranger = pick([t for t in self.tokens() if t != owner], other)
        r = self.poll(job_id, stranger)
        assert self.is_not_found(r) or self.is_rate_limited(r), \
            f"{stranger} polled {owner}'s job {job_id}: {r.status_code} {r.text[:300]}"

    # -- model upkeep --------------------------------------------------------------------------------
    def created_job(self, job_id: str, owner: str) -> None:
        job = self.em.state.jobs.get(job_id)
        assert job is not None, f"no engine job behind {job_id}"
        assert job.owner == owner, f"job {job_id} belongs to {job.owner}, created by {owner}"
        self.m.jobs[job_id] = JobNote(owner, job.kind, [job.state_at(self.h.now())])

    def observe(self, job_id: str, state: Any) -> None:
        """One more state seen for a job (by a poll or in the engine): never backwards, and
        nothing after an end (a forced state restarts the history)."""
        note = self.m.jobs[job_id]
        kind: JobKind = self.em.provider.job_kinds[note.kind]
        assert state in kind.states, f"{job_id}: {state!r} is not a state of {kind.name}"
        if note.history:
            last = note.history[-1]
            if kind.is_terminal(last):
                assert state == last, f"{job_id} ended {last!r}, then showed {state!r}: {note.history}"
            else:
                assert _rank(kind, state) >= _rank(kind, last), \
                    f"{job_id} went back from {last!r} to {state!r}: {note.history}"
        if not note.history or note.history[-1] != state:
            note.history.append(state)

    # -- invariants ----------------------------------------------------------------------------------
    @invariant()
    def answers_match_the_contract_and_writes_are_audited(self) -> None:
        entries = list(self.em.journal.entries)
        bad = [e for e in entries[self.journal_seen:] if e[6]]
        self.journal_seen = len(entries)
        assert not bad, f"answers that break the contract: {bad[:3]}"
        assert not self.em.audit_failures, self.em.audit_failures[:3]

    @invariant()
    def jobs_move_forward_and_end_once(self) -> None:
        now = self.h.now()
        for job_id, note in self.m.jobs.items():
            job = self.em.state.jobs.get(job_id)
            assert job is not None, f"job {job_id} vanished"
            assert job.owner == note.owner
            state = job.state_at(now)
            kind: JobKind = self.em.provider.job_kinds[job.kind]
            # the clock only moves through the control API, which settles what ended
            assert job.settled or not kind.is_terminal(state), f"{job_id} ended {state!r}, never settled"
            self.observe(job_id, state)

    @invariant()
    def ledger_is_well_formed(self) -> None:
        """Per ref, money moves as the job's endings say: charged, then (when it fails) refunded
        at most what was charged, to the payer; a refunded job forced into success is charged
        again exactly what it got back; never two refunds in a row. (Refs that are never
        refunded, such as kitta's per-voice TTS quota charges, may repeat.)"""
        by_ref: dict[str, list[Any]] = {}
        for entry in self.em.state.ledger.values():
            assert entry.amount == sum(entry.parts.values()), entry
            assert all(v >= 0 for v in entry.parts.values()), entry
            by_ref.setdefault(entry.ref, []).append(entry)
        for ref, entries in by_ref.items():
            if not any(e.kind == "refund" for e in entries):
                continue
            kinds = [e.kind for e in entries]
            assert kinds[0] == "charge", f"refund of {ref}, never charged"
            assert all(a != b for a, b in zip(kinds, kinds[1:])), f"{ref}: {kinds} (two refunds or charges in a row)"
            for before, after in zip(entries, entries[1:]):
                assert before.token == after.token, f"{ref}: charged {before.token}, refunded {after.token}"
                if after.kind == "refund":
                    for pool, amount in after.parts.items():
                        assert amount <= before.parts.get(pool, 0), \
                            f"{ref}: refund {after.parts} > charge {before.parts}"
                else:
                    assert after.parts == before.parts, f"{ref}: charged again {after.parts}, refunded {before.parts}"
        self.check_refunds(by_ref)

    def check_refunds(self, by_ref: dict[str, list[Any]]) -> None:
        """A settled job that ended failed got its (last) charge back, once, in full; one that
        ended well has paid (its last movement is a charge)."""
        now = self.h.now()
        for job_id in self.m.jobs:
            job = self.em.state.jobs[job_id]
            kind: JobKind = self.em.provider.job_kinds[job.kind]
            state = job.state_at(now)
            entries = by_ref.get(job_id, [])
            charges = [e for e in entries if e.kind == "charge"]
            refunds = [e for e in entries if e.kind == "refund"]
            assert len(charges) - len(refunds) in (0, 1), f"job {job_id}: {len(charges)} charges, {len(refunds)} refunds"
            if not job.settled or not kind.is_terminal(state) or not charges or not charges[0].amount:
                continue
            if state in self.failure_states:
                last = entries[-1]
                charge = entries[-2] if last.kind == "refund" else last
                returned = last.parts if last.kind == "refund" else {}
                allowed = self.refunds_due(job, charge)
                assert returned in allowed, f"{job_id} ended {state!r}: charged {charge.parts}, " \
                                            f"refunded {returned}, due {allowed}"
            else:
                assert entries[-1].kind == "charge", f"{job_id} ended {state!r} but was refunded {entries[-1].parts}"

    def refunds_due(self, job: Any, charge: Any) -> list[dict[str, int]]:
        """What a failed job's refund may be (its pools and amounts): the whole charge."""
        return [dict(charge.parts)]

    @invariant()
    def credits_are_conserved(self) -> None:
        for token in self.tokens():
            if not self.m.baselines[token].pools:
                continue
            view = self.h.control("GET", f"accounts/{token}")
            pools = self.pools_of(view)
            assert all(v >= 0 for v in pools.values()), f"{token}: negative balance {pools}"
            expected = self.expected_pools(token)
            assert pools == expected, f"{token}: holds {pools}, the ledger says {expected}"

    def entries_of(self, token: str) -> list[Any]:
        baseline = self.m.baselines[token]
        entries = list(self.em.state.ledger.values())[baseline.ledger_len:]
        return [e for e in entries if e.token == token]

    def expected_pools(self, token: str) -> dict[str, int]:
        pools = dict(self.m.baselines[token].pools)
        for entry in self.entries_of(token):
            sign = -1 if entry.kind == "charge" else 1
            for pool, amount in entry.parts.items():
                pools[pool] = pools.get(pool, 0) + sign * amount
        return pools

    def teardown(self) -> None:
        self.answers_match_the_contract_and_writes_are_audited()


def _rank(kind: JobKind, state: Any) -> int:
    if kind.is_terminal(state):
        return len(kind.phases)
    return list(kind.phases).index(state)


def _body(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.content


def run_machine(machine: type[EmulatorMachine], **overrides: Any) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(MACHINE_SETTINGS, **overrides))
