"""Schemathesis over contracts/kai.yaml against the in-process app, in strict mode: generated
requests for every operation (valid and invalid data), zero server errors, zero response
mismatches, invalid data refused, and the emulator's own request check agreeing with schemathesis
on what is valid."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.kai.test_contract_examples import CONTRACT_PATH
from tests.strict.fuzzing import StrictAgreement

SCHEMA = schemathesis.openapi.from_path(CONTRACT_PATH)
# The tests send the key themselves (a key the fuzzer left out would be put back on the wire).
SCHEMA.config.generation.update(with_security_parameters=False)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
WITH_INPUT = ["createChatCompletion", "createTranscription", "anonymizeDocument", "stripMetadata"]
WITHOUT_INPUT = ["listModels", "getUsage"]  # nothing to send but the key: no invalid data to make
RUNS = [("test-token", GenerationMode.POSITIVE, 25), ("test-token", GenerationMode.NEGATIVE, 15),
        ("pro-token", GenerationMode.POSITIVE, 8)]  # pro: a product without strip-metadata: 403s conform too


@pytest.mark.parametrize("operation_id,token,mode,examples", [
    (op, *run) for op in WITH_INPUT + WITHOUT_INPUT for run in RUNS
    if op in WITH_INPUT or run[1] == GenerationMode.POSITIVE])
def test_generated_requests_conform(emulator_factory: Any, operation_id: str, token: str,
                                    mode: GenerationMode, examples: int) -> None:
    em = emulator_factory("kai")
    # no processing delay and no rate limit in the way: this is about shapes, not limits
    em.control.set_account(token, processing_seconds=0, rate_limit_per_minute=100000, monthly_usage_cap=None)
    operation = SCHEMA.find_operation_by_id(operation_id)
    app = em.emulator
    auth = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
              database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(app=app, headers=auth)
        # On a multipart form every value is text on the wire, so a "negated type" is still valid.
        refused = [negative_data_rejection] if case.media_type != "multipart/form-data" else []
        case.validate_response(response, checks=[*CHECKS, *refused, agreement])

    agreement = StrictAgreement(app)
    with em.allow_bad_requests():  # the fuzzer's negative cases; `agreement` judges the check instead
        run()
    assert not em.control.violations("response")
    if mode == GenerationMode.NEGATIVE:
        assert agreement.negative_reported > agreement.negative // 2, vars(agreement)
