"""Gateway behaviour shared by every endpoint: errors, request ids, token states, rate limit,
concurrency slots, usage caps, usage counters, models."""
from __future__ import annotations

import math
import threading
import time
from typing import Any

import httpx
import pytest

from tests.kai.conftest import CHAT, HELLO, MODELS, STRIP, USAGE, Api, assert_error


@pytest.mark.emulator(strict=False)  # error answers need bad requests, on purpose
def test_every_response_has_request_id_and_rate_headers(api: Api) -> None:
    ids = set()
    for r in (api.get(MODELS), api.chat(), api.chat([]), api.as_token(None).get(MODELS),
              api.get("/api/v1/nowhere")):
        assert r.headers["x-request-id"].startswith("req_")
        ids.add(r.headers["x-request-id"])
        for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert r.headers[h].isdigit()
    assert len(ids) == 5


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dGVzdA=="}])
def test_401_invalid_api_key(api: Api, headers: dict[str, str]) -> None:
    r = api.as_token(None).get(MODELS, headers=headers)
    assert_error(r, 401, "invalid_api_key", "authentication_error")


@pytest.mark.parametrize("token,code", [
    ("inactive-token", "token_inactive"), ("expired-token", "token_expired"),
    ("nosub-token", "subscription_inactive"), ("trial-ended-token", "subscription_inactive"),
])
def test_token_states_403(api: Api, token: str, code: str) -> None:
    other = api.as_token(token)
    assert_error(other.chat(), 403, code, "permission_error")
    assert_error(other.get(MODELS), 403, code, "permission_error")
    usage = other.usage()  # usage answers, and says why the token is unusable
    assert usage["status"] == "inactive"


def test_endpoint_not_allowed(api: Api) -> None:
    chat_only = api.as_token("chat-only-token")
    r = chat_only.post(STRIP, files={"file": ("a.txt", b"hello", "text/plain")})
    assert_error(r, 403, "endpoint_not_allowed", "permission_error")
    assert chat_only.chat().status_code == 200
    # the docs' example product has no strip-metadata permission
    r = api.as_token("pro-token").post(STRIP, files={"file": ("a.txt", b"hello", "text/plain")})
    assert_error(r, 403, "endpoint_not_allowed", "permission_error")


def test_expiry_happens_on_the_emulated_clock(api: Api, kai: Any) -> None:
    now = kai.emulator.clock.now()
    from emulators.engine.clock import iso
    kai.control.set_account("test-token", expires_at=iso(now + 3600))
    assert api.chat().status_code == 200
    kai.control.advance(3601)
    assert_error(api.chat(), 403, "token_expired", "permission_error")


def fresh_window(kai: Any) -> None:
    """Moves the emulated clock just past a minute boundary (rate windows are aligned to them)."""
    now = kai.emulator.clock.now()
    kai.control.advance(60 - now % 60 + 0.01)


def test_rate_limit_per_minute_with_honest_retry_after(api: Api, kai: Any) -> None:
    pro = api.as_token("pro-token")  # 10 requests per minute (the docs' example product)
    kai.control.set_account("pro-token", processing_seconds=0)
    fresh_window(kai)
    seen = []
    for i in range(10):
        r = pro.get(MODELS) if i % 2 else pro.chat()
        assert r.status_code == 200, r.text
        assert r.headers["X-RateLimit-Limit"] == "10"
        seen.append(int(r.headers["X-RateLimit-Remaining"]))
    assert seen == list(range(9, -1, -1))
    r = pro.get(USAGE)
    err = assert_error(r, 429, "rate_limit_exceeded", "rate_limit_error")
    assert "10 requests per minute" in err["message"]
    reset = int(r.headers["X-RateLimit-Reset"])
    now = kai.emulator.clock.now()
    assert reset % 60 == 0 and 0 < reset - now <= 60
    assert int(r.headers["Retry-After"]) in (math.ceil(reset - now), math.ceil(reset - now) + 1)
    assert abs(int(r.headers["retry-after-ms"]) / 1000 - (reset - now)) < 1.0
    assert r.headers["X-RateLimit-Remaining"] == "0"
    kai.control.advance(reset - now + 0.01)
    r = pro.get(MODELS)
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "9"
    # other tokens are not affected
    assert api.get(MODELS).status_code == 200


