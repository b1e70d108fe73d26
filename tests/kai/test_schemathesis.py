"""Schemathesis over contracts/kai.yaml against the in-process app: generated requests for every
operation (valid and invalid data), zero server errors and zero response mismatches."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.kai.test_contract_examples import CONTRACT_PATH

SCHEMA = schemathesis.openapi.from_path(CONTRACT_PATH)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
OPERATIONS = ["createChatCompletion", "createTranscription", "anonymizeDocument", "stripMetadata",
              "listModels", "getUsage"]


@pytest.mark.parametrize("operation_id", OPERATIONS)
@pytest.mark.parametrize("token,mode,examples", [
    ("test-token", GenerationMode.POSITIVE, 25),
    ("test-token", GenerationMode.NEGATIVE, 15),
    ("pro-token", GenerationMode.POSITIVE, 8),  # a product without strip-metadata: 403s conform too
])
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
        case.validate_response(response, checks=CHECKS)

    run()
    bad = [e for e in em.control.journal() if e["violations"]]
    assert not bad, bad[:3]
