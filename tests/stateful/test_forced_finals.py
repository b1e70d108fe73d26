"""Forcing a job that already ended into the other ending must keep the ledger in step with the
job's state: COMPLETED forced to FAILED refunds the charge (once); FAILED (refunded) forced to
COMPLETED charges it again, or is refused (4xx, nothing changes).

`Emulator.force_job` does so (the machines force finished jobs too: `reforce_finals`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from tests.stateful.machinery import Harness

def _voiceclone(h: Harness, fail: bool) -> str:
    r = h.send("POST", "/api/v1/tts", headers={"Authorization": "Bearer test-token"},
               json={"text": ("EMULATOR_FAIL " if fail else "") + "hello", "voiceId": "clsys00000000000000000001"})
    assert r.status_code == 200, r.text
    return str(r.json()["speechId"])


def _kie(h: Harness, fail: bool) -> str:
    r = h.send("POST", "/api/v1/jobs/createTask", headers={"Authorization": "Bearer test-token"},
               json={"model": "google/nano-banana", "input": {"prompt": ("EMULATOR_FAIL " if fail else "") + "a cat"}})
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["taskId"])


def _kitta(h: Harness, fail: bool) -> str:
    r = h.send("POST", "/api/open/lip-sync/create", headers={"Authorization": "Bearer test-token"},
               json={"video_url": "https://cdn.example.com/face.mp4" + ("?EMULATOR_FAIL" if fail else ""),
                     "audio_url": "https://cdn.example.com/voice.mp3"})
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["id"])


def _kreado(h: Harness, fail: bool) -> str:
    r = h.send("POST", "/apis/open/subtitle_removal/v3/submitTask", headers={"apiToken": "test-token"},
               json={"taskName": "EMULATOR_FAIL" if fail else "ok",
                     "srcFileUrl": "https://aigc-cdn.kreadoai.com/web_static/image/videoSubtitleRemove/sy.mp4"})
    assert r.json()["code"] == "200", r.text
    return str(r.json()["data"]["jobId"])


# provider -> (create a job, its success and failure states)
CASES: dict[str, tuple[Callable[[Harness, bool], str], Any, Any]] = {
    "voiceclone": (_voiceclone, "COMPLETED", "FAILED"),
    "kie": (_kie, "success", "fail"),
    "kitta": (_kitta, "completed", "failed"),
    "kreado": (_kreado, 3, 4),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def seeded(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = Harness(request.param)
    yield h
    h.close()


@pytest.fixture
def harness(seeded: Harness) -> Harness:
    seeded.reset()
    return seeded


def _net(h: Harness, ref: str) -> int:
    """What the ledger holds against `ref`: charges minus refunds."""
    return sum(e.amount if e.kind == "charge" else -e.amount for e in h.emulator.state.ledger.values() if e.ref == ref)


def _end(h: Harness, job_id: str) -> Any:
    h.control("POST", "clock", {"advance_seconds": 3600})
    return h.emulator.state.jobs[job_id].state_at(h.now())


def test_a_completed_job_forced_to_fail_is_refunded(harness: Harness) -> None:
    create, success, failure = CASES[harness.emulator.provider.id]
    job_id = create(harness, False)
    assert _end(harness, job_id) == success and _net(harness, job_id) > 0
    harness.control("POST", f"jobs/{job_id}", {"state": failure})
    assert _net(harness, job_id) == 0


def test_a_failed_job_forced_to_complete_is_charged_again_or_refused(harness: Harness) -> None:
    create, success, failure = CASES[harness.emulator.provider.id]
    job_id = create(harness, True)
    charged = next(e.amount for e in harness.emulator.state.ledger.values() if e.ref == job_id)
    assert _end(harness, job_id) == failure and _net(harness, job_id) == 0
    r = harness.send("POST", f"/_emulator/jobs/{job_id}", json={"state": success})
    if r.status_code == 200:
        assert _net(harness, job_id) == charged
    else:
        assert 400 <= r.status_code < 500
        assert harness.emulator.state.jobs[job_id].state_at(harness.now()) == failure and _net(harness, job_id) == 0


def test_fixtures_are_what_the_cases_expect(harness: Harness) -> None:
    """The cases above fail for the known reason, not because a job cannot be made."""
    create, success, failure = CASES[harness.emulator.provider.id]
    assert _end(harness, create(harness, False)) == success
    assert _end(harness, create(harness, True)) == failure
