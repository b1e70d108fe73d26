"""What chaos mode can do to each operation of a provider: the documented errors it may answer
(from the provider's error tables and the contract's examples), whether the operation creates
a job or lists pages, and whether its answers have optional fields or documented maxima.

Beyond the contract, a provider's `contracts/chaos/<id>.yaml` names its rate-limit error codes,
its job-creating operations and where each list operation keeps its items and pagination fields.
"""
from __future__ import annotations

import copy
import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from emulators.engine.chaos_edits import PageFields, has_maxima, has_optional, nodes, path_of
from emulators.engine.errors import ErrorTable, ProviderError

if TYPE_CHECKING:
    from emulators.engine.contracts import Contract, Operation, ResponseSpec
    from emulators.engine.provider import Provider

JOB_KINDS = frozenset({"job_queued_long", "job_fail"})


CHAOS_DATA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "chaos"


@dataclass(frozen=True)
class ErrorChoice:
    """One documented error an operation may answer."""

    status: int
    code: str
    build: Callable[[], ProviderError]


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
        self.pages = {name: PageFields(**{k: path_of(v) for k, v in spec.items()})
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
            has_optional=any(has_optional(s) for s in schemas),
            has_maxima=any(has_maxima(s) for s in schemas))

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
                named = _code_of(body)
                if named is None or (int(key), named) in seen or not _valid_body(spec, body):
                    continue
                seen.add((int(key), named))
                out.append(ErrorChoice(int(key), named, _example_builder(int(key), body)))
        return out


@cache
def _error_tables(provider_id: str) -> tuple[ErrorTable, ...]:
    module = importlib.import_module(f"emulators.providers.{provider_id}.exceptions")
    return tuple(v for v in vars(module).values() if isinstance(v, ErrorTable))


def json_media(spec: ResponseSpec) -> Any:
    return next((m for m in spec.content.media if m.schema is not None and "json" in m.name), None)


def _valid_body(spec: ResponseSpec, body: Any) -> bool:
    media = json_media(spec)
    return media is not None and not media.schema.problems(body, "response")


def _table_builder(table: ErrorTable, code: str, spec: ResponseSpec) -> Callable[[], ProviderError] | None:
    """Builds the table's error for `code`, completed with the constants the documented body
    requires (kie's upload errors carry `"success": false`); None when it is not documented."""
    media = json_media(spec)
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
    for node in nodes(schema):
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
