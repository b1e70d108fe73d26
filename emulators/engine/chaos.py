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
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import importlib
import json
import math
import random
import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jsonschema import Draft202012Validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.engine.errors import ErrorTable, ProviderError
from emulators.engine.fast_schema import compile_schema
from emulators.engine.ratelimit import Decision, WindowRule

if TYPE_CHECKING:
    from emulators.engine.contracts import Contract, Operation, ResponseSpec
    from emulators.engine.emulator import Emulator
    from emulators.engine.http import Call
    from emulators.engine.provider import Provider

KINDS = ("error", "rate_limited", "slow", "job_queued_long", "job_fail", "page_empty", "page_last",
         "optional_absent", "max_sizes")
REPLACING = frozenset({"error", "rate_limited"})  # answered instead of the handler
ALTERING = frozenset({"page_empty", "page_last", "optional_absent", "max_sizes"})  # the handler's answer, edited
JOB_KINDS = frozenset({"job_queued_long", "job_fail"})

DEFAULT_RATE = 0.25
DEFAULT_MAX_DELAY_MS = 2000.0
MAX_DELAY_MS = 60_000.0
RETRY_AFTER_SECONDS = (1, 5)  # the range a chaotic 429 asks a client to wait (emulated seconds)
QUEUED_LONGER_SECONDS = (300, 1800)
MAX_PADDED_LENGTH = 100_000  # a documented maxLength beyond this is not worth sending
MAX_REPEATED_ITEMS = 1000
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


# -- what a provider offers to chaos (its contract, error tables and chaos data) --------------------
CHAOS_DATA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "chaos"


@dataclass(frozen=True)
class ErrorChoice:
    """One documented error an operation may answer."""

    status: int
    code: str
    build: Callable[[], ProviderError]


@dataclass(frozen=True)
class PageFields:
    items: tuple[str, ...]
    page: tuple[str, ...] | None = None
    size: tuple[str, ...] | None = None
    total: tuple[str, ...] | None = None
    pages: tuple[str, ...] | None = None
    has_next: tuple[str, ...] | None = None
    has_prev: tuple[str, ...] | None = None


@dataclass
class OperationChaos:
    """What chaos can do to one operation (computed once per provider and operation)."""

    operation: Operation
    errors: list[ErrorChoice]
    rate_limits: list[ErrorChoice]
    job: bool
    page: PageFields | None
    has_optional: bool
    has_maxima: bool

    def kinds(self, allowed: Iterable[str]) -> list[str]:
        available = {"slow"}
        if self.errors:
            available.add("error")
        if self.rate_limits:
            available.add("rate_limited")
        if self.job:
            available |= JOB_KINDS
        if self.page is not None:
            available.add("page_empty")
            if self.page.page is not None:
                available.add("page_last")
        if self.has_optional:
            available.add("optional_absent")
        if self.has_maxima:
            available.add("max_sizes")
        return [k for k in allowed if k in available]


