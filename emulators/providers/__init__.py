"""Provider packages. Each exposes `PROVIDER` from its `provider` module; they are found by
name, so adding a provider means adding its folder (plus contract and fixtures), nothing else."""
from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from emulators.engine.provider import Provider

# design.md's order: also the order `emulators serve` starts them in.
ORDER = ("kai", "kie", "kitta", "kreado", "voiceclone")


@cache
def available() -> dict[str, Provider]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if m.ispkg}
    ids = [i for i in ORDER if i in found] + sorted(found - set(ORDER))
    return {i: importlib.import_module(f"{__name__}.{i}.provider").PROVIDER for i in ids}


def get(provider_id: str) -> Provider:
    providers = available()
    if provider_id not in providers:
        raise KeyError(f"unknown provider {provider_id!r}; known: {', '.join(providers)}")
    return providers[provider_id]
