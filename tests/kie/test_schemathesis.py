"""Property-based run of schemathesis over contracts/kie.yaml against the in-process app, in both
profiles, in strict mode: zero server errors, every status, content type, header and body as the
contract says, negative data refused (in the live profile, which answers errors with HTTP 200, by
the code in the body), and the emulator's own request check agreeing with schemathesis."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from emulators.engine.emulator import Emulator
from emulators.engine.provider import CONTRACTS_DIR
from tests.strict.fuzzing import StrictAgreement, refused_in_the_body, strict_emulator

schema = schemathesis.openapi.from_path(CONTRACTS_DIR / "kie.yaml")
# The tests send the key themselves (a key the fuzzer left out would be put back on the wire).
schema.config.generation.update(with_security_parameters=False)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
HEADERS = {"Authorization": "Bearer test-token"}
FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])


def _emulator(profile: str | None = None) -> Iterator[Emulator]:
    em = strict_emulator("kie")
    if profile:
        with em.lock:
            em.backend.put_settings({"profile": profile})
    yield em
    bad = [e for e in em.journal.as_json() if any(v["side"] == "response" for v in e["violations"])]
    em.blobs.discard()
    assert not bad, bad[:3]


@pytest.fixture(scope="module")
def app() -> Iterator[Emulator]:
    yield from _emulator()


@pytest.fixture(scope="module")
def live_app() -> Iterator[Emulator]:
    yield from _emulator("live")


@pytest.fixture(scope="module")
def agreement(app: Emulator) -> Iterator[StrictAgreement]:
    checked = StrictAgreement(app)
    yield checked
    # strict mode saw both kinds: valid requests passed, most generated bad ones were reported
    assert checked.positive > 30 and checked.negative_reported > checked.negative // 2, vars(checked)


@schema.parametrize()
@FUZZ
def test_contract_positive_and_negative(case: Any, app: Emulator, agreement: StrictAgreement) -> None:
    response = case.call(app=app, headers=HEADERS)
    # On a multipart form every value is text on the wire, so a "negated type" is still valid.
    extra = [] if case.media_type == "multipart/form-data" else [negative_data_rejection]
    case.validate_response(response, checks=[*CHECKS, *extra, agreement])


@schema.parametrize()
@settings(FUZZ, max_examples=10)
def test_contract_without_a_token(case: Any, app: Emulator) -> None:
    response = case.call(app=app)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(FUZZ, max_examples=25)
def test_contract_in_the_live_profile(case: Any, live_app: Emulator) -> None:
    response = case.call(app=live_app, headers=HEADERS)
    refused = [] if case.media_type == "multipart/form-data" else [refused_in_the_body(lambda b: b.get("code") == 200)]
    case.validate_response(response, checks=[*CHECKS, *refused])
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json") and case.path != "/files/{fileId}":
        code = response.json()["code"]
        if code == 405:  # a method the path does not have: no endpoint, the real status (docs/kie.md)
            assert response.status_code == 405
        else:
            assert response.status_code == 200 and code in (200, 400, 401, 402, 404, 422, 429, 455, 500, 505)
