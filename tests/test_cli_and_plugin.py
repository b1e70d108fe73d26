"""`emulators serve` as users start it, and the pytest plugin's fixtures."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

AUTH = {"Authorization": "Bearer test-token"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "emulators.cli", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait(url: str, proc: subprocess.Popen[str], timeout: float = 20) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            time.sleep(0.02)
    raise AssertionError("emulator did not answer")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> str:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in out, out  # a clean stop
    return out


def test_serve_one_provider_on_a_chosen_port_and_print_how_to_use_it() -> None:
    port = _free_port()
    proc = _start("voiceclone", "--port", str(port))
    try:
        _wait(f"http://127.0.0.1:{port}/_emulator/health", proc)
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/credits", headers=AUTH)
        assert r.status_code == 200 and r.json()["credits"] == 150000
    finally:
        out = _stop(proc)
    assert f"http://127.0.0.1:{port}/api/v1" in out and "test-token" in out and "VOICECLONE_BASE_URL" in out


def test_serve_refuses_bad_arguments() -> None:
    for args, message in ((["nosuch"], "unknown provider"),
                          (["voiceclone", "voiceclone", "--port", "1"], "--port goes with exactly one provider")):
        r = subprocess.run([sys.executable, "-m", "emulators.cli", "serve", *args], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_state_file_keeps_state_across_restarts(tmp_path: Path, sig: int) -> None:
    port = _free_port()
    state = tmp_path / "state.json"
    base = f"http://127.0.0.1:{port}"
    proc = _start("voiceclone", "--port", str(port), "--state-file", str(state))
    try:
        _wait(base + "/_emulator/health", proc)
        speech = httpx.post(base + "/api/v1/tts", headers=AUTH,
                            json={"text": "keep me", "voiceId": "clsys00000000000000000001"}).json()
        httpx.post(base + "/_emulator/clock", json={"advance_seconds": 60})
    finally:
        _stop(proc, sig)  # at once: nothing may wait for a periodic save
    assert state.exists()
    proc = _start("voiceclone", "--port", str(port), "--state-file", str(state))
    try:
        _wait(base + "/_emulator/health", proc)
        got = httpx.get(base + f"/api/v1/tts/{speech['speechId']}", headers=AUTH).json()["speech"]
        assert got["status"] == "COMPLETED"
        assert httpx.get(got["audioUrl"]).status_code == 200
        assert httpx.get(base + "/api/v1/credits", headers=AUTH).json()["credits"] == 150000 - 7
    finally:
        _stop(proc)


@pytest.mark.emulator("voiceclone", server=True)
def test_emulator_fixture_on_a_real_socket(emulator) -> None:
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.api_url.endswith("/api/v1")
    r = httpx.get(emulator.api_url + "/credits", headers=AUTH)
    assert r.status_code == 200
    emulator.control.set_account("test-token", regular=0, permanent=5)
    assert httpx.get(emulator.api_url + "/credits", headers=AUTH).json()["credits"] == 5


@pytest.mark.emulator("voiceclone")
def test_emulator_fixture_in_process(emulator) -> None:
    r = emulator.client().get("/api/v1/credits", headers=AUTH)
    assert r.status_code == 200
    before = emulator.control.clock()["offset_seconds"]
    emulator.control.advance(10)
    assert emulator.control.clock()["offset_seconds"] == before + 10


def test_async_client_in_process(emulator_factory) -> None:
    import asyncio

    em = emulator_factory("voiceclone")

    async def go() -> int:
        async with em.async_client() as client:
            return (await client.get("/api/v1/credits", headers=AUTH)).status_code

    assert asyncio.run(go()) == 200


def test_fixtures_folder_replaces_the_seed(emulator_factory, tmp_path: Path) -> None:
    import shutil

    import yaml

    from emulators.engine.provider import FIXTURES_DIR

    shutil.copytree(FIXTURES_DIR / "voiceclone", tmp_path / "voiceclone")
    accounts = tmp_path / "voiceclone" / "accounts.yaml"
    data = yaml.safe_load(accounts.read_text())
    data["accounts"] = {"my-token": {"userId": "me", "regular": 7, "permanent": 0, "monthlyCredits": 7,
                                     "rateLimit": 5, "rateWindowSeconds": 60}}
    accounts.write_text(yaml.safe_dump(data))
    em = emulator_factory("voiceclone", fixtures_dir=tmp_path)
    client = em.client()
    assert client.get("/api/v1/credits", headers={"Authorization": "Bearer my-token"}).json()["credits"] == 7
    assert client.get("/api/v1/credits", headers=AUTH).status_code == 401
    em.control.reset()  # a reset goes back to these fixtures, not the shipped ones
    assert client.get("/api/v1/credits", headers={"Authorization": "Bearer my-token"}).status_code == 200


def test_factory_fails_a_test_whose_emulator_answered_off_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        def test_off_contract(emulator_factory):
            em = emulator_factory("voiceclone")
            em.emulator.backend.credits = lambda account: {"credits": "lots"}  # breaks the shape
            assert em.client().get("/api/v1/credits", headers={"Authorization": "Bearer test-token"}).status_code == 200

        def test_unchecked(emulator_factory):
            em = emulator_factory("voiceclone", contract_check=False)
            em.emulator.backend.credits = lambda account: {"credits": "lots"}
            assert em.client().get("/api/v1/credits", headers={"Authorization": "Bearer test-token"}).status_code == 200
    ''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*responses that do not match the contract*credits*"])
