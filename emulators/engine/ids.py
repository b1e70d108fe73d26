"""Identifiers the emulators hand out (task, file and request ids): random, unique, and cheap.

They come from one private generator seeded from the system once (and again in a forked child),
not from `secrets`: a system call per id cost a job-creating request three of them, and these
ids guard nothing (tokens and webhook keys still come from `secrets`). Private, because test
frameworks seed the global `random` (Hypothesis does, per example), which would make ids repeat.
"""
from __future__ import annotations

import os
import random

_generator = random.Random()


def _reseed() -> None:
    _generator.seed(os.urandom(32))


_reseed()
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_reseed)

_bits = _generator.getrandbits


def hex_id(nbytes: int) -> str:
    """`nbytes` random bytes as lower-case hex (what secrets.token_hex(nbytes) looks like)."""
    return f"{_bits(nbytes * 8):0{nbytes * 2}x}"


def uuid4() -> str:
    """A random (version 4) UUID in its canonical text form."""
    value = (_bits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
