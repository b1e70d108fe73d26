"""Each kind of chaos: what it answers, that the answer is documented (the plugin checks every
answer against the contract after each test), and what it leaves of the provider's state."""
from __future__ import annotations

import json
import math
import time
from typing import Any, Callable

import pytest

from emulators.engine.chaos_edits import drop_optional, fill_maxima, maxima, optional_paths
from emulators.pytest_plugin import RunningEmulator
from emulators.providers.kie.exceptions import _table as kie_errors
from tests.chaos.conftest import BEARER, kie_create

Make = Callable[..., RunningEmulator]


def last_mark(em: RunningEmulator) -> Any:
    return em.control.journal()[-1].get("chaos")


# -- documented errors, instead of the handler ------------------------------------------------------
def test_an_error_replaces_the_answer_and_changes_nothing(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=4, rate=1, kinds=["error"])
    client = em.client()
    before = em.control.account("test-token")
    ledger = dict(em.emulator.state.ledger)
    for i in range(8):
        r = kie_create(client, f"picture {i}")
        status, code = r.status_code, r.json()["code"]
        assert status >= 400 and code == status
        assert r.json()["msg"] == kie_errors.table[str(code)][1]  # the provider's own message
        assert last_mark(em) == f"error:{status}:{code}"
    assert em.control.account("test-token") == before
    assert dict(em.emulator.state.ledger) == ledger and not em.emulator.state.jobs


def test_errors_come_in_each_providers_own_shape(chaos_emulator: Make) -> None:
    kreado = chaos_emulator("kreado", seed=1, rate=1, kinds=["error"])
    r = kreado.client().get("/apis/open/user/v3/getInfo", headers={"apiToken": "test-token"})
    assert r.status_code == 200 and r.json()["code"] != "200" and r.json()["data"] is None  # HTTP 200, code in body
    kitta = chaos_emulator("kitta", seed=1, rate=1, kinds=["error"])
    r = kitta.client().post("/api/open/v2/speech/tts", headers=BEARER, json={"voiceId": "x", "text": "hi"})
    assert set(r.json()) == {"code", "message", "requestId"}  # the v2 shape
    r = kitta.client().post("/api/open/tts", headers=BEARER, json={"reference_id": "x", "text": "hi"})
    assert "error" in r.json() and "code" in r.json()  # the v1 shape


def test_the_live_profile_answers_chaotic_errors_under_http_200(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=4, rate=1, kinds=["error"])
    em.control.set_settings(profile="live")
    r = em.client().get("/api/v1/chat/credit", headers=BEARER)
    assert r.status_code == 200 and r.json()["code"] != 200 and r.json()["data"] is None


# -- 429 with a true Retry-After ----------------------------------------------------------------------
def test_a_chaotic_429_holds_until_its_retry_after_and_not_a_moment_longer(chaos_emulator: Make) -> None:
    em = chaos_emulator("voiceclone", seed=1, rate=1, kinds=["rate_limited"])
    client = em.client()
    windows = json.dumps(em.control.state()["engine"]["rate_windows"])
    r = client.get("/api/v1/credits", headers=BEARER)
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 5 and r.json()["retryAfter"] == wait  # the provider's own refusal, one figure
    assert last_mark(em) == f"rate_limited:{wait}s"
    for spent in range(wait - 1):
        em.control.advance(1)
        again = client.get("/api/v1/credits", headers=BEARER)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) == wait - spent - 1
        assert last_mark(em) == f"rate_limited:{wait - spent - 1}s (cooldown)"
    assert json.dumps(em.control.state()["engine"]["rate_windows"]) == windows  # the real limiter counted none
    em.control.advance(1)
    ok = client.get("/api/v1/credits", headers=BEARER)  # exactly Retry-After later
    assert ok.status_code == 200 and last_mark(em) is None


def test_a_chaotic_429_is_per_token(chaos_emulator: Make) -> None:
    em = chaos_emulator("voiceclone", seed=1, rate=1, kinds=["rate_limited"], tokens=["test-token"])
    client = em.client()
    assert client.get("/api/v1/credits", headers=BEARER).status_code == 429
    assert client.get("/api/v1/credits", headers={"Authorization": "Bearer poor-token"}).status_code == 200


def test_kai_429_carries_its_exact_wait_too(chaos_emulator: Make) -> None:
    em = chaos_emulator("kai", seed=1, rate=1, kinds=["rate_limited"])
    r = em.client().get("/api/v1/models", headers=BEARER)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert math.ceil(int(r.headers["retry-after-ms"]) / 1000) == int(r.headers["Retry-After"])
    assert r.headers["X-RateLimit-Remaining"] == "0"


