"""kai: state and business rules (no HTTP here).

An account is one API token with its product's limits flattened into it (the fields are named
as GET /api/v1/usage names them). Usage counters belong to a billing period ("YYYY-MM" on the
emulated clock) and start again at zero when the period changes. Only POST endpoints are
counted and capped; a request counts once it has passed every gate (token state, permission,
rate limit, concurrency, cap); it is "ok" when it answered 2xx, else an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from emulators.engine.clock import start_of_next_month, iso, parse_iso
from emulators.engine import values
from emulators.engine import fixtures as fixture_file
from emulators.engine.store import StateRoot
from emulators.engine.provider import Backend
from emulators.engine.ids import hex_id

UNKNOWN_WAIT = 1.0  # s: the guessed rest of an in-flight POST whose processing has not started
MIN_WAIT = 0.05  # s: never invite an immediate retry
ENDPOINTS = ("chat_completions", "audio_transcriptions", "documents_anonymize",
             "documents_strip_metadata")


@dataclass(slots=True)
class Account:
    token: str
    product: str
    product_label: str
    usage_label: str
    models: list[str]
    rate_limit_per_minute: int
    max_concurrent_requests: int
    monthly_usage_cap: int | None
    max_file_size: int
    enabled_endpoints: list[str]
    addons: list[str] = field(default_factory=list)
    enabled_features: list[str] = field(default_factory=list)
    active: bool = True  # False: 403 token_inactive
    expires_at: float | None = None  # past: 403 token_expired
    subscription_active: bool = True  # False: 403 subscription_inactive
    is_free: bool = False
    is_trial: bool = False
    trial_ends_at: float | None = None  # past: the trial is over (403 subscription_inactive)
    trial_usage_limit: int | None = None
    trial_used: int = 0  # successful requests during the trial (never reset)
    processing_seconds: float | None = None  # emulator-only: overrides every POST's processing time
    period: str = ""
    total_requests: int = 0
    total_ok: int = 0
    total_errors: int = 0
    total_tokens_in: int = 0
    total_tokens_out: int = 0


@dataclass(slots=True)
class Model:
    id: str
    kind: str  # "chat" | "audio"
    created: int
    owned_by: str


@dataclass(slots=True)
class Script:
    """A scripted chat reply: `match` against the last user message (casefolded, trimmed)."""
    match: str
    reply: str
    mode: str = "exact"  # "exact" | "contains"


@dataclass(slots=True)
class Sample:
    """Audio the emulator can recognise: emulators.media.audio.synthesize(text, fmt)."""
    text: str
    language: str


@dataclass(slots=True)
class Catalog:
    models: list[Model]
    scripts: list[Script]
    samples: list[Sample]
    filler: list[str]  # sentences for transcripts of unknown audio
    pii: dict[str, list[str]]  # word lists: names, companies, medical, ...
    timings: dict[str, float]


@dataclass
class KaiState(StateRoot):
    catalog: Catalog
    accounts: dict[str, Account] = field(default_factory=dict)


_period: list[Any] = [0.0, 0.0, ""]  # [start, end, "YYYY-MM"] of the month last asked about


def period_of(ts: float) -> str:
    """The billing period ("2026-12") of a time: asked on every request, so the month's bounds
    are remembered and the calendar consulted only when a time falls outside them."""
    start, end, text = _period
    if start <= ts < end:
        return text  # type: ignore[no-any-return]
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    first = datetime(moment.year, moment.month, 1, tzinfo=timezone.utc)
    text = moment.strftime("%Y-%m")
    _period[:] = [first.timestamp(), start_of_next_month(ts), text]
    return text


def _days_or_iso(value: Any, now: float) -> float | None:
    """Fixture times: an ISO 8601 string, or a number of days from seeding time."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return now + float(value) * 86400
    return parse_iso(str(value))


_INT_FIELDS = ("rate_limit_per_minute", "max_concurrent_requests", "max_file_size", "trial_used",
               "total_requests", "total_ok", "total_errors", "total_tokens_in", "total_tokens_out")
