"""Small real files for the valid requests (made once, cached)."""
from __future__ import annotations

from functools import cache

from emulators.media.audio import synthesize
from emulators.media.image import make_image


@cache
def wav() -> bytes:
    return synthesize("Hello from the fuzzer", "wav")


@cache
def mp3() -> bytes:
    return synthesize("Hello from the fuzzer", "mp3")


@cache
def png() -> bytes:
    return make_image(64, 48, fmt="png")
