"""Turning chaos mode on and off: the control API, `emulators serve --chaos`, the plugin option."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from emulators import cli
from emulators.engine.chaos import DEFAULT_RATE, KINDS, parse_settings
from emulators.pytest_plugin import RunningEmulator
from tests.chaos.conftest import BEARER
from tests.test_cli_serve import FakeServing


def test_chaos_is_off_until_set_and_the_control_api_sets_reads_and_clears_it(
        emulator_factory: Callable[..., RunningEmulator]) -> None:
    em = emulator_factory("kie")
    assert em.control.chaos() == {"enabled": False}
    got = em.control.set_chaos(7, rate=0.5, tokens=["test-token"])
    assert got == {"enabled": True, "seed": 7, "rate": 0.5, "tokens": ["test-token"], "max_delay_ms": 2000.0,
                   "kinds": list(KINDS)}
    assert em.control.chaos() == got
    assert em.control.clear_chaos() == {"enabled": False}
    assert em.emulator.chaos.settings is None


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "seed must be an integer"),
    ({"seed": "1"}, "seed must be an integer"),
    ({"seed": True}, "seed must be an integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"seed": 1, "rate": 1.5}, "rate must be a number from 0 to 1"),
    ({"seed": 1, "rate": -0.1}, "rate must be a number from 0 to 1"),
    ({"seed": 1, "rate": "0.5"}, "rate must be a number from 0 to 1"),
    ({"seed": 1, "tokens": "test-token"}, "tokens must be a list"),
    ({"seed": 1, "tokens": [""]}, "tokens must be a list"),
    ({"seed": 1, "kinds": ["earthquake"]}, "unknown kinds"),
    ({"seed": 1, "kinds": []}, "kinds must be a non-empty list"),
    ({"seed": 1, "max_delay_ms": 10**9}, "max_delay_ms must be a number"),
    ({"seed": 1, "colour": "red"}, "unknown fields"),
    ([1], "chaos settings must be a JSON object"),
])
def test_bad_settings_are_refused_and_change_nothing(emulator_factory: Callable[..., RunningEmulator],
                                                     body: Any, reason: str) -> None:
    em = emulator_factory("voiceclone")
    em.control.set_chaos(3)
    before = em.control.chaos()
    r = em.client().put("/_emulator/chaos", json=body)
    assert r.status_code == 400 and reason in r.json()["error"]
    assert em.control.chaos() == before


def test_defaults_and_a_bare_seed() -> None:
    settings = parse_settings(5)
    assert (settings.seed, settings.rate, settings.tokens, settings.kinds) == (5, DEFAULT_RATE, None, KINDS)
    assert parse_settings({"seed": 1, "kinds": ["slow", "error"]}).kinds == ("error", "slow")  # canonical order


def test_chaos_is_no_part_of_the_state_and_a_reset_keeps_it(emulator_factory: Callable[..., RunningEmulator]) -> None:
    em = emulator_factory("kie")
    em.control.set_chaos(9, rate=0.3)
    state = em.control.state()
    assert "chaos" not in str(state.keys()) and "chaos" not in state["engine"]
    em.control.restore(state)
    em.control.reset()
    assert em.control.chaos()["seed"] == 9 and em.control.chaos()["rate"] == 0.3


@pytest.mark.emulator("kie", chaos=11)
def test_the_plugin_marker_takes_a_seed(emulator: RunningEmulator) -> None:
    settings = emulator.control.chaos()
    assert settings["seed"] == 11 and settings["max_delay_ms"] == 100  # the plugin keeps tests fast


def test_the_factory_takes_settings(emulator_factory: Callable[..., RunningEmulator]) -> None:
    em = emulator_factory("voiceclone", chaos={"seed": 1, "rate": 0.5, "max_delay_ms": 5})
    assert em.control.chaos()["rate"] == 0.5 and em.control.chaos()["max_delay_ms"] == 5
    with pytest.raises(ValueError, match="rate"):
        emulator_factory("voiceclone", chaos={"seed": 1, "rate": 2})


# -- emulators serve --chaos SEED [--chaos-rate R] ----------------------------------------------------------
def test_serve_chaos_sets_every_emulator(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeServing(monkeypatch)
    assert cli.main(["serve", "kie", "kreado", "--chaos", "42", "--chaos-rate", "0.1"]) == 0
    for em in fake.emulators:
        assert em.chaos.settings is not None
        assert (em.chaos.settings.seed, em.chaos.settings.rate) == (42, 0.1)
    out, _ = capsys.readouterr()
    assert "chaos mode: seed 42, rate 0.1" in out


def test_serve_without_chaos_leaves_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeServing(monkeypatch)
    assert cli.main(["serve", "kie"]) == 0
    assert fake.emulators[0].chaos.settings is None


@pytest.mark.parametrize(("argv", "message"), [
    (["--chaos-rate", "0.5"], "--chaos-rate goes with --chaos SEED"),
    (["--chaos", "1", "--chaos-rate", "1.5"], "--chaos: rate must be a number from 0 to 1"),
])
def test_serve_chaos_usage_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  argv: list[str], message: str) -> None:
    FakeServing(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "kie", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_chaotic_answer_over_a_real_socket(emulator_factory: Callable[..., RunningEmulator]) -> None:
    em = emulator_factory("kie", server=True, chaos={"seed": 1, "rate": 1, "kinds": ["error"]})
    r = em.client().get("/api/v1/chat/credit", headers=BEARER)
    assert r.status_code >= 400 and r.json()["code"] == r.status_code
    assert em.control.journal()[-1]["chaos"] == f"error:{r.status_code}:{r.status_code}"
