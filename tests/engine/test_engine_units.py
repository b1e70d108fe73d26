"""The engine's pieces on their own, without HTTP."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.engine.clock import Clock, iso, parse_iso, start_of_next_month
from emulators.engine.faults import FaultTable, parse_rule
from emulators.engine.jobs import JobKind, carries_fail_marker
from emulators.engine.journal import redact
from emulators.engine.ratelimit import ConcurrencySlots, RateLimiter, WindowRule
from emulators.engine.serde import from_json, to_json

KIND = JobKind("task", phases=(1, 2), success=3, failure=4, terminal=(5,))


def test_job_state_is_a_function_of_creation_time_and_clock() -> None:
    job = KIND.new_job("j", "tok", 1000.0, [5, 10], fail=False)
    assert [job.state_at(t) for t in (1000, 1004.9, 1005, 1014.9, 1015, 10**9)] == [1, 1, 2, 2, 3, 3]
    assert job.finishes_at == 1015
    assert job.progress_at(1007.5) == pytest.approx(0.5)
    assert job.entered_at(2) == 1005 and job.entered_at(3) == 1015 and job.entered_at(4) is None
    failing = KIND.new_job("k", "tok", 0.0, [1, 1], fail=True)
    assert failing.state_at(2) == 4
    assert KIND.is_terminal(5) and not KIND.is_terminal(2)
    with pytest.raises(ValueError):
        KIND.new_job("x", "t", 0, [1], fail=False)


def test_fail_marker_is_found_anywhere() -> None:
    assert carries_fail_marker("a", {"input": {"urls": ["http://x/EMULATOR_FAIL.mp4"]}})
    assert not carries_fail_marker("emulator_fail", 5, None, {"k": ["v"]})


def test_fixed_windows_are_aligned_and_reset_on_time() -> None:
    limiter = RateLimiter()
    rule = WindowRule("*", 2, 60)
    d1, d2, d3 = (limiter.hit("t", rule, 125.0) for _ in range(3))
    assert (d1.allowed, d1.remaining, d1.reset_at) == (True, 1, 180.0)
    assert (d2.allowed, d2.remaining) == (True, 0)
    assert (d3.allowed, d3.retry_after) == (False, 55.0)
    assert not limiter.hit("t", rule, 179.99).allowed
    assert limiter.hit("t", rule, 180.0).allowed
    assert limiter.hit("other", rule, 125.0).allowed  # per subject


def test_cooldown_extends_on_retry_when_the_rule_says_so() -> None:
    limiter = RateLimiter()
    rule = WindowRule("submit", 1, 1, extend_on_reject=True)
    assert limiter.hit("t", rule, 10.1).allowed
    blocked = limiter.hit("t", rule, 10.5)
    assert not blocked.allowed and blocked.reset_at == 11.5
    again = limiter.hit("t", rule, 11.2)  # a retry during the cooldown prolongs it
    assert not again.allowed and again.reset_at == pytest.approx(12.2)
    assert limiter.hit("t", rule, 12.3).allowed
    assert limiter.peek("t", rule, 12.4).remaining == 0


def test_concurrency_slots() -> None:
    slots = ConcurrencySlots()
    assert slots.acquire("t", 2) and slots.acquire("t", 2) and not slots.acquire("t", 2)
    slots.release("t")
    assert slots.acquire("t", 2)
    slots.release("t"), slots.release("t"), slots.release("t")
    assert slots.busy == {}


def test_fault_rules_match_and_run_out() -> None:
    table = FaultTable()
    table.add(parse_rule({"method": "post", "path": "/api/*", "token": "a", "status": 500, "times": 2}))
    assert table.take("GET", "/api/x", "a") is None
    assert table.take("POST", "/api/x", "b") is None
    assert table.take("POST", "/api/x", "a") is not None
    assert table.take("POST", "/api/y", "a") is not None
    assert table.take("POST", "/api/y", "a") is None and table.rules == []
    with pytest.raises(ValueError):
        parse_rule({"status": True})


def test_clock_and_time_helpers() -> None:
    clock = Clock()
    t0 = clock.now()
    clock.advance(86400)
    assert clock.now() - t0 >= 86400
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.advance(float("nan"))
    assert iso(0) == "1970-01-01T00:00:00.000Z" and parse_iso("1970-01-01T00:00:01.500Z") == 1.5
    assert iso(start_of_next_month(parse_iso("2024-12-31T23:59:59Z"))) == "2025-01-01T00:00:00.000Z"
    assert iso(start_of_next_month(parse_iso("2024-02-01T00:00:00Z"))) == "2024-03-01T00:00:00.000Z"


def test_redaction_never_shows_the_whole_token() -> None:
    assert redact("test-token") == "te***" and redact("poor-token") == "po***"
    assert redact("abc") == "***" and redact(None) is None


@dataclass
class Inner:
    n: int
    tags: list[str] = field(default_factory=list)


@dataclass
class Outer:
    name: str
    inner: Inner
    by_id: dict[str, Inner]
    maybe: float | None = None


@given(st.builds(Outer, name=st.text(), inner=st.builds(Inner, n=st.integers(), tags=st.lists(st.text())),
                 by_id=st.dictionaries(st.text(), st.builds(Inner, n=st.integers())),
                 maybe=st.none() | st.floats(allow_nan=False, allow_infinity=False)))
def test_serde_round_trips(value: Outer) -> None:
    assert from_json(Outer, to_json(value)) == value


@dataclass
class Node:  # a record holding one of its own kind
    name: str
    parent: Node | None = None


def test_serde_round_trips_a_record_that_holds_its_own_kind() -> None:
    chain = Node("c", Node("b", Node("a")))
    assert to_json(chain) == {"name": "c", "parent": {"name": "b", "parent": {"name": "a", "parent": None}}}
    assert from_json(Node, to_json(chain)) == chain
    with pytest.raises(ValueError):
        from_json(Node, {"name": "c", "parent": {"name": 1}})


def test_serde_refuses_wrong_types() -> None:
    with pytest.raises(ValueError):
        from_json(Outer, {"name": 1, "inner": {"n": 1}, "by_id": {}})
    with pytest.raises(ValueError):
        from_json(Inner, {"n": "1"})
    for number in (float("inf"), float("-inf"), float("nan")):  # JSON has no such numbers
        with pytest.raises(ValueError):
            from_json(Outer, {"name": "a", "inner": {"n": 1}, "by_id": {}, "maybe": number})


def test_expired_file_records_are_forgotten_on_the_clock() -> None:
    from emulators import providers
    from emulators.engine.emulator import Emulator

    em = Emulator(providers.get("voiceclone"))
    now = em.clock.now()
    blob, size = em.store_blob(b"abc")
    keep = em.add_upload(blob, size, "mp3")
    soon = em.add_upload(blob, size, "mp3", expires_at=now + 10, content_type="audio/x-test")
    later = em.add_generated({"kind": "image", "width": 4, "height": 4}, "png")
    em.expire_file(later.id, now + 20)
    assert soon.content_type == "audio/x-test"
    em.clock.advance(15)
    em.settle(em.clock.now())
    assert set(em.state.files) >= {keep.id, later.id} and soon.id not in em.state.files
    em.clock.advance(10)
    em.settle(em.clock.now())
    assert keep.id in em.state.files and later.id not in em.state.files
    em.blobs.discard()


def test_progress_of_a_job_pinned_to_a_phase() -> None:
    job = KIND.new_job("p", "tok", 0.0, [5, 15], fail=False)
    job.forced_state, job.forced_at = 2, 1.0
    assert job.progress_at(100.0) == pytest.approx(0.25)  # phase 2 starts a quarter of the way in
    job.forced_state = 3
    assert job.progress_at(100.0) == 1.0


def test_ids_do_not_repeat_when_the_global_random_is_seeded_again() -> None:
    """Hypothesis seeds `random` per example: the emulators' ids must not follow it."""
    import random
    import uuid

    from emulators.engine.ids import hex_id, uuid4

    random.seed(0)
    first = [hex_id(16), uuid4()]
    random.seed(0)
    second = [hex_id(16), uuid4()]
    assert first[0] != second[0] and first[1] != second[1]
    assert len(first[0]) == 32 and int(first[0], 16) >= 0
    parsed = uuid.UUID(first[1])
    assert str(parsed) == first[1] and parsed.version == 4 and parsed.variant == uuid.RFC_4122
