"""pytest plugin (registered through the `pytest11` entry point): running emulators as fixtures.

    def test_tts(emulator_factory):
        em = emulator_factory("voiceclone")              # in-process (ASGI), no socket
        r = em.client().get("/api/v1/credits", headers={"Authorization": "Bearer test-token"})
        em.control.advance(60)

    @pytest.mark.emulator("voiceclone", server=True)     # a real socket on a free port
    def test_with_any_client(emulator):
        requests.get(emulator.api_url + "/credits", ...)

    @pytest.mark.emulator("kie", chaos=42)               # chaos mode, seed 42 (see README)
    def test_my_client_copes(emulator): ...

`emulator` reads its provider from the `emulator` marker or an indirect parameter.

Strict by default: every request the test's clients send must match the contract too, or the
test fails with one line per violation (request, field, the contract's rule). A test that sends
a bad request on purpose, to see the provider refuse it, says so:

    with em.allow_bad_requests():                          # just these requests
        em.client().post("/api/v1/tts", json={"text": ""}, headers=...)

    @pytest.mark.emulator("voiceclone", strict=False)      # the whole test (also for emulator_factory)
"""
from __future__ import annotations

import warnings
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest


PLUGIN_CHAOS_DELAY_MS = 100  # tests stay fast: chaos's slow answers are short unless asked
STARTED = pytest.StashKey[list["RunningEmulator"]]()  # the emulators a test's factory started


