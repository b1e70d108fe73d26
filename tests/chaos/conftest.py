from __future__ import annotations

from typing import Any, Callable

import httpx
import pytest

from emulators.pytest_plugin import RunningEmulator

BEARER = {"Authorization": "Bearer test-token"}


def chaotic(journal: list[dict[str, Any]]) -> list[str]:
    """The chaos marks of a journal, in order (None for answers chaos left alone)."""
    return [e.get("chaos") for e in journal]


@pytest.fixture
def chaos_emulator(emulator_factory: Callable[..., RunningEmulator]) -> Callable[..., RunningEmulator]:
    """An emulator with chaos set: `chaos_emulator("kie", seed=1, rate=1, kinds=["error"])`."""

    def make(provider: str, **settings: Any) -> RunningEmulator:
        return emulator_factory(provider, chaos={"seed": 1, "max_delay_ms": 20, **settings})

    return make


def kie_create(client: httpx.Client, prompt: str = "A lighthouse at dusk") -> httpx.Response:
    return client.post("/api/v1/jobs/createTask", headers=BEARER,
                       json={"model": "nano-banana-2", "input": {"prompt": prompt}})
