"""What the schemathesis runs of every provider share now that emulators check requests too.

- `StrictAgreement`: a check that the emulator's strict request check agrees with schemathesis
  on the data it generated: a request schemathesis made from the schema as written (positive)
  must not be reported, except for what strict mode adds on purpose (fields and parameters the
  contract does not document, `x-strict` rules). A false report here is a bug of the checker.
- `refused_in_the_body`: `negative_data_rejection` for providers that answer errors with HTTP 200
  and the code in the body (kreado; kie's live profile): the body's code decides.
"""
from __future__ import annotations

import copy
import json
import time
from typing import Any, Callable

from schemathesis.specs.openapi.checks import negative_data_rejection

from emulators import providers
from emulators.engine import strict
from emulators.engine.emulator import Emulator

STRICT_ONLY = ("undocumented field", "undocumented parameter")


def strict_emulator(provider_id: str) -> Emulator:
    """An in-process emulator checking its answers and, strictly, the requests it receives."""
    em = Emulator(providers.get(provider_id), contract_check=True)
    strict.enable(em)
    return em


def is_strict_only(violation: dict[str, Any]) -> bool:
    return violation["message"] in STRICT_ONLY or "/x-strict/" in str(violation.get("rule", ""))


class StrictAgreement:
    """A schemathesis check (`checks=[agreement]`) reading the journal entry of each call."""

    __name__ = "strict_mode_agrees_with_the_schema"  # schemathesis names checks by it

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.seen = len(emulator.journal.entries)
        self.positive = 0  # positive cases checked
        self.negative_reported = 0  # negative cases whose request strict mode reported
        self.negative = 0

    def _entry(self) -> tuple[Any, ...] | None:
        entries = self.emulator.journal.entries
        deadline = time.monotonic() + 2  # a threaded server journals just after it answers
        while len(entries) <= self.seen and time.monotonic() < deadline:
            time.sleep(0.001)
        if len(entries) <= self.seen:
            return None
        self.seen = len(entries)
        return entries[-1]

    def __call__(self, ctx: Any, response: Any, case: Any) -> None:
        entry = self._entry()
        if entry is None or case.meta is None:
            return
        request_side = [v for v in entry[6] or () if v["side"] == "request"]
        if case.meta.generation.mode.is_negative:
            self.negative += 1
            self.negative_reported += bool(request_side)
            return
        self.positive += 1
        wrong = [v for v in request_side if not is_strict_only(v)]
        if wrong:
            raise AssertionError(f"strict mode reports a request the contract allows: {case.method} "
                                 f"{case.formatted_path}: {wrong[:3]}")


def refused_in_the_body(success: Callable[[Any], bool]) -> Callable[[Any, Any, Any], Any]:
    """`negative_data_rejection` judged by the body: an answer that `success(body)` calls an
    error counts as a 400, whatever its HTTP status."""

    def check(ctx: Any, response: Any, case: Any) -> Any:
        judged = response
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict) and not success(data):
            judged = copy.copy(response)
            judged.status_code = 400
        return negative_data_rejection(ctx, judged, case)

    check.__name__ = "negative_data_rejection_in_the_body"
    return check
