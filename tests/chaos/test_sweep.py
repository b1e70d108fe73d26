"""Whatever chaos chooses, for any valid request of any operation, the answer is one the
contract documents (the plugin checks every answer after the test) and is marked."""
from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from emulators.pytest_plugin import RunningEmulator
from emulators.testing import operations, requests
from tests.testing.test_strategies import overrides_for


@pytest.mark.parametrize("provider", ["kai", "kie", "kitta", "kreado", "voiceclone"])
def test_chaotic_answers_stay_documented(emulator_factory: Callable[..., RunningEmulator], provider: str) -> None:
    em = emulator_factory(provider, audit=False)  # chaos is set per example, once the needed files exist
    if provider == "kai":
        em.control.set_account("test-token", processing_seconds=0)
    client = em.client()
    ops = operations(provider)
    strategies = {op: requests(provider, op, **overrides_for(provider, op, em)) for op in ops}
    kinds: set[str] = set()

    @settings(max_examples=3, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data(), st.integers(0, 2**32))
    def sweep(data: st.DataObject, seed: int) -> None:
        em.control.set_chaos(seed, rate=1, max_delay_ms=1)
        for op in ops:
            request = data.draw(strategies[op])
            answer = request.send(client)
            assert answer.status_code < 500 or em.control.journal()[-1].get("chaos", "").startswith("error:")
            mark = em.control.journal()[-1].get("chaos")
            if mark:
                kinds.add(mark.split(":")[0])
            em.control.advance(3600)  # every Retry-After and queue of this example is over

    sweep()
    assert {"error", "rate_limited", "slow"} <= kinds
