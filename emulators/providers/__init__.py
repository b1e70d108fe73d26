"""Provider packages. Each exposes `PROVIDER` from its `provider` module; they are found by
folder, so adding a provider means adding its folder (plus contract and fixtures), nothing else."""
from __future__ import annotations

import importlib
from pathlib import Path

from emulators.engine.provider import Provider

# design.md's order: also the order `emulators serve` starts them in.
ORDER = ("kai", "kie", "kitta", "kreado", "voiceclone")


def ids() -> list[str]:
    """Every provider that has a package here, without importing any of them."""
    here = Path(__file__).parent
    found = {p.parent.name for p in here.glob("*/provider.py")}
    return [i for i in ORDER if i in found] + sorted(found - set(ORDER))


def get(provider_id: str) -> Provider:
    if provider_id not in ids():
        raise KeyError(f"unknown provider {provider_id!r}; known: {', '.join(ids())}")
    provider: Provider = importlib.import_module(f"{__name__}.{provider_id}.provider").PROVIDER
    return provider