def test_an_operation_the_provider_does_not_limit_gets_its_rate_limit_error(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1, kinds=["rate_limited"])
    r = em.client().get("/api/v1/jobs/recordInfo", params={"taskId": "x"}, headers=BEARER)
    assert r.status_code == 429 and r.json() == {"code": 429, "msg": kie_errors.table["429"][1], "data": None}
    assert 1 <= int(r.headers["Retry-After"]) <= 5


def test_kreado_429_is_code_429_under_http_200(chaos_emulator: Make) -> None:
    em = chaos_emulator("kreado", seed=1, rate=1, kinds=["rate_limited"])
    r = em.client().post("/apis/open/video/v3/list", headers={"apiToken": "test-token"},
                         json={"pageIndex": 1, "pageSize": 10})
    assert r.status_code == 200 and r.json()["code"] == "429" and int(r.headers["Retry-After"]) >= 1


# -- slow answers ---------------------------------------------------------------------------------------
def test_a_slow_answer_is_the_normal_answer_later(chaos_emulator: Make) -> None:
    em = chaos_emulator("voiceclone", seed=1, rate=1, kinds=["slow"], max_delay_ms=200)
    started = time.monotonic()
    r = em.client().get("/api/v1/credits", headers=BEARER)
    took = time.monotonic() - started
    mark = last_mark(em)
    assert r.status_code == 200 and mark.startswith("slow:")
    delay_ms = int(mark[len("slow:"):-len("ms")])
    assert 50 <= delay_ms <= 200 and took >= delay_ms / 1000 - 0.005


# -- jobs ---------------------------------------------------------------------------------------------------
def test_a_job_made_to_fail_is_refunded_as_usual(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1, kinds=["job_fail"])
    client = em.client()
    credits = client.get("/api/v1/chat/credit", headers=BEARER).json()["data"]  # (no job: passes)
    r = kie_create(client)
    task = r.json()["data"]["taskId"]
    assert last_mark(em) == "job_fail"
    assert client.get("/api/v1/chat/credit", headers=BEARER).json()["data"] < credits  # charged
    em.control.advance(60)
    record = client.get("/api/v1/jobs/recordInfo", params={"taskId": task}, headers=BEARER).json()["data"]
    assert record["state"] == "fail" and record["failMsg"]
    assert client.get("/api/v1/chat/credit", headers=BEARER).json()["data"] == credits  # refunded


def test_a_voiceclone_speech_made_to_fail(chaos_emulator: Make) -> None:
    em = chaos_emulator("voiceclone", seed=1, rate=1, kinds=["job_fail"])
    client = em.client()
    r = client.post("/api/v1/tts", headers=BEARER, json={"text": "Hello there", "voiceId": "clsys00000000000000000001"})
    speech = r.json()["speech"]["id"]
    em.control.advance(600)
    got = client.get(f"/api/v1/tts/{speech}", headers=BEARER).json()
    assert got["speech"]["status"] == "FAILED"


def test_a_job_kept_queued_long(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1, kinds=["job_queued_long"])
    client = em.client()
    task = kie_create(client).json()["data"]["taskId"]
    extra = int(last_mark(em).split("+")[1].rstrip("s"))
    assert 300 <= extra <= 1800
    em.control.advance(60)  # an image task is done after 11 s
    def state() -> str:
        return str(client.get("/api/v1/jobs/recordInfo", params={"taskId": task}, headers=BEARER).json()["data"]["state"])
    assert state() == "waiting"
    em.control.advance(extra)
    assert state() == "success"


# -- pages ------------------------------------------------------------------------------------------------
def voices(em: RunningEmulator, page: int, limit: int) -> Any:
    r = em.client().get("/api/v1/voices", params={"page": page, "limit": limit}, headers=BEARER)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_empty_page_with_pagination_that_agrees(chaos_emulator: Make) -> None:
    em = chaos_emulator("voiceclone", seed=1, rate=1, kinds=["page_empty"])
    body = voices(em, 2, 1)
    assert last_mark(em) == "page_empty"
    assert body["voices"] == []
    assert body["pagination"] == {"page": 2, "limit": 1, "total": 1, "totalPages": 1, "hasNext": False, "hasPrev": True}


def test_a_last_page(chaos_emulator: Make) -> None:
    em = chaos_emulator("voiceclone", seed=1, rate=1, kinds=["page_last"])
    em.control.clear_chaos()
    real = voices(em, 1, 2)
    assert real["pagination"]["hasNext"] is True  # there is more
    em.control.set_chaos(1, rate=1, kinds=["page_last"])
    body = voices(em, 1, 2)
    assert last_mark(em) == "page_last"
    assert body["voices"] == real["voices"]
    assert body["pagination"] == {**real["pagination"], "total": 2, "totalPages": 1, "hasNext": False}


