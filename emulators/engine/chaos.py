"""Chaos mode: answers that stay valid by the contract but are drawn from its edges.

Turned on per emulator (`emulators serve --chaos SEED`, `PUT /_emulator/chaos`, the pytest
plugin's `chaos=` option), optionally for some tokens only. For each request to an operation of
the contract, chaos decides once, before anything else runs, whether to meddle and how:

- `error`: one of the operation's documented errors (the provider's own body from its error
  table, or an example of the contract), instead of the handler;
- `rate_limited`: the provider's own rate-limit refusal with a true `Retry-After` of 1-5 s on
  the emulated clock: until then every request of that token is refused the same way, and the
  first request after it is let through untouched;
- `slow`: the normal answer after a real delay of up to `max_delay_ms`;
- `job_queued_long` / `job_fail`: the job the request creates stays in its first phase
  5-30 minutes (emulated) longer, or ends in the provider's failure state (refunded as usual);
- `page_empty` / `page_last`: a list operation's page answered as empty, or as the last one,
  with the pagination fields made to agree;
- `optional_absent`: fields the contract does not require left out of the answer;
- `max_sizes`: strings and arrays of the answer at their documented maximum.

The choice depends only on the seed, the request's number among the chaos-eligible requests
of its token (counted from when chaos was set, or the last reset) and the operation: the same
requests give the same answers. Answers that replace the provider's are decided before its
handler runs, so its state does not change (and the real limiter does not count them); an
altered answer is checked against the contract before it is sent (when it would not pass, the
provider's own answer goes out). Each answer chaos made is marked in its journal entry
(`"chaos": "<what was chosen>"`).

Chaos settings are emulator-wide switches, like fault rules: not part of the state snapshot.
A reset keeps them and starts the sequence (and every cooldown) afresh.

This module decides and applies; chaos_catalog.py knows what each operation documents,
chaos_edits.py edits answers at the contract's edges.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import random
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.engine.chaos_catalog import JOB_KINDS, Catalog, ErrorChoice, OperationChaos, catalog_for, json_media
from emulators.engine.chaos_edits import drop_optional, fill_maxima, paginate
from emulators.engine.errors import ProviderError
from emulators.engine.ratelimit import Decision, WindowRule

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator
    from emulators.engine.http import Call

KINDS = ("error", "rate_limited", "slow", "job_queued_long", "job_fail", "page_empty", "page_last",
         "optional_absent", "max_sizes")
REPLACING = frozenset({"error", "rate_limited"})  # answered instead of the handler
ALTERING = frozenset({"page_empty", "page_last", "optional_absent", "max_sizes"})  # the handler's answer, edited

DEFAULT_RATE = 0.25
DEFAULT_MAX_DELAY_MS = 2000.0
MAX_DELAY_MS = 60_000.0
RETRY_AFTER_SECONDS = (1, 5)  # the range a chaotic 429 asks a client to wait (emulated seconds)
QUEUED_LONGER_SECONDS = (300, 1800)
SCOPE_PLAN = "emulator.chaos_plan"  # the request's plan, for the gateway hook
_current: ContextVar[Plan | None] = ContextVar("emulators_chaos_plan", default=None)


# -- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    seed: int
    rate: float = DEFAULT_RATE
    tokens: tuple[str, ...] | None = None  # None: every token
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS
    kinds: tuple[str, ...] = KINDS

    def as_json(self) -> dict[str, Any]:
        return {"enabled": True, "seed": self.seed, "rate": self.rate,
                "tokens": list(self.tokens) if self.tokens is not None else None,
                "max_delay_ms": self.max_delay_ms, "kinds": list(self.kinds)}


_FIELDS = {"seed", "rate", "tokens", "max_delay_ms", "kinds"}


def parse_settings(data: Any) -> Settings:
    """Settings from the control API's JSON (or the CLI, the plugin); ValueError with a reason."""
    if isinstance(data, bool) or isinstance(data, int):
        data = {"seed": data}
    if not isinstance(data, dict):
        raise ValueError('chaos settings are {"seed": int, "rate"?: 0..1, "tokens"?: [...], '
                         '"max_delay_ms"?: number, "kinds"?: [...]}')
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**64:
        raise ValueError("seed must be an integer")
    rate = data.get("rate", DEFAULT_RATE)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError("rate must be a number from 0 to 1")
    tokens = data.get("tokens")
    if tokens is not None:
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("tokens must be a list of tokens")
        if len(tokens) > 1000:
            raise ValueError("at most 1000 tokens")
        tokens = tuple(dict.fromkeys(tokens))
    delay = data.get("max_delay_ms", DEFAULT_MAX_DELAY_MS)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY_MS:
        raise ValueError(f"max_delay_ms must be a number from 0 to {MAX_DELAY_MS:g}")
    kinds = data.get("kinds", list(KINDS))
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise ValueError(f"kinds must be a non-empty list of {', '.join(KINDS)}")
    wrong = [k for k in kinds if k not in KINDS]
    if wrong:
        raise ValueError(f"unknown kinds {wrong}; known: {', '.join(KINDS)}")
    return Settings(seed=seed, rate=float(rate), tokens=tokens, max_delay_ms=float(delay),
                    kinds=tuple(k for k in KINDS if k in kinds))