_OPT_INT_FIELDS = ("monthly_usage_cap", "trial_usage_limit")
_BOOL_FIELDS = ("active", "subscription_active", "is_free", "is_trial")
_STR_FIELDS = ("product", "product_label", "usage_label")
_LIST_FIELDS = ("models", "addons", "enabled_features", "enabled_endpoints")
_TIME_FIELDS = ("expires_at", "trial_ends_at")
ACCOUNT_FIELDS = (*_INT_FIELDS, *_OPT_INT_FIELDS, *_BOOL_FIELDS, *_STR_FIELDS, *_LIST_FIELDS,
                  *_TIME_FIELDS, "processing_seconds")


class KaiBackend(Backend):
    State = KaiState
    state: KaiState

    def __init__(self, emulator: Any, state: KaiState) -> None:
        super().__init__(emulator, state)
        self.pending: dict[str, int] = {}  # admitted POSTs in flight per token (cap reservations)
        self.ends: dict[str, list[float]] = {}  # when each in-flight POST in its processing time ends
        self._models = {m.id: m for m in state.catalog.models}
        self._model_lists: dict[tuple[str, ...], bytes] = {}

    # -- seeding ---------------------------------------------------------------------------------
    @classmethod
    def seed(cls, emulator: Any, fixtures: Path) -> KaiBackend:
        def load(name: str) -> Any:
            return fixture_file.load(fixtures / name)

        models = [Model(**m) for m in load("models.yaml")["models"]]
        chat = load("chat.yaml")
        audio = load("transcripts.yaml")
        settings = load("settings.yaml")
        catalog = Catalog(models=models, scripts=[Script(**s) for s in chat["scripts"]],
                          samples=[Sample(**s) for s in audio["samples"]], filler=list(audio["filler"]),
                          pii={k: list(v) for k, v in load("pii.yaml").items()},
                          timings=dict(settings["timings"]))
        backend = cls(emulator, KaiState(catalog=catalog))
        products = load("products.yaml")["products"]
        now = emulator.clock.now()
        for token, spec in load("accounts.yaml")["accounts"].items():
            spec = dict(spec)
            product = spec.pop("product")
            fields = {"product": product, **products[product], **spec}
            for name in _TIME_FIELDS:
                if name in fields:
                    at = _days_or_iso(fields[name], now)
                    fields[name] = iso(at) if at is not None else None
            backend.put_account(token, fields)
        return backend

    # -- catalog -----------------------------------------------------------------------------------
    def model(self, model_id: str) -> Model | None:
        return self._models.get(model_id)

    def model_list_json(self, account: Account) -> bytes:
        """GET /models for this account, rendered once per distinct list of models (the catalog
        never changes while the emulator runs; the account's list rarely does)."""
        key = tuple(account.models)
        body = self._model_lists.get(key)
        if body is None:
            data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
                    for m in self.models_of(account)]
            body = json.dumps({"object": "list", "data": data}, ensure_ascii=False, separators=(",", ":")).encode()
            self._model_lists[key] = body
        return body

    def models_of(self, account: Account, kind: str | None = None) -> list[Model]:
        found = [self._models[m] for m in account.models if m in self._models]
        return [m for m in found if kind is None or m.kind == kind]

    # -- accounts ----------------------------------------------------------------------------------
    def account(self, token: str, now: float) -> Account | None:
        account = self.state.accounts.get(token)
        if account is not None:
            self._roll(account, now)
        return account

    def _roll(self, account: Account, now: float) -> None:
        """A new billing period starts every counter at zero."""
        period = period_of(now)
        if account.period != period:
            self.state.accounts.touch(account.token)
            account.period = period
            account.total_requests = account.total_ok = account.total_errors = 0
            account.total_tokens_in = account.total_tokens_out = 0

    def in_trial(self, account: Account, now: float) -> bool:
        return account.is_trial and (account.trial_ends_at is None or now < account.trial_ends_at)

    def refusal(self, account: Account, now: float) -> tuple[str, str] | None:
        """Why the token cannot be used right now: (error code, message), or None."""
        if not account.active:
            return "token_inactive", "This API token has been deactivated."
        if account.expires_at is not None and now >= account.expires_at:
            return "token_expired", f"This API token expired at {iso(account.expires_at)}."
        if account.is_trial and account.trial_ends_at is not None and now >= account.trial_ends_at:
            return "subscription_inactive", f"The trial period ended at {iso(account.trial_ends_at)}."
        if not account.subscription_active:
            return "subscription_inactive", "The subscription for this product is not active."
        return None

    def usage_remaining(self, account: Account) -> int | None:
        if account.monthly_usage_cap is None:
            return None
        return max(0, account.monthly_usage_cap - account.total_ok)

    def trial_remaining(self, account: Account, now: float) -> int | None:
        if not self.in_trial(account, now) or account.trial_usage_limit is None:
            return None
        return max(0, account.trial_usage_limit - account.trial_used)

    def cap_refusal(self, account: Account, now: float) -> str | None:
        """The message of a usage_cap_exceeded, counting requests already in flight."""
        pending = self.pending.get(account.token, 0)
        trial = self.trial_remaining(account, now)
        if trial is not None and trial - pending <= 0:
            return f"Trial usage limit of {account.trial_usage_limit} requests reached."
        monthly = self.usage_remaining(account)
        if monthly is not None and monthly - pending <= 0:
            return (f"Monthly usage cap of {account.monthly_usage_cap} requests reached for "
                    f"{account.period}; it resets at the start of next month.")
        return None

    def begin(self, account: Account) -> None:
        self.pending[account.token] = self.pending.get(account.token, 0) + 1

    def release(self, account: Account, ends_at: float | None = None) -> None:
        """An admitted POST is over (answered or abandoned): frees its cap reservation and
        forgets its end time (`ends_at`, when it had reached its processing time)."""
        left = self.pending.get(account.token, 0) - 1
        if left > 0:
            self.pending[account.token] = left
        else:
            self.pending.pop(account.token, None)
        ends = self.ends.get(account.token, [])
        if ends_at in ends:
            ends.remove(ends_at)
        if not ends or left <= 0:
            self.ends.pop(account.token, None)

    def end(self, account: Account, now: float, ok: bool, tokens_in: int = 0, tokens_out: int = 0) -> None:
        """Counts one answered POST."""
        self._roll(account, now)
        self.state.accounts.touch(account.token)
        account.total_requests += 1
        if ok:
            account.total_ok += 1
            account.total_tokens_in += tokens_in
            account.total_tokens_out += tokens_out
            if self.in_trial(account, now):
                account.trial_used += 1
        else:
            account.total_errors += 1

    def busy(self, account: Account, until: float) -> None:
        """Notes when an in-flight POST will be done (the Retry-After of a concurrency 429)."""
        self.ends.setdefault(account.token, []).append(until)

    def slot_wait(self, account: Account, now: float) -> float:
        """Seconds until one of the token's busy slots frees: the earliest end of its in-flight
        POSTs. A POST still reading or decoding its input has no end yet; it counts as
        UNKNOWN_WAIT, so a client comes back soon rather than too late."""
        waits = [end - now for end in self.ends.get(account.token, [])]
        if len(waits) < self.pending.get(account.token, 0) or not waits:
            waits.append(UNKNOWN_WAIT)
        return max(min(waits), MIN_WAIT)

    def processing_seconds(self, account: Account, name: str, units: float = 0.0) -> float:
        """Emulated processing time of one POST: base + per unit (tokens, audio seconds)."""
        if account.processing_seconds is not None:
            return account.processing_seconds
        timings = self.state.catalog.timings
        total = timings.get(f"{name}_seconds", 0.0) + timings.get(f"{name}_per_unit", 0.0) * units
        return min(total, timings.get("max_seconds", 5.0))

    def usage_json(self, account: Account, now: float) -> dict[str, Any]:
        self._roll(account, now)
        trial = self.in_trial(account, now)
        return {
            "status": "inactive" if self.refusal(account, now) else "active",
            "is_free": account.is_free,
            "is_trial": trial,
            "trial_ends_at": iso(account.trial_ends_at) if trial and account.trial_ends_at else None,
            "period": account.period,
            "product": account.product,
            "product_label": account.product_label,
            "usage_label": account.usage_label,
            "total_requests": account.total_requests,
            "total_ok": account.total_ok,
            "total_errors": account.total_errors,
            "total_tokens_in": account.total_tokens_in,
            "total_tokens_out": account.total_tokens_out,
            "rate_limit_per_minute": account.rate_limit_per_minute,
            "max_concurrent_requests": account.max_concurrent_requests,
            "monthly_usage_cap": account.monthly_usage_cap,
            "usage_remaining": self.usage_remaining(account),
            "trial_usage_limit": account.trial_usage_limit if trial else None,
            "trial_usage_remaining": self.trial_remaining(account, now),
            "max_file_size": account.max_file_size,
            "addons": list(account.addons),
            "enabled_features": list(account.enabled_features),
            "enabled_endpoints": list(account.enabled_endpoints),
        }

    def settings_view(self) -> dict[str, Any]:
        return {"maintenance": bool(self.emulator.settings.get("maintenance", False))}

    def put_settings(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Switches: `maintenance` (true: every call answers 503 service_unavailable)."""
        for name, value in fields.items():
            if name != "maintenance":
                raise ValueError(f"unknown setting {name!r}; known: maintenance")
            if not isinstance(value, bool):
                raise ValueError("maintenance must be true or false")
        self.emulator.settings.update(fields)
        return self.settings_view()

    def account_view(self, token: str) -> dict[str, Any] | None:
        now = self.emulator.clock.now()
        account = self.account(token, now)
        if account is None:
            return None
        return {
            "token": token, **self.usage_json(account, now),
            "models": list(account.models), "active": account.active,
            "expires_at": iso(account.expires_at) if account.expires_at is not None else None,
            "subscription_active": account.subscription_active,
            "trial_ends_at": iso(account.trial_ends_at) if account.trial_ends_at is not None else None,
            "trial_used": account.trial_used, "is_trial": account.is_trial,
            "processing_seconds": account.processing_seconds,
        }

    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in ACCOUNT_FIELDS:
                raise ValueError(f"unknown account field {name!r}")
            if name in _INT_FIELDS or (name in _OPT_INT_FIELDS and value is not None):
                low = 1 if name in ("rate_limit_per_minute", "max_concurrent_requests") else 0
                values.whole(name, value, low)
            elif name in _BOOL_FIELDS:
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif name in _STR_FIELDS:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{name} must be a non-empty string")
            elif name in _LIST_FIELDS:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{name} must be a list of strings")
                if name == "enabled_endpoints" and set(value) - set(ENDPOINTS):
                    raise ValueError(f"enabled_endpoints must be among {list(ENDPOINTS)}")
                if name == "models" and set(value) - set(self._models):
                    raise ValueError(f"models must be among {sorted(self._models)}")
                value = list(value)
            elif name in _TIME_FIELDS:
                if value is not None:
                    value = values.time(name, value)
            elif name == "processing_seconds" and value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
                    raise ValueError("processing_seconds must be a number from 0 to 60 or null")
                value = float(value)
            clean[name] = value
        now = self.emulator.clock.now()
        account = self.state.accounts.get(token)
        if account is None:
            base = dict(product="kai-custom", product_label="kai Custom", usage_label="API Requests",
                        models=[m.id for m in self.state.catalog.models], rate_limit_per_minute=60,
                        max_concurrent_requests=1, monthly_usage_cap=None, max_file_size=26214400,
                        enabled_endpoints=list(ENDPOINTS), period=period_of(now))
            account = Account(token=token, **base)
            self.state.accounts[token] = account
        else:
            self.state.accounts.touch(token)
        self._roll(account, now)
        for name, value in clean.items():
            setattr(account, name, value)
        view = self.account_view(token)
        assert view is not None
        return view


def new_id(prefix: str) -> str:
    return f"{prefix}{hex_id(12)}"