def test_concurrency_slot_is_real_on_a_socket(emulator_factory: Any) -> None:
    em = emulator_factory("kai", server=True)
    em.control.set_account("test-token", processing_seconds=2.2)
    headers = {"Authorization": "Bearer test-token"}
    results: dict[str, httpx.Response] = {}

    def slow() -> None:
        with httpx.Client(base_url=em.base_url, timeout=10) as c:
            results["first"] = c.post(CHAT, json={"messages": HELLO}, headers=headers)

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.25)
    with httpx.Client(base_url=em.base_url, timeout=10) as c:
        second = c.post(CHAT, json={"messages": HELLO}, headers=headers)
        during_get = c.get(MODELS, headers=headers)  # GETs are never limited
        usage_during = c.get(USAGE, headers=headers).json()
    worker.join()
    assert during_get.status_code == 200
    # one of the two POSTs ran, the other found the only slot busy (order-agnostic: a slow
    # machine may start the thread late)
    ok, refused = sorted([results["first"], second], key=lambda r: r.status_code)
    assert ok.status_code == 200
    err = assert_error(refused, 429, "concurrent_request_in_progress", "rate_limit_error")
    assert "max 1 concurrent" in err["message"]
    # what was left of the running request's 2.2 s: exact in ms, rounded up in whole seconds
    wait_ms = int(refused.headers["retry-after-ms"])
    assert 1200 < wait_ms <= 2200
    assert refused.headers["Retry-After"] == str(math.ceil(wait_ms / 1000))
    assert usage_during["total_requests"] in (0, 1)  # the refused one is never counted
    em.control.set_account("test-token", processing_seconds=0)
    with httpx.Client(base_url=em.base_url, timeout=10) as c:
        assert c.post(CHAT, json={"messages": HELLO}, headers=headers).status_code == 200
        usage = c.get(USAGE, headers=headers).json()
    assert (usage["total_requests"], usage["total_ok"]) == (2, 2)
    assert not em.control.violations("response")


def test_concurrency_wait_is_until_the_first_slot_frees(kai: Any) -> None:
    backend = kai.emulator.backend
    now = kai.emulator.clock.now()
    account = backend.account("multi-token", now)  # two slots
    backend.begin(account)
    backend.begin(account)
    backend.busy(account, now + 3.0)
    backend.busy(account, now + 1.5)
    assert backend.slot_wait(account, now) == pytest.approx(1.5)  # not the later 3.0
    backend.release(account, now + 1.5)
    backend.begin(account)  # a POST still decoding its upload: its end is not known yet
    assert backend.slot_wait(account, now) == pytest.approx(1.0)
    backend.busy(account, now + 2.0)
    assert backend.slot_wait(account, now) == pytest.approx(2.0)
    assert backend.slot_wait(account, now + 2.5) == pytest.approx(0.05)  # never "retry at once"
    backend.release(account, now + 3.0)
    backend.release(account, now + 2.0)
    assert backend.ends == {} and backend.pending == {}


def test_two_slots_allow_two_concurrent_posts(emulator_factory: Any) -> None:
    em = emulator_factory("kai", server=True)
    em.control.set_account("multi-token", processing_seconds=0.5)
    headers = {"Authorization": "Bearer multi-token"}
    statuses: list[int] = []

    def post() -> None:
        with httpx.Client(base_url=em.base_url, timeout=10) as c:
            statuses.append(c.post(CHAT, json={"messages": HELLO}, headers=headers).status_code)

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads[:2]:
        t.start()
    time.sleep(0.2)
    threads[2].start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 429]