# -- the decision ------------------------------------------------------------------------------------
def _rng(seed: int, seq: int, operation_id: str) -> random.Random:
    """The request's own random source: a function of (seed, its number, its operation) only."""
    digest = hashlib.blake2b(f"{seed}\x00{seq}\x00{operation_id}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


@dataclass
class Plan:
    """What chaos chose for one request; `effect` is set once it happened (the journal's mark)."""

    kind: str
    token_key: str
    options: OperationChaos
    rng: random.Random
    seconds: float = 0.0  # rate_limited: how long to refuse; slow: the delay
    cooldown: bool = False  # a refusal inside an earlier chaotic 429's Retry-After
    error: ErrorChoice | None = None
    effect: str | None = None


class Chaos:
    """One emulator's chaos mode: its settings and, per token, the request count and cooldown."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.settings: Settings | None = None
        self._counts: dict[str, int] = {}
        self._cooldowns: dict[str, float] = {}  # token -> emulated time its chaotic 429 ends
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = catalog_for(self.emulator.provider)
        return self._catalog

    def configure(self, settings: Settings | None) -> None:
        """New settings (None: off); the sequence starts again either way."""
        with self._lock:
            self.settings = settings
            self._counts.clear()
            self._cooldowns.clear()

    def restart(self) -> None:
        """The emulator was reset: same settings, the sequence and cooldowns start afresh."""
        with self._lock:
            self._counts.clear()
            self._cooldowns.clear()

    def as_json(self) -> dict[str, Any]:
        settings = self.settings
        return settings.as_json() if settings is not None else {"enabled": False}

    # -- 1. the chaos layer asks, before anything else runs ----------------------------------------
    def plan(self, scope: Scope) -> Plan | None:
        settings = self.settings
        if settings is None:
            return None
        em = self.emulator
        op = self.catalog.contract.operation(scope["method"], scope["path"])
        if op is None or op.emulator_only:
            return None
        token = em.token_of(scope)
        if settings.tokens is not None and token not in settings.tokens:
            return None
        key = token or ""
        now = em.clock.now()
        options = self.catalog.of(op)
        with self._lock:
            seq = self._counts.get(key, 0)
            self._counts[key] = seq + 1
            until = self._cooldowns.get(key)
            if until is not None:
                if now < until and options.rate_limits:
                    return Plan("rate_limited", key, options, _rng(settings.seed, seq, op.operation_id),
                                seconds=until - now, cooldown=True)
                if now >= until:  # the client waited as told: this request passes untouched
                    del self._cooldowns[key]
                    return None
        rng = _rng(settings.seed, seq, op.operation_id)
        if rng.random() >= settings.rate:
            return None
        kinds = options.kinds(settings.kinds)
        if not kinds:
            return None
        plan = Plan(kinds[rng.randrange(len(kinds))], key, options, rng)
        if plan.kind == "error":
            plan.error = options.errors[rng.randrange(len(options.errors))]
        elif plan.kind == "rate_limited":
            plan.seconds = rng.randint(*RETRY_AFTER_SECONDS)
        elif plan.kind == "slow":
            plan.seconds = settings.max_delay_ms / 1000 * rng.uniform(0.25, 1.0)
        return plan

    # -- 2. the gateway, once the caller is known and before admission and the handler --------------
    def before_handler(self, call: Call) -> None:
        """Raises the planned documented error, if the plan is one."""
        plan: Plan | None = call.request.scope.get(SCOPE_PLAN)
        if plan is None or plan.kind not in REPLACING:
            return
        if plan.kind == "error":
            assert plan.error is not None
            plan.effect = f"error:{plan.error.status}:{plan.error.code}"
            raise plan.error.build()
        err = self._rate_limited(call, plan)
        wait = math.ceil(plan.seconds)
        if not plan.cooldown:
            with self._lock:
                self._cooldowns[plan.token_key] = call.now + plan.seconds
        plan.effect = f"rate_limited:{wait}s" + (" (cooldown)" if plan.cooldown else "")
        raise err

    def _rate_limited(self, call: Call, plan: Plan) -> ProviderError:
        """The provider's own rate-limit refusal, made by its admission code against a limiter
        that refuses for `plan.seconds` (nothing is counted); when the provider does not limit
        this operation, its rate-limit error with that `Retry-After`."""
        em = self.emulator
        refusing = _RefusingLimiter(em.limiter, call.now, plan.seconds)
        with em.lock:
            real = em.limiter
            em.limiter = refusing  # type: ignore[assignment]
            try:
                em.provider.admit(call)
            except ProviderError as err:
                if refusing.used:  # its Retry-After is in the error or in call.extra_headers
                    return err
            finally:
                em.limiter = real
        call.extra_headers.clear()
        choice = plan.options.rate_limits[plan.rng.randrange(len(plan.options.rate_limits))]
        fallback = choice.build()
        fallback.headers = {**fallback.headers, "Retry-After": str(max(1, math.ceil(plan.seconds)))}
        return fallback

    # -- 3. the engine's job creation --------------------------------------------------------------
    def job_terms(self, durations: list[float], fail: bool) -> tuple[list[float], bool]:
        """The phase durations and fail flag of a job being created (chaos may change them)."""
        plan = _current.get()
        if plan is None or plan.kind not in JOB_KINDS or plan.effect is not None:
            return durations, fail
        if plan.kind == "job_fail":
            if fail:
                return durations, fail
            plan.effect = "job_fail"
            return durations, True
        extra = plan.rng.randint(*QUEUED_LONGER_SECONDS)
        if not durations:
            return durations, fail
        plan.effect = f"job_queued_long:+{extra}s"
        return [durations[0] + extra, *durations[1:]], fail

    # -- 4. the chaos layer, on the handler's answer --------------------------------------------------
    def alter(self, plan: Plan, status: int, headers: dict[str, str], body: bytes) -> bytes | None:
        """The edited answer (checked against the contract), or None to send it as it is."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        op = plan.options.operation
        spec = op.responses.get(status)
        media = json_media(spec) if spec is not None else None
        if media is None:
            return None
        schema = media.schema.inlined
        new = copy.deepcopy(data)
        if plan.kind in ("page_empty", "page_last"):
            effect = paginate(new, plan.options.page, empty=plan.kind == "page_empty")
        elif plan.kind == "optional_absent":
            effect = drop_optional(new, schema, plan.rng, media.schema)
        else:
            effect = fill_maxima(new, schema, plan.rng)
        if effect is None:
            return None
        out = json.dumps(new, ensure_ascii=False, separators=(",", ":")).encode()
        if op.check_response(status, headers, out):
            return None
        plan.effect = effect
        return out


class _RefusingLimiter:
    """Stands in for the emulator's limiter while chaos asks the provider for its refusal:
    every `hit` is refused for `seconds`; nothing is counted."""

    def __init__(self, real: Any, now: float, seconds: float) -> None:
        self.real = real
        self.now = now
        self.seconds = seconds
        self.used = False

    def hit(self, subject: str, rule: WindowRule, now: float) -> Decision:
        self.used = True
        return Decision(False, rule.limit, 0, now + self.seconds, self.seconds)

    def peek(self, subject: str, rule: WindowRule, now: float) -> Decision:
        return self.real.peek(subject, rule, now)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# -- the ASGI layer ------------------------------------------------------------------------------------
class ChaosLayer:
    """Decides each request's chaos, applies delays, edits answers and marks the journal entry.
    Sits inside the contract check, so every chaotic answer is checked like any other."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.chaos: Chaos = emulator.chaos

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chaos = self.chaos
        if chaos.settings is None:
            await self.app(scope, receive, send)
            return
        plan = chaos.plan(scope)
        if plan is None:
            await self.app(scope, receive, send)
            return
        scope[SCOPE_PLAN] = plan
        reset = _current.set(plan)
        try:
            if plan.kind == "slow":
                await asyncio.sleep(plan.seconds)
                plan.effect = f"slow:{round(plan.seconds * 1000)}ms"
            if plan.kind in ALTERING:
                await self.app(scope, receive, _Editor(chaos, plan, send).send)
            else:
                await self.app(scope, receive, send)
        finally:
            _current.reset(reset)
            if plan.effect is not None:
                scope["emulator.chaos"] = plan.effect


class _Editor:
    """Holds back a 2xx JSON answer until it is complete, then sends it edited (or as it was)."""

    def __init__(self, chaos: Chaos, plan: Plan, send: Send) -> None:
        self.chaos = chaos
        self.plan = plan
        self.downstream = send
        self.start: Message | None = None
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.holding = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])}
            ctype = headers.get("content-type", "")
            self.holding = 200 <= message["status"] < 300 and "json" in ctype and "content-encoding" not in headers
            if self.holding:
                self.start = message
                self.headers = headers
                return
        elif message["type"] == "http.response.body" and self.holding:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            assert self.start is not None
            body = b"".join(self.chunks)
            edited = self.chaos.alter(self.plan, self.start["status"], self.headers, body)
            start = self.start
            if edited is not None:
                body = edited
                raw = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                start = {**start, "headers": [*raw, (b"content-length", str(len(body)).encode())]}
            await self.downstream(start)
            await self.downstream({"type": "http.response.body", "body": body})
            return
        await self.downstream(message)
