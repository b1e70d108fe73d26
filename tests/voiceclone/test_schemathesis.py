"""Schemathesis over contracts/voiceclone.yaml against the app: no server errors, and no response
that the contract does not describe (status, content type, headers, body), for schema-valid and
schema-violating requests alike."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from emulators import providers
from emulators.engine.emulator import Emulator
from emulators.engine.provider import CONTRACTS_DIR

EMULATOR = Emulator(providers.get("voiceclone"), contract_check=True)
schema = schemathesis.openapi.from_path(CONTRACTS_DIR / "voiceclone.yaml")
schema.app = EMULATOR

# Not checked, on purpose:
# - "schema-valid data is accepted": a schema cannot say that an upload must really be audio or
#   that a voiceId must exist, so those refusals are right, not drift;
# - "schema-violating data is refused": the fuzzer's violations include ones that vanish on the
#   wire (an object serialized into a query string becomes other, ignored parameters).
# Bounds and types the emulator must refuse are asserted one by one in the behaviour tests.
EXCLUDED = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.negative_data_rejection]
FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _fund() -> None:
    # Enough credits and requests that the fuzzer reaches the handlers instead of 429s.
    with EMULATOR.lock:
        EMULATOR.backend.put_account("test-token", {"regular": 10**9, "rateLimit": 10**9})


_fund()


@schema.parametrize()
@FUZZ
def test_contract_holds_for_generated_requests(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": "Bearer test-token"}, excluded_checks=EXCLUDED)


@schema.parametrize()
@settings(FUZZ, max_examples=10)
def test_contract_holds_without_a_key(case: schemathesis.Case) -> None:
    response = case.call_and_validate(headers={"Authorization": "Bearer not-a-key"}, excluded_checks=EXCLUDED)
    if not case.path.startswith("/files/"):
        assert response.status_code in (401, 405)


def test_no_contract_violation_reached_the_journal() -> None:
    bad = [e for e in EMULATOR.journal.as_json() if e["violations"]]
    assert not bad, bad[:5]
    assert len(EMULATOR.journal.entries) > 100  # the fuzzer really ran through the emulator