class Control:
    """The `/_emulator/` control API, spoken over HTTP exactly as any user would."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._client.request(method, f"/_emulator/{path}", json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"control {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def reset(self) -> None:
        self._call("POST", "reset")

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "clock")

    def advance(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "clock", {"advance_seconds": seconds})

    def account(self, token: str) -> dict[str, Any]:
        return self._call("GET", f"accounts/{token}")

    def set_account(self, token: str, **fields: Any) -> dict[str, Any]:
        return self._call("PUT", f"accounts/{token}", fields)

    def settings(self) -> dict[str, Any]:
        return self._call("GET", "settings")

    def set_settings(self, **switches: Any) -> dict[str, Any]:
        return self._call("PUT", "settings", switches)

    def add_fault(self, **rule: Any) -> str:
        return str(self._call("POST", "faults", rule)["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def journal(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "journal")["entries"])

    def violations(self, side: str | None = None) -> list[dict[str, Any]]:
        """Journal entries whose exchange did not match the contract (on `side`, "request" or
        "response", when given); each violation is `{"side": "request" | "response", "where":
        <JSON path, header:<name>, query:<name>, status, ...>, "message", "rule"?: <JSON pointer
        into the contract>, "value"?: <what was found>}`."""
        return [e for e in self.journal() if any(side in (None, v["side"]) for v in e["violations"])]

    def chaos(self) -> dict[str, Any]:
        return self._call("GET", "chaos")

    def set_chaos(self, seed: int, **options: Any) -> dict[str, Any]:
        """Chaos mode on: `rate` (0..1), `tokens`, `max_delay_ms`, `kinds` (see README)."""
        return self._call("PUT", "chaos", {"seed": seed, **options})

    def clear_chaos(self) -> dict[str, Any]:
        return self._call("DELETE", "chaos")

    def clear_journal(self) -> None:
        self._call("DELETE", "journal")

    def force_job(self, job_id: str, state: Any) -> dict[str, Any]:
        return self._call("POST", f"jobs/{job_id}", {"state": state})

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def restore(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", "state", state)


class RunningEmulator:
    def __init__(self, emulator: Any, base_url: str, client_factory: Callable[[], httpx.Client],
                 *, check_responses: bool = True, strict: bool = False) -> None:
        self.emulator = emulator  # the engine object, for white-box tests
        self.check_responses = check_responses
        self.strict = strict
        self.provider = emulator.provider.id
        self.base_url = base_url
        self.api_url = base_url + emulator.provider.api_prefix
        self._client_factory = client_factory
        self._clients: list[httpx.Client] = []
        self.control = Control(self.client())

    @property
    def app(self) -> Any:
        return self.emulator

    def client(self, **kwargs: Any) -> httpx.Client:
        """A synchronous httpx client bound to the emulator (socket or in-process)."""
        client = self._client_factory(**kwargs)
        self._clients.append(client)
        return client

    def allow_bad_requests(self) -> AbstractContextManager[None]:
        """Requests sent inside the block may break the contract (they are still journaled): for
        tests that send a bad request on purpose, to see the provider refuse it."""
        from emulators.engine import strict

        return strict.allowance(self.emulator)

    def unexpected_violations(self, take: bool = False) -> list[str]:
        """Strict mode: one line per request violation sent outside `allow_bad_requests`
        (`take`: and forget them, once they have been reported)."""
        from emulators.engine import strict

        if not self.strict:
            return []
        found = strict.layer(self.emulator).unexpected
        lines = list(found or ())
        if take and found:
            found.clear()
        return lines

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx.AsyncClient calling the ASGI app directly (no socket)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.emulator),
                                 base_url=self.base_url, **kwargs)

    def close(self) -> None:
        for client in self._clients:
            client.close()


def start_emulator(provider_id: str, *, server: bool = False, fixtures_dir: Path | None = None,
                   contract_check: bool = True, audit: bool = True,
                   strict: bool = False, chaos: int | dict[str, Any] | None = None
                   ) -> tuple[RunningEmulator, Callable[[], None]]:
    """Starts one emulator; returns it and a function that stops it. `audit` checks after every
    request that each change of state went through the store (a test fails otherwise);
    `contract_check` checks every answer against the contract, `strict` every request. `chaos`:
    a seed, or the body of `PUT /_emulator/chaos` (slow answers last at most 100 ms unless
    `max_delay_ms` says otherwise)."""
    from emulators import providers
    from emulators.engine import strict as strict_mode
    from emulators.engine.chaos import parse_settings
    from emulators.engine.emulator import Emulator
    from emulators.server import ThreadedServer

    emulator = Emulator(providers.get(provider_id), fixtures_dir=fixtures_dir,
                        contract_check=contract_check or strict, audit=audit)
    if strict:
        strict_mode.enable(emulator, responses=contract_check).unexpected = []
    checks = {"check_responses": contract_check, "strict": strict}
    if chaos is not None:
        options = {"seed": chaos} if isinstance(chaos, int) else dict(chaos)
        emulator.chaos.configure(parse_settings({"max_delay_ms": PLUGIN_CHAOS_DELAY_MS, **options}))
    if server:
        threaded = ThreadedServer(emulator).start()
        url = threaded.url
        running = RunningEmulator(emulator, url, lambda **kw: httpx.Client(base_url=url, **kw), **checks)

        def stop() -> None:
            running.close()
            threaded.stop()
            emulator.blobs.discard()
    else:
        with warnings.catch_warnings():  # starlette now prefers httpx2; httpx is what we ship
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient

        url = "http://testserver"
        portals: list[TestClient] = []

        def factory(**kw: Any) -> httpx.Client:
            client = TestClient(emulator, base_url=url, raise_server_exceptions=False, **kw)
            portals.append(client)
            return client

        running = RunningEmulator(emulator, url, factory, **checks)

        def stop() -> None:
            running.close()
            emulator.blobs.discard()
    return running, stop


@pytest.fixture
def emulator_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., RunningEmulator]]:
    """`emulator_factory(provider_id, server=False, fixtures_dir=None, strict=True, chaos=None)`
    -> RunningEmulator.

    After the test, every response the emulators gave must have matched the provider's contract
    (pass `contract_check=False` for an emulator whose answers are not to be checked), and so must
    every request the test sent (strict; `strict=False` here or in the test's
    `@pytest.mark.emulator(..., strict=False)` marker turns that off)."""
    started: list[tuple[RunningEmulator, Callable[[], None]]] = []
    marker = request.node.get_closest_marker("emulator")
    default_strict = bool(marker.kwargs.get("strict", True)) if marker is not None else True

    def make(provider_id: str, **kwargs: Any) -> RunningEmulator:
        kwargs.setdefault("strict", default_strict)
        running, stop = start_emulator(provider_id, **kwargs)
        started.append((running, stop))
        request.node.stash.setdefault(STARTED, []).append(running)  # judged after the test's call
        return running

    yield make
    violations = [e for running, _ in started if running.check_responses
                  for e in running.emulator.journal.as_json()
                  if any(v["side"] == "response" for v in e["violations"])]
    bad_requests = [line for running, _ in started for line in running.unexpected_violations(take=True)]
    unaudited = [f for running, _ in started for f in running.emulator.audit_failures]
    for _, stop in reversed(started):
        stop()
    assert not violations, "responses that do not match the contract: " + "; ".join(map(describe, violations[:5]))
    assert not bad_requests, bad_requests_message(bad_requests)
    assert not unaudited, f"state changed without going through the store: {unaudited[:5]}"


def bad_requests_message(lines: list[str]) -> str:
    more = f"\n  ... and {len(lines) - 10} more" if len(lines) > 10 else ""
    return ("requests that do not match the contract (strict mode; a test that sends them on purpose says so "
            "with `with em.allow_bad_requests():` or @pytest.mark.emulator(..., strict=False)):\n  "
            + "\n  ".join(lines[:10]) + more)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test whose client sent a request off the contract fails (in its call phase, so pytest
    names it FAILED); what fixtures send while tearing down is judged at teardown."""
    result = yield
    started: list[RunningEmulator] = item.stash.get(STARTED, [])
    lines = [line for running in started for line in running.unexpected_violations(take=True)]
    if lines:
        raise AssertionError(bad_requests_message(lines))
    return result


def describe(entry: dict[str, Any], side: str = "response") -> str:
    """One journal entry with contract violations (those of `side`), as a line a person reads."""
    problems = ", ".join(f"{v['side']} {v['where']}: {v['message']}" + (f" (rule {v['rule']})" if v.get("rule") else "")
                         for v in entry["violations"] if v["side"] == side)
    query = f"?{entry['query']}" if entry.get("query") else ""
    return f"{entry['method']} {entry['path']}{query} -> {entry['status']}: {problems}"


@pytest.fixture
def emulator(request: pytest.FixtureRequest, emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    """One emulator; provider from `@pytest.mark.emulator("id", server=...)` or an indirect param."""
    marker = request.node.get_closest_marker("emulator")
    if hasattr(request, "param"):
        provider_id, kwargs = request.param, {}
    elif marker is not None and marker.args:
        provider_id, kwargs = marker.args[0], dict(marker.kwargs)
    else:
        raise pytest.UsageError('the emulator fixture needs @pytest.mark.emulator("<provider>")')
    return emulator_factory(provider_id, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator(provider, server=False, strict=True, chaos=None): which "
                            "emulator the `emulator` fixture runs; strict=False: requests off the contract do "
                            "not fail the test (also for emulator_factory); chaos: a seed or chaos settings")
