"""`emulators serve`: the banner, the exposure warning, the flags handed to each emulator,
--profile, and stopping cleanly on Ctrl-C and SIGTERM."""
from __future__ import annotations

import signal
import socket
from typing import Any

import httpx
import pytest

from emulators import cli, providers, server
from emulators.engine import accesslog
from emulators.engine.emulator import Emulator
from tests.processes import free_port, serve, stop, wait_until_healthy

AUTH = {"Authorization": "Bearer test-token"}


# -- the banner ------------------------------------------------------------------------------
def _all_default() -> list[tuple[Any, int]]:
    return [(providers.get(i), providers.get(i).default_port) for i in providers.ids()]


def test_banner_gives_each_provider_its_url_token_export_line_and_dashboard() -> None:
    text = cli.banner(_all_default(), "127.0.0.1")
    lines = text.splitlines()
    assert "export OPENAI_BASE_URL=http://127.0.0.1:8801/api/v1 OPENAI_API_KEY=test-token" in text
    expected = {"kai": ("http://127.0.0.1:8801/api/v1", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
                "kie": ("http://127.0.0.1:8802", "KIE_BASE_URL", "KIE_API_KEY"),
                "kitta": ("http://127.0.0.1:8803", "KITTA_BASE_URL", "KITTA_API_KEY"),
                "kreado": ("http://127.0.0.1:8804", "KREADO_BASE_URL", "KREADO_API_KEY"),
                "voiceclone": ("http://127.0.0.1:8805/api/v1", "VOICECLONE_BASE_URL", "VOICECLONE_API_KEY")}
    for pid, (base, url_var, key_var) in expected.items():
        first = next(i for i, line in enumerate(lines) if line.startswith(pid + " "))
        assert lines[first].split()[1] == base and "token: test-token" in lines[first]
        assert lines[first + 1].split() == ["export", f"{url_var}={base}", f"{key_var}=test-token"]
        port = base.split(":")[2][:4]
        assert lines[first + 2].split() == ["dashboard:", f"http://127.0.0.1:{port}/_emulator/ui"]
    assert "control API (/_emulator/) and dashboards are open" in lines[-1]


def test_banner_on_a_wildcard_address_prints_urls_that_work_here() -> None:
    text = cli.banner([(providers.get("kie"), 8802)], "0.0.0.0", control_token=True, access_log="json")
    assert "0.0.0.0" not in text and "export KIE_BASE_URL=http://127.0.0.1:8802 " in text
    assert "need 'Authorization: Bearer <--control-token>'" in text and "access log on stderr: json" in text
    assert "http://[::1]:8805/api/v1" in cli.banner([(providers.get("voiceclone"), 8805)], "::1")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "emulators.lan"])
def test_a_non_loopback_host_warns_that_the_control_api_is_open(host: str) -> None:
    warning = cli.exposure_warning(host, None)
    assert warning and host in warning and "control API" in warning and "--control-token" in warning
    assert cli.exposure_warning(host, "s3cret") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_do_not_warn(host: str) -> None:
    assert cli.exposure_warning(host, None) is None


# -- the flags reach each emulator (no sockets: listening and serving are replaced) ------------------
class FakeServing:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emulators: list[Emulator] = []
        self.ports: list[int] = []
        self.host = ""
        monkeypatch.setattr(server, "listen", lambda host, port: ("socket", host, port))
        monkeypatch.setattr(server, "serve_all", self.serve_all)
        monkeypatch.setattr(server, "run", lambda main: None)

    def serve_all(self, emulators: list[Emulator], host: str, ports: list[int], state_file: Any,
                  sockets: list[Any]) -> None:
        assert sockets == [("socket", host, port) for port in ports]
        self.emulators, self.host, self.ports = emulators, host, ports


def test_serve_hands_control_token_allowed_hosts_and_access_log_to_every_emulator(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeServing(monkeypatch)
    rc = cli.main(["serve", "kie", "voiceclone", "--host", "0.0.0.0", "--control-token", "T0ken",
                   "--allow-host", "app", "--allow-host", "hooks.example", "--log-format", "json"])
    assert rc == 0 and fake.ports == [8802, 8805] and fake.host == "0.0.0.0"
    for em in fake.emulators:
        assert em.control_token == "T0ken"
        assert em.allowed_hosts == ["app", "hooks.example"]
        assert (log := accesslog.current(em)) is not None and log.fmt == "json"
    out, err = capsys.readouterr()
    assert "export KIE_BASE_URL=http://127.0.0.1:8802 KIE_API_KEY=test-token" in out
    assert "T0ken" not in out + err and "WARNING" not in err  # guarded: no warning


def test_serve_quiet_turns_the_access_log_off_and_an_open_host_warns(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeServing(monkeypatch)
    assert cli.main(["serve", "kai", "--host", "0.0.0.0", "--port", "9999", "--quiet"]) == 0
    (em,) = fake.emulators
    assert fake.ports == [9999] and accesslog.current(em) is None
    assert em.control_token is None and em.allowed_hosts == []
    out, err = capsys.readouterr()
    assert "access log on stderr: off" in out
    assert "WARNING: listening on 0.0.0.0" in err and "control API" in err


def test_a_taken_port_is_reported_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "voiceclone", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in err and out == ""


# -- --profile -----------------------------------------------------------------------------------
def test_profile_applies_to_providers_that_have_profiles_and_names_the_others(
        capsys: pytest.CaptureFixture[str]) -> None:
    kie, voiceclone = Emulator(providers.get("kie")), Emulator(providers.get("voiceclone"))
    assert cli.apply_profile([kie, voiceclone], "live") == ["kie"]
    assert kie.backend.settings_view()["profile"] == "live"
    kie.reset()  # a launch profile is where a reset returns to
    assert kie.backend.settings_view()["profile"] == "live"
    assert "--profile live applies to kie; voiceclone has no profiles" in capsys.readouterr().err
    with pytest.raises(cli.UsageError, match="kie: profile must be one of"):
        cli.apply_profile([kie], "nosuch")


def test_profile_with_no_provider_that_has_profiles_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeServing(monkeypatch)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", "voiceclone", "kreado", "--profile", "live"])
    assert exit_.value.code == 2 and fake.emulators == []  # refused before serving
    assert "--profile: voiceclone, kreado have no profiles" in capsys.readouterr().err


# -- stopping ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_stop_serve_cleanly(sig: int) -> None:
    port = free_port()
    proc = serve("voiceclone", "--port", str(port))
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/_emulator/health", proc)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/credits", headers=AUTH).status_code == 200
    finally:
        code, out, err = stop(proc, sig)
    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err
    assert f"export VOICECLONE_BASE_URL=http://127.0.0.1:{port}/api/v1 VOICECLONE_API_KEY=test-token" in out
