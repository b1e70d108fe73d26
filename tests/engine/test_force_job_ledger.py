"""Forcing a job's final state through the control API moves money as that ending would: a
success forced to a failure is refunded, a refunded failure forced to a success pays again (or
is refused, changing nothing, when the account cannot pay), and an ended job does not go back
to a running state. For every provider whose jobs cost money."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulators.pytest_plugin import RunningEmulator

BEARER = {"Authorization": "Bearer test-token"}


def _voiceclone(em: RunningEmulator) -> str:
    r = em.client().post("/api/v1/tts", headers=BEARER,
                         json={"text": "force me", "voiceId": "clsys00000000000000000001"})
    return str(r.json()["speechId"])


def _kie(em: RunningEmulator) -> str:
    r = em.client().post("/api/v1/jobs/createTask", headers=BEARER,
                         json={"model": "google/nano-banana", "input": {"prompt": "a red fox"}})
    assert r.json()["code"] == 200, r.text
    return str(r.json()["data"]["taskId"])


def _kitta(em: RunningEmulator) -> str:
    r = em.client().post("/api/open/lip-sync/create", headers=BEARER,
                         json={"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"})
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["id"])


def _kreado(em: RunningEmulator) -> str:
    from tests.kreado.conftest import DOC_AUDIO

    r = em.client().post("/apis/open/video/v3/submitSystemLipTask", headers={"apiToken": "test-token"},
                         json={"taskName": "forced", "videoRatio": 2, "digitalHuman": {"digitalHumanId": 9},
                               "audio": {"audioUrl": DOC_AUDIO}})
    assert r.json()["code"] == "200", r.text
    return str(r.json()["data"]["jobId"])


@dataclass
class Case:
    provider: str
    make_job: Callable[[RunningEmulator], str]
    balance_field: str


CASES = [Case("voiceclone", _voiceclone, "credits"), Case("kie", _kie, "credits"),
         Case("kitta", _kitta, "credits"), Case("kreado", _kreado, "balance")]


def _balance(em: RunningEmulator, case: Case) -> float:
    return float(em.control.account("test-token")[case.balance_field])


def _ledger(em: RunningEmulator, ref: str) -> list[tuple[str, int]]:
    return [(e.kind, e.amount) for e in em.emulator.state.ledger.values() if e.ref == ref]


def _force(em: RunningEmulator, job: str, state: Any) -> httpx.Response:
    return em.client().post(f"/_emulator/jobs/{job}", json={"state": state})


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
def test_forcing_an_ended_job_moves_money_as_that_ending_would(emulator_factory: Any, case: Case) -> None:
    em = emulator_factory(case.provider)
    seeded = _balance(em, case)
    job = case.make_job(em)
    job_kind = em.emulator.provider.job_kinds[em.emulator.state.jobs[job].kind]
    success, failure = job_kind.success, job_kind.failure
    paid = _balance(em, case)
    assert paid < seeded
    em.control.advance(3600)  # it ends in success on its own
    assert _ledger(em, job) == [("charge", _ledger(em, job)[0][1])]

    assert _force(em, job, failure).status_code == 200
    assert _balance(em, case) == seeded, "a success forced into failure is refunded"
    assert _force(em, job, failure).status_code == 200
    assert _balance(em, case) == seeded, "and only once"

    assert _force(em, job, success).status_code == 200
    assert _balance(em, case) == paid, "a refunded failure forced into success pays again"
    assert [k for k, _ in _ledger(em, job)] == ["charge", "refund", "charge"]

    r = _force(em, job, job_kind.phases[0])
    assert r.status_code == 400 and "ended" in r.json()["error"], "an ended job does not start again"
    assert em.control.state()["engine"]["jobs"][job]["forced_state"] == success


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
def test_a_failure_forced_into_success_is_refused_when_the_account_cannot_pay(
        emulator_factory: Any, case: Case) -> None:
    em = emulator_factory(case.provider)
    job = case.make_job(em)
    job_kind = em.emulator.provider.job_kinds[em.emulator.state.jobs[job].kind]
    assert _force(em, job, job_kind.failure).status_code == 200  # refunded
    account = em.emulator.backend.state.accounts["test-token"]
    for name in ("wallet", "credits"):  # empty whichever wallet paid for the job
        wallet = getattr(account, name, None)
        if wallet is not None and hasattr(wallet, "pools"):
            with em.emulator.lock, em.emulator.store.unit():
                em.emulator.backend.state.accounts.touch("test-token")
                for pool in wallet.pools:
                    wallet.pools[pool] = 0
    before = em.control.state()
    r = _force(em, job, job_kind.success)
    assert r.status_code == 400 and "cannot pay" in r.json()["error"]
    assert em.control.state() == before, "a refused force changes nothing"