class Catalog:
    """A provider's chaos possibilities, operation by operation."""

    def __init__(self, provider: Provider, contract: Contract) -> None:
        self.provider = provider
        self.contract = contract
        path = CHAOS_DATA_DIR / f"{provider.id}.yaml"
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
        self.rate_limit_codes = {str(c) for c in data.get("rate_limit_codes") or []}
        self.job_operations = set(data.get("jobs") or [])
        self.pages = {name: PageFields(**{k: _path(v) for k, v in spec.items()})
                      for name, spec in (data.get("pages") or {}).items()}
        self.tables = _error_tables(provider.id)
        self._cache: dict[str, OperationChaos] = {}
        self._lock = threading.Lock()

    def of(self, op: Operation) -> OperationChaos:
        found = self._cache.get(op.operation_id)
        if found is None:
            with self._lock:
                found = self._cache.get(op.operation_id) or self._build(op)
                self._cache[op.operation_id] = found
        return found

    def _build(self, op: Operation) -> OperationChaos:
        errors: list[ErrorChoice] = []
        limits: list[ErrorChoice] = []
        for choice in self._documented_errors(op):
            (limits if choice.code in self.rate_limit_codes else errors).append(choice)
        success = [spec for key, spec in op.responses.by_key.items() if key.startswith("2")]
        schemas = [m.schema.inlined for spec in success for m in spec.content.media if m.schema is not None]
        return OperationChaos(
            operation=op, errors=errors, rate_limits=limits,
            job=op.operation_id in self.job_operations,
            page=self.pages.get(op.operation_id),
            has_optional=any(_has_optional(s) for s in schemas),
            has_maxima=any(_has_maxima(s) for s in schemas))

    def _documented_errors(self, op: Operation) -> list[ErrorChoice]:
        """Every error of the provider's tables (and every example of the contract) whose body
        the operation documents for that status."""
        out: list[ErrorChoice] = []
        seen: set[tuple[int, str]] = set()
        for table in self.tables:
            for code, (status, _message) in table.table.items():
                spec = op.responses.get(status)
                if spec is None or (status, code) in seen:
                    continue
                build = _table_builder(table, code, spec)
                if build is not None:
                    seen.add((status, code))
                    out.append(ErrorChoice(status, code, build))
        for key, spec in op.responses.by_key.items():
            if not key.isdigit() or int(key) < 400:
                continue
            for body in _examples(spec, op):
                code = _code_of(body)
                if code is None or (int(key), code) in seen or not _valid_body(spec, body):
                    continue
                seen.add((int(key), code))
                out.append(ErrorChoice(int(key), code, _example_builder(int(key), body)))
        return out


@cache
def _error_tables(provider_id: str) -> tuple[ErrorTable, ...]:
    module = importlib.import_module(f"emulators.providers.{provider_id}.exceptions")
    return tuple(v for v in vars(module).values() if isinstance(v, ErrorTable))


def _json_media(spec: ResponseSpec) -> Any:
    return next((m for m in spec.content.media if m.schema is not None and "json" in m.name), None)


def _valid_body(spec: ResponseSpec, body: Any) -> bool:
    media = _json_media(spec)
    return media is not None and not media.schema.problems(body, "response")


def _table_builder(table: ErrorTable, code: str, spec: ResponseSpec) -> Callable[[], ProviderError] | None:
    """Builds the table's error for `code`, completed with the constants the documented body
    requires (kie's upload errors carry `"success": false`); None when it is not documented."""
    media = _json_media(spec)
    if media is None:
        return None
    sample = table(code).body
    extra = _required_constants(media.schema.inlined, sample)
    if media.schema.problems({**sample, **extra} if isinstance(sample, dict) else sample, "response"):
        return None

    def build() -> ProviderError:
        err = table(code)
        if extra and isinstance(err.body, dict):
            err.body = {**extra, **err.body}
        return err

    return build


def _required_constants(schema: Any, body: Any) -> dict[str, Any]:
    if not isinstance(schema, dict) or not isinstance(body, dict):
        return {}
    out: dict[str, Any] = {}
    for node in _nodes(schema):
        props = node.get("properties") or {}
        for name in node.get("required") or []:
            sub = props.get(name)
            if name not in body and isinstance(sub, dict) and "const" in sub:
                out[name] = sub["const"]
    return out


def _examples(spec: ResponseSpec, op: Operation) -> list[Any]:
    """The example bodies the contract gives for a documented response."""
    from emulators.engine.contracts import deref

    raw = deref(op.spec.get("responses", {}).get(spec.key) or op.spec.get("responses", {}).get(int(spec.key)),
                op.document) if spec.key.isdigit() else None
    out: list[Any] = []
    for media in ((raw or {}).get("content") or {}).values():
        if not isinstance(media, dict):
            continue
        if "example" in media:
            out.append(media["example"])
        for example in (media.get("examples") or {}).values():
            example = deref(example, op.document)
            if isinstance(example, dict) and "value" in example:
                out.append(example["value"])
    return out


def _code_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    if code is None and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
    return None if code is None else str(code)


def _example_builder(status: int, body: Any) -> Callable[[], ProviderError]:
    return lambda: ProviderError(status, copy.deepcopy(body))


@cache
def catalog_for(provider: Provider) -> Catalog:
    from emulators.engine.contracts import contract_for

    return Catalog(provider, contract_for(provider.contract_path))


