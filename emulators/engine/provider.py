"""What a provider package declares, and the base of its backend.

A provider package holds only what differs between providers: its endpoints (`urls.py`), its
state and rules (`models.py`), its error table (`exceptions.py`) and how it reads its fixtures.
Everything else (clock, jobs, ledger, limits, faults, journal, control API) is the engine's.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.responses import Response
from starlette.types import Scope

from emulators.engine.errors import ProviderError
from emulators.engine.files import FileRecord
from emulators.engine.http import JSON, Call, Endpoint, header
from emulators.engine.jobs import Job, JobKind
from emulators.engine.store import Table
from emulators.engine.ratelimit import Decision, WindowRule, rate_limit_headers, retry_after_seconds

if TYPE_CHECKING:
    from emulators.engine.emulator import Emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"
FIXTURES_DIR = REPO_ROOT / "fixtures"


@dataclass
class PriceSettings:
    """The usual fixture `settings.yaml` of a provider: prices, limits and job timings (data)."""

    prices: dict[str, float]
    limits: dict[str, int]
    timings: dict[str, float]


class Backend(ABC):
    """A provider's state and business rules. Knows nothing of HTTP.

    Subclasses declare `State` (a dataclass, the provider's part of the snapshot) and
    implement `seed`. Every state change happens in a method called under the emulator lock.
    """

    State: ClassVar[type]

    def __init__(self, emulator: Emulator, state: Any) -> None:
        self.emulator = emulator
        self.state = state

    @classmethod
    @abstractmethod
    def seed(cls, emulator: Emulator, fixtures: Path) -> Backend:
        ...

    def derived_file(self, file_id: str) -> FileRecord | None:
        """A file made from the provider's own records rather than stored (a job's results,
        whose recipe its task holds): built on each lookup, never in `state.files`, so a job
        costs no file records. None when `file_id` names no such file."""
        return None

    def on_bound(self) -> None:
        """Called once the state's tables are bound to the store (after a seed, a restore or a
        load): the place to declare indexes (`self.state.<table>.index(...)`) and rebuild
        anything else derived from the state."""

    # -- control API -------------------------------------------------------------------
    @abstractmethod
    def account_view(self, token: str) -> dict[str, Any] | None:
        """One account as the control API shows it (fields named as the provider names them)."""
        ...

    @abstractmethod
    def put_account(self, token: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Creates or partially updates an account; ValueError for a bad field."""
        ...

    # -- switches -----------------------------------------------------------------------------
    def settings_view(self) -> dict[str, Any]:
        """The emulator-wide switches (maintenance, status behaviour, ...) with their values."""
        return dict(self.emulator.settings)

    def put_settings(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Validates and sets switches (partial update); ValueError for an unknown one."""
        if fields:
            raise ValueError(f"{self.emulator.provider.id} has no switches")
        return self.settings_view()

    def launch_profile(self, name: str) -> None:
        """`emulators serve --profile NAME`: the behaviour profile the emulator starts in and
        returns to on reset. LookupError when the provider has no profiles, ValueError for an
        unknown name."""
        raise LookupError(f"{self.emulator.provider.id} has no profiles")

    def touch_account(self, token: str) -> None:
        """Declares the account behind `token` as about to change (its wallet is charged or
        refunded): every provider keeps its accounts in a table named `accounts`."""
        accounts = getattr(self.state, "accounts", None)
        if isinstance(accounts, Table) and token in accounts:
            accounts.touch(token)

    # -- jobs ------------------------------------------------------------------------------
    def on_job_finished(self, job: Job, now: float) -> None:
        """Side effects of a job reaching a terminal state (refunds, callbacks). Runs once."""

    def recharge(self, job: Job, now: float) -> None:
        """A refunded failure forced into success (control API): take its price again
        (`emulator.recharge`) and make the job's record refundable once more. InsufficientFunds
        when the owner cannot pay; ValueError when the provider's jobs cannot be reversed."""
        raise ValueError(f"{self.emulator.provider.id} jobs cannot be turned from failure into success")

    def tick(self, now: float) -> None:
        """Called before every request and by the background ticker (lazy time-based rules)."""


class Provider(ABC):
    """Declarations and HTTP hooks of one provider; one instance serves every emulator of it."""

    id: ClassVar[str]
    title: ClassVar[str]
    default_port: ClassVar[int]
    api_prefix: ClassVar[str] = ""  # what clients append to the emulator's URL for their base URL
    client_env: ClassVar[str] = ""  # the environment variable a client would set to the base URL
    endpoints: ClassVar[list[Endpoint]]
    job_kinds: ClassVar[dict[str, JobKind]] = {}
    backend_cls: ClassVar[type[Backend]]

    @property
    def contract_path(self) -> Path:
        return CONTRACTS_DIR / f"{self.id}.yaml"

    # -- request pipeline hooks (in the order the gateway calls them) ------------------------
    def token_of(self, scope: Scope) -> str | None:
        """The caller's token from the request's headers alone (faults and journal use it)."""
        auth = header(scope, b"authorization")
        if auth and auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    @abstractmethod
    async def authenticate(self, call: Call) -> None:
        """Sets call.account (and call.token) or raises the provider's 401."""

    def admit(self, call: Call) -> None:
        """Rate limits and other gates before the handler; raises the provider's error."""

    def count_request(self, call: Call, rule: WindowRule) -> Decision:
        """Counts the call against `rule` and sets the X-RateLimit-* headers it will carry (plus
        Retry-After when refused); the provider raises its own error when not allowed."""
        decision = call.emulator.limiter.hit(call.subject, rule, call.now)
        call.extra_headers.update(rate_limit_headers(decision))
        if not decision.allowed:
            call.extra_headers["Retry-After"] = str(retry_after_seconds(decision))
        return decision

    def finish(self, call: Call, response: Response) -> None:
        """Headers every response carries (rate limit headers, request ids)."""

    def release(self, call: Call) -> None:
        """After the response: frees what `admit` took (concurrency slots)."""

    # -- errors -----------------------------------------------------------------------------
    def error_response(self, call: Call, err: ProviderError) -> Response:
        """The response for an error (a provider may vary it by call, e.g. a status switch)."""
        return JSON(err.body, status_code=err.status, headers=err.headers)

    @abstractmethod
    def not_found(self, call: Call) -> ProviderError:
        ...

    @abstractmethod
    def method_not_allowed(self, call: Call) -> ProviderError:
        ...

    @abstractmethod
    def internal_error(self, call: Call) -> ProviderError:
        ...
