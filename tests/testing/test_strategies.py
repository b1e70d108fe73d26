"""emulators.testing: requests valid by the contract and accepted by the emulator, responses
valid by the contract, for every operation of every provider."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emulators import providers
from emulators.engine.contracts import Operation, ResponseCapture
from emulators.engine.schema_checks import media_type
from emulators.pytest_plugin import RunningEmulator
from emulators.testing import ApiRequest, ApiResponse, operation, operations, requests, responses
from emulators.testing.strategies import contract

FAST = settings(max_examples=6, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))
ALL = [(p, op) for p in providers.ids() for op in operations(p)]

# What each provider answers to a request it refuses as malformed (a valid request may still be
# answered "not found": it names something that does not exist).
REFUSED = {
    "kai": lambda r: r.status_code == 400,
    "kie": lambda r: r.status_code in (400, 422) or _code(r) in (400, 422),
    "kitta": lambda r: r.status_code in (400, 413),
    "kreado": lambda r: _code(r) in ("10002", "10003", "10004", "10005", "10006", "10007", "10008", "10010"),
    "voiceclone": lambda r: r.status_code == 400,
}


def _code(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def contract_problems(op: Operation, client: httpx.Client, request: ApiRequest) -> list[Any]:
    """The request against the contract: parameters as sent; a form's fields with the types the
    strategy drew (multipart carries text, which the contract's own check does not read back)."""
    built = client.build_request(**request.httpx_kwargs())
    body = built.read()
    ctype = built.headers.get("content-type", "")
    path_params = contract(request_provider(op)).path_params(op, request.path)
    headers = {k.lower(): v for k, v in built.headers.items()}
    if media_type(ctype).startswith("multipart/"):
        problems = op.check_request(path_params=path_params, query=list(request.query), headers=headers, body=None)
        problems = [p for p in problems if p.where != "$"]  # the body is checked below
        media = op.request.content.match("multipart/form-data")
        assert media is not None and media.schema is not None
        fields: dict[str, Any] = {k: v for k, v in (request.form or {}).items()}
        for name, parts in (request.files or {}).items():
            fields[name] = "<file>" if not isinstance(parts, list) else ["<file>"] * len(parts)
        return problems + media.schema.problems(_typed(fields, media.schema.inlined), "request")
    return op.check_request(path_params=path_params, query=list(request.query), headers=headers, body=body)


def request_provider(op: Operation) -> str:
    return next(p for p in providers.ids() if contract(p).by_id.get(op.operation_id) is op)


def _typed(fields: dict[str, Any], schema: Any) -> dict[str, Any]:
    props = (schema or {}).get("properties") or {}
    out = {}
    for name, value in fields.items():
        kind = (props.get(name) or {}).get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if isinstance(value, str) and ("number" in kinds or "integer" in kinds):
            try:
                number = float(value)
                value = int(number) if number.is_integer() and "integer" in kinds else number
            except ValueError:
                pass
        out[name] = value
    return out


@pytest.fixture(scope="module")
def running() -> Any:
    from emulators.pytest_plugin import start_emulator

    started: dict[str, tuple[RunningEmulator, Any]] = {}

    def get(provider: str) -> RunningEmulator:
        if provider not in started:
            started[provider] = start_emulator(provider, audit=False)  # (requests only; fast)
            if provider == "kai":  # no emulated processing time
                started[provider][0].control.set_account("test-token", processing_seconds=0)
        return started[provider][0]

    yield get
    for em, stop in started.values():
        violations = [e for e in em.control.violations()]
        stop()
        assert not violations, violations[:3]


def overrides_for(provider: str, op_id: str, em: RunningEmulator) -> dict[str, Any]:
    """Values that must name something the emulator made (pins.Needs), made here first."""
    if (provider, op_id) not in (("kie", "getDownloadUrl"), ("kie", "fileUrlUpload")):
        return {}
    client = em.client()
    r = client.post("/api/file-base64-upload", headers={"Authorization": "Bearer test-token"},
                    json={"base64Data": "aGVsbG8=", "uploadPath": "tests", "fileName": "hello.txt"})
    assert r.status_code == 200, r.text
    url = r.json()["data"]["downloadUrl"]
    return {"json": {"url": url}} if op_id == "getDownloadUrl" else {"json": {"fileUrl": url}}


@pytest.mark.parametrize(("provider", "op_id"), ALL, ids=[f"{p}-{o}" for p, o in ALL])
def test_requests_are_valid_and_accepted(running: Any, provider: str, op_id: str) -> None:
    em = running(provider)
    client = em.client()
    op = operation(provider, op_id)
    strategy = requests(provider, op_id, **overrides_for(provider, op_id, em))
    refused: list[str] = []

    @FAST
    @given(strategy)
    def check(request: ApiRequest) -> None:
        assert request.operation == op_id and request.method == op.method
        assert not contract_problems(op, client, request)
        em.control.advance(3600)  # limits and queues of earlier examples are over
        answer = request.send(client)
        if REFUSED[provider](answer):
            refused.append(f"{request.httpx_kwargs()} -> {answer.status_code} {answer.text[:200]}")
        assert answer.status_code < 500

    check()
    assert not refused, refused[:3]


def test_a_field_that_names_something_made_is_asked_for() -> None:
    with pytest.raises(TypeError, match="needs json=.*'url'"):
        requests("kie", "getDownloadUrl")
    with pytest.raises(TypeError, match="unknown overrides"):
        requests("kie", "getTaskDetail", body={})
    with pytest.raises(ValueError, match="no operation"):
        requests("kie", "noSuchOperation")


@given(st.data())
@settings(max_examples=5, deadline=None, database=None, derandomize=True)
def test_overrides_replace_what_is_drawn(data: st.DataObject) -> None:
    request = data.draw(requests("kie", "getTaskDetail", query={"taskId": "abc"}, token="my-token"))
    assert request.query == (("taskId", "abc"),)
    assert request.headers == {"Authorization": "Bearer my-token"}
    assert data.draw(requests("kreado", "getInfo")).headers == {"apiToken": "test-token"}
    assert data.draw(requests("kie", "getAccountCredits", token=None)).headers == {}
    chosen = data.draw(requests("kie", "createTask", json=st.just({"model": "m"})))
    assert chosen.json == {"model": "m"}


# -- responses ------------------------------------------------------------------------------------------------
def response_problems(op: Operation, answer: ApiResponse) -> list[Any]:
    capture = ResponseCapture()
    capture.start(answer.status, [(k.encode(), v.encode()) for k, v in answer.headers.items()])
    capture.feed(answer.content)
    return op.check_response(answer.status, capture.headers, capture.body, capture.head, closed=True)


@pytest.mark.parametrize(("provider", "op_id"), ALL, ids=[f"{p}-{o}" for p, o in ALL])
def test_responses_are_documented(provider: str, op_id: str) -> None:
    op = operation(provider, op_id)
    statuses: set[int] = set()

    @settings(max_examples=15, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(responses(provider, op_id))
    def check(answer: ApiResponse) -> None:
        assert answer.operation == op_id
        assert not response_problems(op, answer), answer
        statuses.add(answer.status)
        answer.to_httpx().read()  # a client can parse it as an httpx answer

    check()
    assert statuses  # (every status is reachable: see the next test)


@pytest.mark.parametrize("status", [200, 429])
def test_responses_of_one_status(status: int) -> None:
    op = operation("voiceclone", "createSpeech")

    @settings(max_examples=15, deadline=None, database=None, derandomize=True)
    @given(responses("voiceclone", "createSpeech", status=status))
    def check(answer: ApiResponse) -> None:
        assert answer.status == status
        assert not response_problems(op, answer)
        if status == 429:
            assert answer.json()["code"] in ("USAGE_LIMIT_EXCEEDED", "RATE_LIMITED")

    check()
    with pytest.raises(ValueError, match="documents no 418"):
        responses("voiceclone", "createSpeech", status=418)


def test_binary_responses_are_real_files() -> None:
    op = operation("kai", "stripMetadata")

    @settings(max_examples=10, deadline=None, database=None, derandomize=True)
    @given(responses("kai", "stripMetadata", status=200))
    def check(answer: ApiResponse) -> None:
        assert not response_problems(op, answer)
        if "json" not in answer.headers["content-type"]:
            assert isinstance(answer.body, bytes) and answer.body

    check()


def test_json_bodies_round_trip() -> None:
    @settings(max_examples=10, deadline=None, database=None, derandomize=True)
    @given(responses("kreado", "listAvatars"))
    def check(answer: ApiResponse) -> None:
        assert json.loads(answer.content) == answer.json()

    check()
