"""Cases the fuzzing found, kept as plain tests (each names the defect it pins)."""
from __future__ import annotations

from typing import Any

import pytest

SEEDED_FILES = {"voiceclone": "clsys00000000000000000001-sample.mp3", "kreado": "emo-6.mp4"}


@pytest.mark.parametrize("provider", sorted(SEEDED_FILES))
def test_head_on_a_file_url_matches_the_contract(emulator_factory: Any, provider: str) -> None:
    """The engine answers HEAD on /files/{id} (as its GET, without the body); the contracts list
    only the GET, and the contract check called every such answer "not in the contract". The
    factory fails the test on any violation."""
    em = emulator_factory(provider)
    client = em.client()
    head = client.head(f"/files/{SEEDED_FILES[provider]}")
    get = client.get(f"/files/{SEEDED_FILES[provider]}")
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert client.head("/files/no-such-file.mp3").status_code == 404
    assert em.control.violations() == []
