"""Strict mode for users: the pytest plugin fails a test whose client sent a request off the
contract (naming the request, the field and the rule) unless the test says it meant to, and
`emulators serve --strict` writes each violation on stderr and in the journal."""
from __future__ import annotations

import httpx
import pytest

from tests.processes import free_port, serve, stop, wait_until_healthy

AUTH = {"Authorization": "Bearer test-token"}


def test_the_plugin_fails_a_test_whose_client_breaks_the_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import pytest

        AUTH = {"Authorization": "Bearer test-token"}
        BAD = {"text": "Hello", "voiceId": "clsys00000000000000000001", "format": "flac"}

        def test_careless_client(emulator_factory):
            em = emulator_factory("voiceclone")
            assert em.client().post("/api/v1/tts", json=BAD, headers=AUTH).status_code == 400

        def test_refusal_on_purpose(emulator_factory):
            em = emulator_factory("voiceclone")
            with em.allow_bad_requests():
                assert em.client().post("/api/v1/tts", json=BAD, headers=AUTH).status_code == 400
            assert em.control.violations("request")  # still journaled

        @pytest.mark.emulator("voiceclone", strict=False)
        def test_whole_test_opted_out(emulator):
            assert emulator.client().post("/api/v1/tts", json=BAD, headers=AUTH).status_code == 400
            assert not emulator.control.violations()  # not checked at all

        @pytest.mark.emulator(strict=False)
        def test_factory_opted_out_by_marker(emulator_factory):
            em = emulator_factory("voiceclone")
            assert em.client().post("/api/v1/tts", json=BAD, headers=AUTH).status_code == 400

        def test_factory_opted_out_by_argument(emulator_factory):
            em = emulator_factory("voiceclone", strict=False)
            assert em.client().get("/api/v1/voices?colour=red", headers=AUTH).status_code == 200

        def test_a_careful_client(emulator_factory):
            em = emulator_factory("voiceclone")
            ok = {"text": "Hello", "voiceId": "clsys00000000000000000001", "format": "wav"}
            assert em.client().post("/api/v1/tts", json=ok, headers=AUTH).status_code == 200
    ''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1)
    output = "\n".join(result.outlines)
    assert "FAILED test_the_plugin_fails_a_test_whose_client_breaks_the_contract.py::test_careless_client" in output
    assert "requests that do not match the contract" in output
    assert ("voiceclone POST /api/v1/tts -> 400: request $.format: 'flac' is not one of ['mp3', 'wav', 'opus', 'pcm']"
            " (value 'flac'; rule /components/schemas/TtsRequest/properties/format/enum)") in output


def test_serve_strict_reports_each_violation_on_stderr_and_in_the_journal() -> None:
    port = free_port()
    proc = serve("voiceclone", "--port", str(port), "--strict", "--quiet")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base + "/_emulator/health", proc)
        r = httpx.post(base + "/api/v1/tts", headers=AUTH,
                       json={"text": "Hi", "voiceId": "clsys00000000000000000001", "format": "flac", "speed": 2})
        assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"  # the provider's answer
        r = httpx.get(base + "/api/v1/voices?limit=5", headers=AUTH)
        assert r.status_code == 200
        [entry] = [e for e in httpx.get(base + "/_emulator/journal").json()["entries"] if e["violations"]]
        assert [v["where"] for v in entry["violations"]] == ["$.format", "$.speed"]
        assert entry["violations"][0]["rule"] == "/components/schemas/TtsRequest/properties/format/enum"
    finally:
        code, _, err = stop(proc)
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("emulators: strict:")]
    assert lines == [
        "emulators: strict: voiceclone POST /api/v1/tts -> 400: request $.format: 'flac' is not one of "
        "['mp3', 'wav', 'opus', 'pcm'] (value 'flac'; rule /components/schemas/TtsRequest/properties/format/enum)"
        " token=te***",
        "emulators: strict: voiceclone POST /api/v1/tts -> 400: request $.speed: undocumented field "
        "(value 2; rule /components/schemas/TtsRequest/properties) token=te***",
    ]