@pytest.mark.emulator(strict=False)  # failed requests must not count, so some are bad on purpose
def test_usage_cap_counts_only_successes_and_resets_next_month(api: Api, kai: Any) -> None:
    pro = api.as_token("pro-token")  # cap 100, 40 used (the docs' example)
    kai.control.set_account("pro-token", processing_seconds=0, total_ok=98, rate_limit_per_minute=100)
    r = pro.chat()
    assert r.status_code == 200 and r.headers["X-Units-Remaining"] == "1"
    r = pro.chat([])  # a failed request does not count against the cap
    assert r.status_code == 400 and r.headers["X-Units-Remaining"] == "1"
    r = pro.chat()
    assert r.status_code == 200 and r.headers["X-Units-Remaining"] == "0"
    r = pro.chat()
    err = assert_error(r, 429, "usage_cap_exceeded", "rate_limit_error")
    assert r.headers["x-should-retry"] == "false"
    assert "Monthly usage cap of 100" in err["message"]
    assert r.headers["X-Units-Remaining"] == "0"
    assert pro.get(MODELS).status_code == 200  # GETs are not capped
    usage = pro.usage()
    assert (usage["total_ok"], usage["usage_remaining"], usage["monthly_usage_cap"]) == (100, 0, 100)
    # GET responses carry no units headers
    assert "X-Units-Remaining" not in pro.get(MODELS).headers
    # the next billing period starts from zero
    from datetime import datetime, timezone
    now = kai.emulator.clock.now()
    dt = datetime.fromtimestamp(now, tz=timezone.utc)
    nxt = datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=timezone.utc).timestamp()
    kai.control.advance(nxt - now + 1)
    usage = pro.usage()
    assert usage["period"] == datetime.fromtimestamp(nxt + 1, tz=timezone.utc).strftime("%Y-%m")
    assert (usage["total_requests"], usage["total_ok"], usage["usage_remaining"]) == (0, 0, 100)
    r = pro.chat()
    assert r.status_code == 200 and r.headers["X-Units-Remaining"] == "99"


def test_poor_token_has_nothing_left(api: Api) -> None:
    r = api.as_token("poor-token").chat()
    assert_error(r, 429, "usage_cap_exceeded", "rate_limit_error")
    assert r.headers["x-should-retry"] == "false"


def test_trial_units(api: Api, kai: Any) -> None:
    trial = api.as_token("trial-token")
    kai.control.set_account("trial-token", processing_seconds=0)
    usage = trial.usage()
    assert usage["is_trial"] is True and usage["trial_ends_at"]
    assert (usage["trial_usage_limit"], usage["trial_usage_remaining"]) == (20, 20)
    r = trial.chat()
    assert r.status_code == 200
    assert r.headers["X-Trial-Units-Remaining"] == "19"
    assert r.headers["X-Units-Remaining"] == "499"
    assert trial.usage()["trial_usage_remaining"] == 19
    spent = api.as_token("trial-spent-token")
    r = spent.chat()
    err = assert_error(r, 429, "usage_cap_exceeded", "rate_limit_error")
    assert "Trial usage limit of 20" in err["message"]
    assert r.headers["x-should-retry"] == "false" and r.headers["X-Trial-Units-Remaining"] == "0"
    kai.control.advance(15 * 86400)  # the trial ends
    assert_error(trial.chat(), 403, "subscription_inactive", "permission_error")
    usage = trial.usage()
    assert (usage["status"], usage["is_trial"], usage["trial_usage_remaining"]) == ("inactive", False, None)


@pytest.mark.emulator(strict=False)  # failed requests must not count, so some are bad on purpose
def test_usage_counts_live(api: Api) -> None:
    before = api.usage()
    assert before == {**before, "total_requests": 0, "total_ok": 0, "total_errors": 0,
                      "total_tokens_in": 0, "total_tokens_out": 0, "status": "active"}
    ok = api.chat().json()["usage"]
    ok2 = api.chat([{"role": "user", "content": "What is 2+2?"}]).json()["usage"]
    assert api.chat([{"role": "robot", "content": "x"}]).status_code == 400
    api.get(MODELS)
    after = api.usage()
    assert (after["total_requests"], after["total_ok"], after["total_errors"]) == (3, 2, 1)
    assert after["total_tokens_in"] == ok["prompt_tokens"] + ok2["prompt_tokens"]
    assert after["total_tokens_out"] == ok["completion_tokens"] + ok2["completion_tokens"]
    assert after["usage_remaining"] is None and after["monthly_usage_cap"] is None


