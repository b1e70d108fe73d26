"""Schemathesis over contracts/voiceclone.yaml against the app, in strict mode: no server errors,
no response that the contract does not describe (status, content type, headers, body), negative
data refused, and the emulator's own request check agreeing with schemathesis on what is valid."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from emulators.engine.provider import CONTRACTS_DIR
from tests.strict.fuzzing import StrictAgreement, strict_emulator

EMULATOR = strict_emulator("voiceclone")
schema = schemathesis.openapi.from_path(CONTRACTS_DIR / "voiceclone.yaml")
schema.app = EMULATOR
# The tests send the key themselves: a key the fuzzer left out (negative) would be put back on the
# wire, so the case would claim a refusal that its request no longer deserves.
schema.config.generation.update(with_security_parameters=False)
AGREEMENT = StrictAgreement(EMULATOR)

# Not checked, on purpose: "schema-valid data is accepted": a schema cannot say that an upload
# must really be audio or that a voiceId must exist, so those refusals are right, not drift.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
FUZZ = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def _fund() -> None:
    # Enough credits and requests that the fuzzer reaches the handlers instead of 429s.
    with EMULATOR.lock:
        EMULATOR.backend.put_account("test-token", {"regular": 10**9, "rateLimit": 10**9})


_fund()


@schema.parametrize()
@FUZZ
def test_contract_holds_for_generated_requests(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": "Bearer test-token"}, excluded_checks=EXCLUDED,
                           additional_checks=[AGREEMENT])


@schema.parametrize()
@settings(FUZZ, max_examples=10)
def test_contract_holds_without_a_key(case: schemathesis.Case) -> None:
    response = case.call_and_validate(headers={"Authorization": "Bearer not-a-key"}, excluded_checks=EXCLUDED,
                                      additional_checks=[AGREEMENT])
    if not case.path.startswith("/files/"):
        assert response.status_code in (401, 405)


def test_no_response_violated_the_contract_and_requests_were_judged() -> None:
    bad = [e for e in EMULATOR.journal.as_json() if any(v["side"] == "response" for v in e["violations"])]
    assert not bad, bad[:5]
    assert len(EMULATOR.journal.entries) > 100  # the fuzzer really ran through the emulator
    # strict mode saw both kinds: valid requests passed, most generated bad ones were reported
    assert AGREEMENT.positive > 50 and AGREEMENT.negative > 50
    assert AGREEMENT.negative_reported > AGREEMENT.negative // 2, vars(AGREEMENT)
