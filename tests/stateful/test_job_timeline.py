"""A job's end as the scheduler sees it (`finishes_at`) and as its state shows it (`state_at`)
agree to the last bit: a job found due is over. They once disagreed by a rounding bit (the end
added up in one order, the state walked in another), and a job the scheduler popped a bit
early was dropped for good: shown FAILED on the next poll, never settled, never refunded."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.engine.jobs import Job
from tests.stateful.machinery import FROZEN_AT, Harness

ARIA = "clsys00000000000000000001"


@settings(max_examples=300, deadline=None)
@given(created=st.floats(0, 4e9), durations=st.lists(st.floats(0, 1e5), min_size=1, max_size=4),
       extra=st.sampled_from([0.0, 5e-324, 1e-9, 1e-7, 2.5e-7]), fail=st.booleans())
def test_a_due_job_is_over(created: float, durations: list[float], extra: float, fail: bool) -> None:
    job = Job("j", "k", "t", created, tuple(f"phase{i}" for i in range(len(durations))), tuple(durations),
              "FAILED" if fail else "DONE")
    for now in (job.finishes_at, created + sum(durations), FROZEN_AT + (created - FROZEN_AT + sum(durations)),
                job.finishes_at + extra, job.finishes_at - extra):
        over = job.state_at(now) == job.end_state
        assert over == (job.finishes_at <= now), (now, job.finishes_at, job.state_at(now))


def test_advancing_by_a_speech_duration_settles_it() -> None:
    """voiceclone, the clock moved by exactly a failing speech's 2.03 s: refunded."""
    h = Harness("voiceclone")
    try:
        auth = {"Authorization": "Bearer test-token"}
        r = h.send("POST", "/api/v1/tts", headers=auth, json={"text": "EMULATOR_FAIL x", "voiceId": ARIA})
        speech = r.json()["speechId"]
        h.control("POST", "clock", {"advance_seconds": 2.0 + 0.002 * 15})  # as settings.yaml computes it
        h.control("POST", "clock", {"advance_seconds": 60})
        assert h.send("GET", f"/api/v1/tts/{speech}", headers=auth).json()["speech"]["status"] == "FAILED"
        assert h.emulator.state.jobs[speech].settled
        assert [e.kind for e in h.emulator.state.ledger.values() if e.ref == speech] == ["charge", "refund"]
        assert h.send("GET", "/api/v1/credits", headers=auth).json()["credits"] == 150000
    finally:
        h.close()
