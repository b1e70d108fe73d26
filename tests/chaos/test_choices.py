"""What chaos chooses: a function of (seed, the request's number for its token, the operation)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from emulators.pytest_plugin import RunningEmulator
from tests.chaos.conftest import BEARER, chaotic

Make = Callable[..., RunningEmulator]


def run_sequence(em: RunningEmulator, token: str = "test-token", n: int = 12) -> list[tuple[int, Any]]:
    """A fixed sequence of kie requests; returns (status, chaos mark) per request."""
    client = em.client()
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    for i in range(n):
        before = len(em.emulator.journal.entries)
        if i % 3 == 0:
            r = client.get("/api/v1/chat/credit", headers=headers)
        elif i % 3 == 1:
            r = client.post("/api/v1/jobs/createTask", headers=headers,
                            json={"model": "nano-banana-2", "input": {"prompt": f"picture {i}"}})
        else:
            r = client.get("/api/v1/jobs/recordInfo", params={"taskId": "nope"}, headers=headers)
        entry = em.emulator.journal.as_json()[before]
        out.append((r.status_code, entry.get("chaos")))
        em.control.advance(10)  # every chaotic Retry-After is over
    return out


def test_the_same_seed_gives_the_same_answers_to_the_same_requests(chaos_emulator: Make) -> None:
    first = run_sequence(chaos_emulator("kie", seed=5, rate=0.6))
    again = run_sequence(chaos_emulator("kie", seed=5, rate=0.6))
    assert first == again
    assert sum(1 for _, mark in first if mark) >= 3  # chaos did meddle
    assert run_sequence(chaos_emulator("kie", seed=6, rate=0.6)) != first


def test_the_choice_does_not_depend_on_time(chaos_emulator: Make) -> None:
    early = run_sequence(chaos_emulator("kie", seed=21, rate=0.7))
    late_em = chaos_emulator("kie", seed=21, rate=0.7)
    late_em.control.advance(86400 * 30)
    assert run_sequence(late_em) == early


def test_a_reset_starts_the_sequence_again(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=3, rate=0.7)
    first = run_sequence(em)
    em.control.reset()
    assert run_sequence(em) == first


def test_each_token_has_its_own_sequence(chaos_emulator: Make) -> None:
    """Another token's requests in between change nothing for this one."""
    alone = run_sequence(chaos_emulator("kie", seed=8, rate=0.7))
    em = chaos_emulator("kie", seed=8, rate=0.7)
    client = em.client()
    other = {"Authorization": "Bearer poor-token"}
    ours = []
    for i in range(12):
        client.get("/api/v1/chat/credit", headers=other)
        before = len(em.emulator.journal.entries)
        if i % 3 == 0:
            r = client.get("/api/v1/chat/credit", headers=BEARER)
        elif i % 3 == 1:
            r = client.post("/api/v1/jobs/createTask", headers=BEARER,
                            json={"model": "nano-banana-2", "input": {"prompt": f"picture {i}"}})
        else:
            r = client.get("/api/v1/jobs/recordInfo", params={"taskId": "nope"}, headers=BEARER)
        ours.append((r.status_code, em.emulator.journal.as_json()[before].get("chaos")))
        em.control.advance(10)
    assert ours == alone


def test_rate_zero_never_meddles_and_rate_one_always_does(chaos_emulator: Make) -> None:
    calm = chaos_emulator("kie", seed=1, rate=0)
    assert all(mark is None for _, mark in run_sequence(calm))
    wild = run_sequence(chaos_emulator("kie", seed=1, rate=1), n=30)
    for i, (status, mark) in enumerate(wild):
        # every request got a plan, except the one that waited out a chaotic 429; a plan that
        # edits answers finds nothing to edit in an error
        assert mark or (i and wild[i - 1][1].startswith("rate_limited")) or status >= 400, wild[: i + 1]


def test_only_the_listed_tokens(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1, tokens=["poor-token"])
    assert all(mark is None for _, mark in run_sequence(em))  # test-token: untouched
    assert any(mark for _, mark in run_sequence(em, token="poor-token"))


def test_files_and_the_control_api_are_never_chaotic(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1, kinds=["error"])
    client = em.client()
    em.control.clear_chaos()
    upload = client.post("/api/file-base64-upload", headers=BEARER,
                         json={"base64Data": "aGVsbG8=", "uploadPath": "t", "fileName": "a.txt"})
    url = upload.json()["data"]["downloadUrl"]
    em.control.set_chaos(1, rate=1, kinds=["error"])
    for _ in range(5):
        assert client.get(url).content == b"hello"
        assert em.control.health()["status"] == "ok"
    assert all(e.get("chaos") is None for e in em.control.journal())


def test_unknown_paths_are_never_chaotic(chaos_emulator: Make) -> None:
    em = chaos_emulator("kie", seed=1, rate=1)
    with em.allow_bad_requests():  # a path no contract has, on purpose
        r = em.client().get("/api/v1/no/such/path", headers=BEARER)
    assert r.status_code == 404 and em.control.journal()[-1].get("chaos") is None


@pytest.mark.parametrize("provider", ["kai", "kitta", "kreado", "voiceclone"])
def test_every_provider_marks_its_chaotic_answers(chaos_emulator: Make, provider: str) -> None:
    paths = {"kai": ("GET", "/api/v1/models"), "kitta": ("GET", "/api/open/profile"),
             "kreado": ("GET", "/apis/open/user/v3/getInfo"), "voiceclone": ("GET", "/api/v1/credits")}
    headers = {"apiToken": "test-token"} if provider == "kreado" else BEARER
    em = chaos_emulator(provider, seed=2, rate=1)
    client = em.client()
    for _ in range(10):
        client.request(*paths[provider], headers=headers)
        em.control.advance(10)
    marks = chaotic(em.control.journal())
    assert sum(1 for m in marks if m) >= 5  # (a request that waited out a chaotic 429 passes untouched)