# -- schema walking -----------------------------------------------------------------------------------
def _path(text: str) -> tuple[str, ...]:
    """`$.data.pageIndex` -> ("data", "pageIndex")."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"not a path: {text!r}")
    return tuple(p for p in text[1:].split(".") if p)


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """`schema` and every allOf/oneOf/anyOf member in it (statically: all branches)."""
    out: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.append(node)
            for key in ("allOf", "oneOf", "anyOf"):
                stack.extend(node.get(key) or [])
    return out


def _walk(schema: Any, seen: set[int] | None = None) -> Iterable[dict[str, Any]]:
    """Every schema node reachable from `schema` (properties, items, applicators)."""
    seen = seen if seen is not None else set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        for key in ("allOf", "oneOf", "anyOf", "prefixItems"):
            stack.extend(node.get(key) or [])
        for key in ("properties", "patternProperties"):
            stack.extend((node.get(key) or {}).values())
        for key in ("items", "additionalProperties"):
            stack.append(node.get(key))


def _has_optional(schema: Any) -> bool:
    return any(set(node.get("properties") or {}) - set(node.get("required") or []) for node in _walk(schema))


def _paddable(node: dict[str, Any]) -> bool:
    return not any(k in node for k in ("enum", "const", "pattern", "format"))


def _has_maxima(schema: Any) -> bool:
    return any(("maxLength" in n and _paddable(n)) or ("maxItems" in n and not n.get("uniqueItems"))
               for n in _walk(schema))


_validators: dict[int, tuple[Any, Callable[[Any], bool]]] = {}


def _valid(schema: Any, value: Any) -> bool:
    entry = _validators.get(id(schema))
    if entry is None or entry[0] is not schema:
        check = compile_schema(schema) or Draft202012Validator(schema).is_valid
        entry = _validators[id(schema)] = (schema, check)
    return entry[1](value)


def _applicable(schemas: Iterable[Any], value: Any) -> list[dict[str, Any]]:
    """The schema nodes that apply to `value`: allOf members, and the oneOf/anyOf branches it matches."""
    out: list[dict[str, Any]] = []
    stack = list(schemas)
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        out.append(node)
        stack.extend(node.get("allOf") or [])
        for key in ("oneOf", "anyOf"):
            stack.extend(b for b in node.get(key) or [] if _valid(b, value))
    return out


def _children(nodes: list[dict[str, Any]], key: str) -> list[Any]:
    out = []
    for node in nodes:
        props = node.get("properties") or {}
        if key in props:
            out.append(props[key])
        elif isinstance(node.get("additionalProperties"), dict):
            out.append(node["additionalProperties"])
    return out


def _item_schemas(nodes: list[dict[str, Any]], index: int) -> list[Any]:
    out = []
    for node in nodes:
        prefix = node.get("prefixItems") or []
        if index < len(prefix):
            out.append(prefix[index])
        elif isinstance(node.get("items"), dict):
            out.append(node["items"])
    return out


Path_ = tuple[str | int, ...]


def optional_paths(value: Any, schemas: list[Any], at: Path_ = ()) -> list[Path_]:
    """Paths of the fields present in `value` that no applicable schema requires."""
    nodes = _applicable(schemas, value)
    out: list[Path_] = []
    if isinstance(value, dict):
        required = {name for n in nodes for name in n.get("required") or []}
        for key, sub in value.items():
            if key not in required:
                out.append((*at, key))
            out.extend(optional_paths(sub, _children(nodes, key), (*at, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(optional_paths(item, _item_schemas(nodes, i), (*at, i)))
    return out


def maxima(value: Any, schemas: list[Any], at: Path_ = ()) -> list[tuple[Path_, str, int]]:
    """(path, "string" | "array", documented maximum) of what is below its maximum."""
    nodes = _applicable(schemas, value)
    out: list[tuple[Path_, str, int]] = []
    if isinstance(value, str):
        limits = [n["maxLength"] for n in nodes if "maxLength" in n]
        if limits and all(_paddable(n) for n in nodes) and len(value) < min(limits) <= MAX_PADDED_LENGTH:
            out.append((at, "string", min(limits)))
    elif isinstance(value, list):
        limits = [n["maxItems"] for n in nodes if "maxItems" in n]
        unique = any(n.get("uniqueItems") for n in nodes)
        if limits and value and not unique and len(value) < min(limits) <= MAX_REPEATED_ITEMS:
            out.append((at, "array", min(limits)))
        for i, item in enumerate(value):
            out.extend(maxima(item, _item_schemas(nodes, i), (*at, i)))
    elif isinstance(value, dict):
        for key, sub in value.items():
            out.extend(maxima(sub, _children(nodes, key), (*at, key)))
    return out


def _get(value: Any, path: Iterable[str | int]) -> Any:
    for part in path:
        if isinstance(value, dict) and isinstance(part, str) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return _MISSING
    return value


def _set(value: Any, path: tuple[str | int, ...], new: Any) -> None:
    parent = _get(value, path[:-1])
    if isinstance(parent, (dict, list)):
        parent[path[-1]] = new  # type: ignore[index]


def _delete(value: Any, path: Path_) -> None:
    parent = _get(value, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


_MISSING = object()


def shown(path: Path_) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


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
    notes: list[str] = field(default_factory=list)


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
                if refusing.used and err.headers.get("Retry-After"):
                    return err
            finally:
                em.limiter = real
        call.extra_headers.clear()
        choice = plan.options.rate_limits[plan.rng.randrange(len(plan.options.rate_limits))]
        err = choice.build()
        err.headers = {**err.headers, "Retry-After": str(max(1, math.ceil(plan.seconds)))}
        return err

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
        media = _json_media(spec) if spec is not None else None
        if media is None:
            return None
        schema = media.schema.inlined
        new = copy.deepcopy(data)
        if plan.kind in ("page_empty", "page_last"):
            effect = _paginate(new, plan.options.page, empty=plan.kind == "page_empty")
        elif plan.kind == "optional_absent":
            effect = _drop_optional(new, schema, plan.rng, media.schema)
        else:
            effect = _fill_maxima(new, schema, plan.rng)
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


def _paginate(data: Any, fields: PageFields | None, *, empty: bool) -> str | None:
    if fields is None:
        return None
    items = _get(data, fields.items)
    if not isinstance(items, list):
        return None
    page = _get(data, fields.page) if fields.page else _MISSING
    size = _get(data, fields.size) if fields.size else _MISSING
    numbered = isinstance(page, int) and not isinstance(page, bool) and page >= 1
    if empty:
        _set(data, fields.items, [])
        kept = 0
    else:
        if not numbered:
            return None
        kept = len(items)
    if numbered and isinstance(size, int) and not isinstance(size, bool) and size > 0:
        before = (page - 1) * size  # the items of the pages before this one, which stay
        last_page = page if kept else page - 1
        for path, value in ((fields.total, before + kept), (fields.pages, last_page),
                            (fields.has_next, False), (fields.has_prev, page > 1)):
            if path and _get(data, path) is not _MISSING:
                _set(data, path, value)
    elif empty:
        for path, value in ((fields.total, 0), (fields.pages, 0), (fields.has_next, False)):
            if path and _get(data, path) is not _MISSING:
                _set(data, path, value)
    return "page_empty" if empty else "page_last"


def _drop_optional(data: Any, schema: Any, rng: random.Random, check: Any) -> str | None:
    """Leaves out a random non-empty set of the fields no schema requires (each removal kept
    only while the whole still validates)."""
    paths = optional_paths(data, [schema])
    if not paths:
        return None
    chosen = rng.sample(paths, rng.randint(1, len(paths)))
    chosen.sort(key=len)
    dropped: list[Path_] = []
    for path in chosen:
        if any(path[:len(d)] == d for d in dropped):
            continue  # inside something already left out
        trial = copy.deepcopy(data)
        _delete(trial, path)
        if not check.problems(trial, "response"):
            _delete(data, path)
            dropped.append(path)
    if not dropped:
        return None
    return "optional_absent:" + ",".join(shown(p) for p in dropped)


def _fill_maxima(data: Any, schema: Any, rng: random.Random) -> str | None:
    found = maxima(data, [schema])
    if not found:
        return None
    for path, kind, limit in found:
        value = _get(data, path)
        if kind == "string":
            new: Any = value + "x" * (limit - len(value))
        else:
            new = [copy.deepcopy(value[i % len(value)]) for i in range(limit)]
        if path:
            _set(data, path, new)
    return "max_sizes:" + ",".join(shown(p) for p, _, _ in found)


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
