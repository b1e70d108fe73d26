from __future__ import annotations

from typing import Iterator

import pytest

from tests.fuzz.harness import Fuzzer


def report(fuzzer: Fuzzer) -> None:
    """What the run reached (shown with -s): cases, error answers, statuses."""
    print(f"\n[fuzz {fuzzer.provider}] {fuzzer.cases} cases, {fuzzer.errors} error answers, "
          f"statuses {dict(sorted(fuzzer.statuses.items()))}")
    for path, (ok, errors) in sorted(fuzzer.outcomes.items(), key=lambda kv: -sum(kv[1]))[:30]:
        print(f"    {path}: {ok} ok, {errors} errors")


@pytest.fixture(scope="module")
def closing() -> Iterator[list[Fuzzer]]:
    """Fuzzers made by a module's fixture, closed (and reported) at its end."""
    made: list[Fuzzer] = []
    yield made
    for fuzzer in made:
        report(fuzzer)
        fuzzer.close()
