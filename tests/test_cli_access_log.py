"""The access log: one line per provider request (plain or JSON), tokens redacted, no query
strings, no control calls; on by default in `emulators serve`, off with --quiet and in the
pytest plugin's emulators."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from emulators import providers
from emulators.engine import accesslog
from emulators.engine.emulator import Emulator
from emulators.engine.journal import redact
from tests.processes import free_port, serve, stop, wait_until_healthy

AUTH = {"Authorization": "Bearer test-token"}
PLAIN = re.compile(r"^(\S+) (\S+) (\S+) (\d+) (\d+\.\d)ms token=(\S+) violations=(\d+)$")

with warnings.catch_warnings():  # starlette prefers httpx2; the plugin silences the same warning
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _traffic(client: Any) -> None:
    """Four provider requests (one off-contract) and two control calls, which are not logged."""
    assert client.get("/api/v1/credits", headers=AUTH).status_code == 200
    assert client.get("/api/v1/credits?apiKey=secret-in-query").status_code == 401
    assert client.get("/api/v1/cred%0Ait s", headers=AUTH).status_code == 404
    client.get("/_emulator/health")
    client.get("/_emulator/journal")
    client.app.backend.credits = lambda account: {"credits": "lots"}  # breaks the contract's shape
    assert client.get("/api/v1/credits", headers={"Authorization": "Bearer poor-token"}).status_code == 200


def _logged(tmp_path: Path, fmt: accesslog.LogFormat) -> str:
    em = Emulator(providers.get("voiceclone"), contract_check=True)
    path = tmp_path / "access.log"
    with path.open("wb") as sink, TestClient(em, raise_server_exceptions=False) as client:
        accesslog.enable(em, accesslog.AccessLog(sink.fileno(), fmt))
        _traffic(client)
    em.blobs.discard()
    return path.read_text()


def test_plain_lines_say_provider_method_path_status_time_redacted_token_and_violations(tmp_path: Path) -> None:
    text = _logged(tmp_path, "plain")
    lines = text.splitlines()
    assert len(lines) == 4 and all(PLAIN.match(line) for line in lines), text
    fields = [PLAIN.match(line).groups() for line in lines]  # type: ignore[union-attr]
    shown = redact("test-token")
    assert [f[:4] for f in fields] == [("voiceclone", "GET", "/api/v1/credits", "200"),
                                       ("voiceclone", "GET", "/api/v1/credits", "401"),
                                       ("voiceclone", "GET", "/api/v1/cred%0Ait%20s", "404"),
                                       ("voiceclone", "GET", "/api/v1/credits", "200")]
    assert [f[5] for f in fields] == [shown, "-", shown, redact("poor-token")]
    assert [int(f[6]) for f in fields[:3]] == [0, 0, 0] and int(fields[3][6]) >= 1
    assert all(float(f[4]) >= 0 for f in fields)
    assert "test-token" not in text and "poor-token" not in text and "secret-in-query" not in text


def test_json_lines_carry_the_same_fields(tmp_path: Path) -> None:
    text = _logged(tmp_path, "json")
    entries = [json.loads(line) for line in text.splitlines()]
    assert len(entries) == 4
    for entry in entries:
        assert set(entry) == {"time", "provider", "method", "path", "status", "ms", "token", "violations"}
        assert entry["provider"] == "voiceclone" and entry["method"] == "GET"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
        assert isinstance(entry["ms"], float) and entry["ms"] >= 0
    assert [(e["path"], e["status"], e["token"]) for e in entries] == [
        ("/api/v1/credits", 200, redact("test-token")), ("/api/v1/credits", 401, None),
        ("/api/v1/cred\nit s", 404, redact("test-token")), ("/api/v1/credits", 200, redact("poor-token"))]
    assert [e["violations"] > 0 for e in entries] == [False, False, False, True]
    assert "test-token" not in text and "secret-in-query" not in text


def test_the_plugin_emulators_log_nothing(emulator_factory: Any, capfd: pytest.CaptureFixture[str]) -> None:
    em = emulator_factory("voiceclone")
    assert accesslog.current(em.emulator) is None
    assert em.client().get("/api/v1/credits", headers=AUTH).status_code == 200
    assert capfd.readouterr().err == ""


def test_a_closed_stderr_turns_the_log_off_instead_of_failing_requests(tmp_path: Path) -> None:
    em = Emulator(providers.get("voiceclone"))
    log = accesslog.AccessLog(fd=10_000)  # no such descriptor
    accesslog.enable(em, log)
    with TestClient(em, raise_server_exceptions=False) as client:
        assert client.get("/api/v1/credits", headers=AUTH).status_code == 200
        assert client.get("/api/v1/credits", headers=AUTH).status_code == 200
    assert log.fd == -1
    em.blobs.discard()


# -- `emulators serve` writes it on stderr -------------------------------------------------------
@pytest.mark.parametrize("flags", [[], ["--log-format", "json"], ["--quiet"]], ids=["plain", "json", "quiet"])
def test_serve_logs_each_provider_request_on_stderr(flags: list[str]) -> None:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve("kie", "--port", str(port), *flags)
    try:
        wait_until_healthy(base + "/_emulator/health", proc)
        assert httpx.get(base + "/api/v1/chat/credit", headers=AUTH).status_code == 200
        httpx.get(base + "/api/v1/chat/credit?token=hidden")
    finally:
        code, out, err = stop(proc)
    assert code == 0
    lines = err.splitlines()
    if flags == ["--quiet"]:
        assert lines == [] and "access log on stderr: off" in out
    elif flags:
        entries = [json.loads(line) for line in lines]
        assert [(e["provider"], e["path"], e["status"], e["token"]) for e in entries] == [
            ("kie", "/api/v1/chat/credit", 200, redact("test-token")), ("kie", "/api/v1/chat/credit", 401, None)]
    else:
        assert [PLAIN.match(line).group(1, 2, 3, 4, 6) for line in lines] == [  # type: ignore[union-attr]
            ("kie", "GET", "/api/v1/chat/credit", "200", redact("test-token")),
            ("kie", "GET", "/api/v1/chat/credit", "401", "-")]
    assert "hidden" not in err and "test-token" not in err