def test_kreado_pages(chaos_emulator: Make) -> None:
    em = chaos_emulator("kreado", seed=1, rate=1, kinds=["page_empty"])
    r = em.client().post("/apis/open/avatar/v3/list", headers={"apiToken": "test-token"},
                         json={"cloneDigitalHuman": 0, "supportTypeId": 101, "pageIndex": 3, "pageSize": 5})
    data = r.json()["data"]
    assert data["data"] == [] and data["totalCount"] == 10 and data["totalPages"] == 2


def test_kai_models_can_be_an_empty_list(chaos_emulator: Make) -> None:
    em = chaos_emulator("kai", seed=1, rate=1, kinds=["page_empty", "page_last"])
    assert em.client().get("/api/v1/models", headers=BEARER).json()["data"] == []


# -- optional fields absent ----------------------------------------------------------------------------------
def test_optional_fields_left_out_and_required_ones_kept(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1, kinds=["optional_absent"])
    client = em.client()
    em.control.clear_chaos()
    task = kie_create(client).json()["data"]["taskId"]
    em.control.advance(60)
    full = client.get("/api/v1/jobs/recordInfo", params={"taskId": task}, headers=BEARER).json()
    seen: set[str] = set()
    for seed in range(12):
        em.control.set_chaos(seed, rate=1, kinds=["optional_absent"])
        body = client.get("/api/v1/jobs/recordInfo", params={"taskId": task}, headers=BEARER).json()
        mark = last_mark(em)
        assert mark.startswith("optional_absent:")
        assert body["code"] == 200 and body["msg"] == full["msg"]  # required: always there
        for path in mark.split(":", 1)[1].split(","):
            seen.add(path)
            parts = path.split(".")[1:]
            node = body
            for part in parts[:-1]:
                node = node[part]
            assert parts[-1] not in node
        if "data" in body:
            for name in ("taskId", "model", "state", "param", "createTime"):
                assert body["data"][name] == full["data"][name]
    assert "$.data" in seen and any(p.startswith("$.data.") for p in seen)


def test_optional_paths_follow_the_branch_that_matches() -> None:
    schema = {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}},
              "oneOf": [{"properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}, "required": ["x"]},
                        {"properties": {"kind": {"const": "b"}, "y": {"type": "integer"}}}]}
    assert optional_paths({"kind": "a", "x": 1}, [schema]) == []
    assert optional_paths({"kind": "b", "y": 1}, [schema]) == [("y",)]


# -- maximum sizes ------------------------------------------------------------------------------------------
def test_strings_and_arrays_at_their_documented_maximum() -> None:
    import random

    schema = {"type": "object", "properties": {
        "title": {"type": "string", "maxLength": 12},
        "id": {"type": "string", "maxLength": 12, "pattern": "^[a-z]+$"},  # patterned: left alone
        "tags": {"type": "array", "maxItems": 4, "items": {"type": "string"}},
        "unique": {"type": "array", "maxItems": 4, "uniqueItems": True, "items": {"type": "string"}}}}
    data = {"title": "Hi", "id": "abc", "tags": ["a", "b"], "unique": ["a"]}
    assert [p for p, _, _ in maxima(data, [schema])] == [("title",), ("tags",)]
    mark = fill_maxima(data, schema, random.Random(1))
    assert mark == "max_sizes:$.title,$.tags"
    assert len(data["title"]) == 12 and data["title"].startswith("Hi")
    assert data["tags"] == ["a", "b", "a", "b"] and data["id"] == "abc" and data["unique"] == ["a"]


def test_a_removal_that_would_break_the_contract_is_not_made() -> None:
    import random

    from emulators.engine.schema_checks import SchemaCheck

    # without `b`, the value would match both branches of the oneOf: invalid
    schema = {"oneOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["a", "c"],
                                                                 "not": {"required": ["b"]}}]}
    check = SchemaCheck(schema, {})
    data = {"a": 1, "b": 2, "c": 3}
    for seed in range(20):
        trial = dict(data)
        drop_optional(trial, schema, random.Random(seed), check)
        assert not check.problems(trial, "response")


@pytest.mark.parametrize("provider", ["kai", "kie", "kitta", "kreado", "voiceclone"])
def test_only_what_an_operation_documents_is_chosen(provider: str) -> None:
    from emulators import providers
    from emulators.engine.chaos_catalog import catalog_for

    catalog = catalog_for(providers.get(provider))
    for op in catalog.contract.operations:
        if op.emulator_only:
            continue
        options = catalog.of(op)
        for choice in options.errors + options.rate_limits:
            spec = op.responses.get(choice.status)
            assert spec is not None, (op.operation_id, choice)
            err = choice.build()
            media = next(m for m in spec.content.media if m.schema is not None)
            assert not media.schema.problems(err.body, "response"), (op.operation_id, choice.code, err.body)
        assert not any(c.code in catalog.rate_limit_codes for c in options.errors)
