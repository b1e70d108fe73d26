"""Chaos mode catches a naive client within a bounded number of examples; a careful one passes.

For each provider, two clients run the same realistic flow (read the balance, list with
pagination, create a job, poll it to its end, fetch the result). The naive one trusts every
answer: it ignores Retry-After, assumes jobs succeed within seconds, takes the first page as
everything, reads optional fields as if they were always there. The careful one waits as told,
retries server errors, follows the pagination fields, polls with a deadline, and checks what it
reads. Each example runs the flow under one chaos seed on a fresh account.

A flow behaves when it ends with an outcome that agrees with the emulator's own state, or raises
the careful clients' ApiError on an answer chaos made a documented refusal of (an error, an empty
page, a required answer part left out). Anything else is misbehaviour: a crash, an outcome the
state contradicts, giving up on an answer that said when to retry.
"""
from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emulators.pytest_plugin import RunningEmulator
from tests.chaos.clients import kai, kie, kitta, kreado, voiceclone
from tests.chaos.clients.common import ApiError, Outcome

CLIENTS: dict[str, ModuleType] = {"kai": kai, "kie": kie, "kitta": kitta, "kreado": kreado, "voiceclone": voiceclone}
EXAMPLES = 16  # the bound within which chaos must catch the naive client
RATE = 0.3
EXPLAINED = ("error", "page_empty", "page_last", "optional_absent")  # chaos that may end a careful flow
_tokens = itertools.count(1)


class Harness:
    def __init__(self, em: RunningEmulator, module: ModuleType) -> None:
        self.em, self.module = em, module
        self.http = em.client()
        self.runs = self.finished = 0  # flows run; flows that went to their end
        self.kinds: set[str] = set()  # the kinds of chaos the flows met

    def fresh_token(self) -> str:
        token = f"chaos-client-{next(_tokens)}"
        self.em.control.set_account(token, **self.module.FUNDING)
        return token

    def run(self, flow: Callable[..., Outcome], seed: int | None) -> str | None:
        """None when the flow behaved; else what went wrong."""
        token = self.fresh_token()
        if seed is None:
            self.em.control.clear_chaos()
        else:
            self.em.control.set_chaos(seed, rate=RATE, tokens=[token], max_delay_ms=1)
        start = len(self.em.emulator.journal.entries)
        self.runs += 1
        try:
            outcome = flow(self.http, token, self.em.control.advance)
        except ApiError as err:
            last = self.last_answer(start)
            if last is not None and str(last.get("chaos") or "").split(":")[0] in EXPLAINED:
                return None
            return f"gave up on an answer chaos did not make final ({err}; last answer: {last})"
        except Exception as exc:  # noqa: BLE001 - any crash is what the test looks for
            return f"crashed: {type(exc).__name__}: {exc}"
        finally:
            self.em.control.clear_chaos()
            self.kinds |= {str(e.get("chaos")).split(":")[0]
                           for e in self.em.emulator.journal.as_json()[start:] if e.get("chaos")}
        self.finished += 1
        problems = self.module.judge(self.em, outcome)
        return "; ".join(problems) or None

    def last_answer(self, start: int) -> dict[str, Any] | None:
        """The last answer of this flow (flows run one at a time, files aside)."""
        mine = [e for e in self.em.emulator.journal.as_json()[start:] if not e["path"].startswith("/files/")]
        return mine[-1] if mine else None


@pytest.fixture(params=sorted(CLIENTS))
def harness(request: pytest.FixtureRequest, emulator_factory: Callable[..., RunningEmulator]) -> Harness:
    # (audit off: hundreds of requests per test; tests/chaos/test_kinds.py runs chaos under audit)
    return Harness(emulator_factory(request.param, audit=False), CLIENTS[request.param])


def examples(max_examples: int = EXAMPLES) -> Any:
    return settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def test_without_chaos_both_clients_behave(harness: Harness) -> None:
    assert harness.run(harness.module.naive, None) is None
    assert harness.run(harness.module.careful, None) is None


def test_chaos_catches_the_naive_client(harness: Harness) -> None:
    found: list[str] = []

    @examples()
    @given(st.integers(0, 2**32 - 1))
    def naive_flow(seed: int) -> None:
        problem = harness.run(harness.module.naive, seed)
        if problem:
            found.append(problem)
            raise AssertionError(problem)

    with pytest.raises(AssertionError):
        naive_flow()
    assert found and harness.runs <= EXAMPLES


def test_the_naive_client_is_caught_for_what_it_assumes(harness: Harness) -> None:
    """Over the examples, each assumption of the naive flow trips on the chaos made for it."""
    problems = [harness.run(harness.module.naive, seed) for seed in range(EXAMPLES)]
    assert sum(1 for p in problems if p) >= EXAMPLES // 4, problems
    assert all(p is None or p.startswith(("crashed", "gave up", "claims")) for p in problems)


def test_the_careful_client_passes(harness: Harness) -> None:
    @examples()
    @given(st.integers(0, 2**32 - 1))
    def careful_flow(seed: int) -> None:
        problem = harness.run(harness.module.careful, seed)
        assert problem is None, problem

    careful_flow()
    # not a vacuous pass: a fair share of the flows went to their end, through chaos of several kinds
    assert harness.finished >= harness.runs // 4, (harness.finished, harness.runs)
    assert "rate_limited" in harness.kinds and len(harness.kinds) >= 3, harness.kinds
