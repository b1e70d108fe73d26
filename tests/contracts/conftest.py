from __future__ import annotations

from typing import Callable, Iterator

import pytest

from emulators import providers
from emulators.server import ThreadedServer
from tests.contracts.drift import Drifting, Rewrite


@pytest.fixture
def drifting() -> Iterator[Callable[..., str]]:
    """`drifting(rewrite, provider_id="voiceclone")` -> the base URL of a real socket serving it."""
    servers: list[ThreadedServer] = []

    def start(rewrite: Rewrite, provider_id: str = "voiceclone") -> str:
        server = ThreadedServer(Drifting(provider_id, rewrite)).start()
        servers.append(server)
        return server.url + providers.get(provider_id).api_prefix

    yield start
    for server in servers:
        server.stop()