def test_usage_matches_docs_example_for_pro_token(api: Api) -> None:
    usage = api.as_token("pro-token").usage()
    expected = {"status": "active", "is_free": False, "is_trial": False, "trial_ends_at": None,
                "product": "aegis-pro", "product_label": "Aegis PRO", "usage_label": "API Requests",
                "total_requests": 42, "total_ok": 40, "total_errors": 2, "total_tokens_in": 12500,
                "total_tokens_out": 3200, "rate_limit_per_minute": 10, "max_concurrent_requests": 1,
                "monthly_usage_cap": 100, "usage_remaining": 60, "trial_usage_limit": None,
                "trial_usage_remaining": None, "max_file_size": 26214400, "addons": [],
                "enabled_features": [],
                "enabled_endpoints": ["chat_completions", "audio_transcriptions", "documents_anonymize"]}
    assert {k: usage[k] for k in expected} == expected
    assert len(usage["period"]) == 7


def test_models_are_the_products(api: Api) -> None:
    ids = [m["id"] for m in api.get(MODELS).json()["data"]]
    assert ids == ["Meta-Llama-3_3-70B-Instruct", "mistral-nemo-instruct-2407", "whisper-large-v3-turbo"]
    free = api.as_token("free-token").get(MODELS).json()
    assert free["object"] == "list" and [m["id"] for m in free["data"]] == ["mistral-nemo-instruct-2407"]
    assert api.as_token("free-token").usage()["is_free"] is True


@pytest.mark.emulator(strict=False)  # paths and methods the API does not have, on purpose
def test_unknown_path_and_method(api: Api) -> None:
    r = api.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    r = api.get(CHAT)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_maintenance_switch_gives_503(api: Api, kai: Any) -> None:
    kai.control.set_settings(maintenance=True)
    r = api.chat()
    assert_error(r, 503, "service_unavailable", "server_error")
    kai.control.reset()
    kai.control.set_account("test-token", processing_seconds=0)
    assert api.chat().status_code == 200


def test_fail_marker_gives_500_and_counts_as_error(api: Api) -> None:
    r = api.chat([{"role": "user", "content": "please EMULATOR_FAIL now"}])
    assert_error(r, 500, "internal_error", "server_error")
    usage = api.usage()
    assert (usage["total_errors"], usage["total_ok"]) == (1, 0)


def test_state_snapshot_roundtrip(api: Api, kai: Any) -> None:
    api.chat()
    state = kai.control.state()
    kai.control.reset()
    assert api.usage()["total_requests"] == 0
    kai.control.restore(state)
    assert api.usage()["total_requests"] == 1
    assert kai.control.state()["backend"] == state["backend"]


def test_control_account_view_and_validation(kai: Any) -> None:
    view = kai.control.account("pro-token")
    assert view["product"] == "aegis-pro" and view["usage_remaining"] == 60
    with pytest.raises(RuntimeError):
        kai.control.set_account("pro-token", enabled_endpoints=["teleport"])
    created = kai.control.set_account("new-token", rate_limit_per_minute=5)
    assert created["rate_limit_per_minute"] == 5 and created["status"] == "active"


def test_cap_reservations_hold_for_concurrent_posts(emulator_factory: Any) -> None:
    """With one unit left and two slots, only one of two simultaneous POSTs may run."""
    em = emulator_factory("kai", server=True)
    em.control.set_account("multi-token", processing_seconds=0.4, monthly_usage_cap=5, total_ok=4)
    headers = {"Authorization": "Bearer multi-token"}
    responses: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=em.base_url, timeout=10) as c:
            responses.append(c.post(CHAT, json={"messages": HELLO}, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in responses) == [200, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "usage_cap_exceeded"
    with httpx.Client(base_url=em.base_url) as c:
        usage = c.get(USAGE, headers=headers).json()
    assert (usage["total_ok"], usage["usage_remaining"]) == (5, 0)
