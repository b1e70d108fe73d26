"""The control API as an attacker (or a careless client) would try it: every attack from issue 9
is refused with a clear answer and leaves the state as it was."""
from __future__ import annotations

import json
import logging
import os
import socket
import string
import time
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.engine import access, control
from emulators.engine.files import BlobStore
from emulators.engine.journal import redact, redact_query
from emulators.pytest_plugin import RunningEmulator

Factory = Callable[..., RunningEmulator]
JSON_HEADERS = {"Content-Type": "application/json"}
VC_AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def vc(emulator_factory: Factory) -> RunningEmulator:
    return emulator_factory("voiceclone")


def _state(em: RunningEmulator) -> dict[str, Any]:
    return em.control.state()


# -- files: no path outside the blob store is ever served ---------------------------------------
def _restore_file_record(em: RunningEmulator, sha256: str) -> int:
    state = _state(em)
    state["engine"]["files"]["f_evil.txt"] = {
        "id": "f_evil.txt", "content_type": "text/plain", "created_at": 0.0, "sha256": sha256}
    return em.client().put("/_emulator/state", json=state).status_code


@pytest.mark.parametrize("reference", ["/etc/passwd", "../../etc/hostname", "../" * 12 + "etc/passwd",
                                       "ab/../../../../etc/hostname", "A" * 64, "g" * 64])
def test_a_restored_blob_reference_never_serves_a_file_outside_the_store(vc: RunningEmulator,
                                                                         reference: str) -> None:
    status = _restore_file_record(vc, reference)
    assert status in (200, 400)  # refused by restore, or kept and refused when served
    r = vc.client().get("/files/f_evil.txt")
    assert r.status_code == 404
    assert b"root:" not in r.content and socket.gethostname().encode() not in r.content


def test_blob_paths_are_digests_only(tmp_path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put_bytes(b"hello")
    assert store.path(digest).read_bytes() == b"hello"
    for bad in ("/etc/passwd", "../../etc/hostname", "", digest.upper(), digest[:-1], digest + "0",
                digest[:62] + "/.", "..", None):
        with pytest.raises(ValueError):
            store.path(bad)  # type: ignore[arg-type]


def test_a_link_inside_the_store_pointing_out_is_not_served(vc: RunningEmulator) -> None:
    digest = "ab" * 32
    path = vc.emulator.blobs.path(digest)
    path.parent.mkdir(exist_ok=True)
    os.symlink("/etc/passwd", path)
    assert _restore_file_record(vc, digest) in (200, 400)
    r = vc.client().get("/files/f_evil.txt")
    assert r.status_code == 404 and b"root:" not in r.content


# -- host: DNS rebinding gets nothing ------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8805", "localhost.evil.example",
                                  "127.0.0.1.nip.io", "", "xn--localhost"])
def test_a_foreign_host_reads_and_changes_nothing(vc: RunningEmulator, host: str) -> None:
    before = _state(vc)
    client = vc.client()
    for method, path, body in (("GET", "state", None), ("GET", "accounts/test-token", None),
                               ("GET", "journal", None), ("POST", "reset", None),
                               ("POST", "clock", {"advance_seconds": 3600}),
                               ("PUT", "accounts/test-token", {"regular": 0})):
        r = client.request(method, f"/_emulator/{path}", json=body, headers={"Host": host})
        assert r.status_code == 403, (method, path, r.status_code)
        assert r.headers["content-type"] == "application/json"
        assert "test-token" not in r.text and "webhook" not in r.text.lower()
    assert _state(vc) == before


@pytest.mark.parametrize("host", ["localhost", "localhost:8805", "127.0.0.1:8805", "127.0.0.2", "[::1]:8805",
                                  "dashboard.localhost:8805", "LOCALHOST", "testserver", "10.1.2.3:8805",
                                  "0.0.0.0:8805", "[fe80::1]"])
def test_loopback_names_and_ip_addresses_are_answered(vc: RunningEmulator, host: str) -> None:
    r = vc.client().get("/_emulator/clock", headers={"Host": host})
    assert r.status_code == 200, r.text


def test_configured_hosts_are_answered(vc: RunningEmulator) -> None:
    client = vc.client()
    assert client.get("/_emulator/clock", headers={"Host": "emulator.internal"}).status_code == 403
    vc.emulator.allowed_hosts = ["Emulator.Internal", ".dev.example"]
    for host in ("emulator.internal:8805", "dev.example", "api.dev.example"):
        assert client.get("/_emulator/clock", headers={"Host": host}).status_code == 200, host
    assert client.get("/_emulator/clock", headers={"Host": "evildev.example"}).status_code == 403
    vc.emulator.allowed_hosts = ["*"]
    assert client.get("/_emulator/clock", headers={"Host": "anything.example"}).status_code == 200


def test_health_and_provider_routes_answer_any_host(vc: RunningEmulator) -> None:
    client = vc.client()
    assert client.get("/_emulator/health", headers={"Host": "kai.internal"}).json()["status"] == "ok"
    r = client.get("/api/v1/credits", headers={**VC_AUTH, "Host": "api.example"})
    assert r.status_code == 200


def test_a_server_bound_to_a_name_answers_to_it() -> None:
    assert access.bound_host_entry("emulators.lan") == "emulators.lan"
    assert access.bound_host_entry("0.0.0.0") is None and access.bound_host_entry("::") is None
    assert access.bound_host_entry("127.0.0.1") is None


# -- browsers: no cross-site request changes anything ----------------------------------------------
SIMPLE_BODIES = [
    ("text/plain", b'{"advance_seconds": 3600}'),
    ("text/plain;charset=UTF-8", b'{"advance_seconds": 3600}'),
    ("application/x-www-form-urlencoded", b'{"advance_seconds": 3600}'),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'),
    (None, b'{"advance_seconds": 3600}'),
]


@pytest.mark.parametrize("ctype,body", SIMPLE_BODIES)
def test_simple_cross_site_requests_are_refused(vc: RunningEmulator, ctype: str | None, body: bytes) -> None:
    client = vc.client()
    headers = {"Content-Type": ctype} if ctype else {}
    for path in ("clock", "faults", "accounts/test-token", "state", "reset", "jobs/x"):
        method = "PUT" if path in ("accounts/test-token", "state") else "POST"
        r = client.request(method, f"/_emulator/{path}", content=body, headers=headers)
        assert r.status_code == 415, (path, r.status_code, r.text)
        assert "application/json" in r.json()["error"]
    assert vc.control.clock()["offset_seconds"] == 0
    assert vc.control.faults() == []


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://testserver.evil.example"},
    {"Origin": "http://localhost:3000"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
])
def test_cross_origin_browser_calls_are_refused(vc: RunningEmulator, headers: dict[str, str]) -> None:
    api = vc.client(headers=VC_AUTH)
    api.post("/api/v1/tts", json={"text": "spend", "voiceId": "clsys00000000000000000001"})
    before = _state(vc)
    client = vc.client()
    calls = [("POST", "reset", None), ("POST", "clock", {"advance_seconds": 60}),
             ("POST", "faults", {"status": 500}), ("DELETE", "journal", None),
             ("PUT", "accounts/test-token", {"regular": 0}), ("PUT", "state", before)]
    for method, path, body in calls:
        r = client.request(method, f"/_emulator/{path}", json=body, headers=headers)
        assert r.status_code == 403, (method, path, r.status_code)
    assert _state(vc) == before


def test_same_origin_and_non_browser_calls_work(vc: RunningEmulator) -> None:
    client = vc.client()
    for headers in ({}, {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
                    {"Sec-Fetch-Site": "none"}):
        r = client.post("/_emulator/clock", json={"advance_seconds": 1}, headers=headers)
        assert r.status_code == 200, r.text
    assert client.post("/_emulator/reset").status_code == 200  # no body, no Content-Type (curl -X POST)
    r = client.post("/_emulator/clock", content=b'{"advance_seconds": 2}',
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.json()["offset_seconds"] == 2


def test_control_answers_are_never_cached_or_sniffed(vc: RunningEmulator) -> None:
    for r in (vc.client().get("/_emulator/state"), vc.client().get("/_emulator/nope"),
              vc.client().get("/_emulator/state", headers={"Host": "evil.example"})):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"


# -- the control token ---------------------------------------------------------------------------
def test_control_token_guards_everything_but_health(vc: RunningEmulator) -> None:
    vc.emulator.control_token = "ctl-0123456789"
    client = vc.client()
    before = vc.emulator.snapshot()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer ctl-012345678"},
                    {"Authorization": "Basic ctl-0123456789"}, {"Authorization": "Bearer ctl-0123456789x"}):
        for method, path in (("GET", "state"), ("GET", "journal"), ("POST", "reset"), ("GET", "clock"),
                             ("PUT", "accounts/test-token"), ("DELETE", "faults")):
            body = {"regular": 0} if method == "PUT" else None
            r = client.request(method, f"/_emulator/{path}", json=body, headers=headers)
            assert r.status_code == 401, (headers, path)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "error" in r.json()
    assert vc.emulator.snapshot() == before
    assert client.get("/_emulator/health").json() == {"status": "ok", "provider": "voiceclone"}
    assert client.get("/_emulator/ui").status_code != 401  # the dashboard's shell holds no data
    good = {"Authorization": "Bearer ctl-0123456789"}
    assert client.get("/_emulator/state", headers=good).status_code == 200
    assert client.put("/_emulator/accounts/test-token", json={"regular": 1}, headers=good).json()["regular"] == 1
    # provider routes take the provider's tokens, not the control token
    assert client.get("/api/v1/credits", headers=VC_AUTH).status_code == 200


def test_the_token_check_does_not_open_the_host_check(vc: RunningEmulator) -> None:
    vc.emulator.control_token = "ctl-0123456789"
    r = vc.client().get("/_emulator/state", headers={"Host": "evil.example",
                                                     "Authorization": "Bearer ctl-0123456789"})
    assert r.status_code == 403


# -- the journal: secrets never stand in it as sent -------------------------------------------------
@pytest.mark.emulator(strict=False)  # secrets in undocumented query parameters, on purpose
def test_query_secrets_and_tokens_are_redacted(vc: RunningEmulator) -> None:
    vc.control.clear_journal()
    secrets = {"token": "test-token", "api_key": "sk-live-0123456789abcdef", "apiKey": "ak_9876543210",
               "access_token": "ya29.a0Abcdefghijkl", "PASSWORD": "hunter2hunter2", "client-secret": "cs-42424242",
               "apiToken": "61FDB6A8A14FE77EE2DF893058572EE3", "key": "k" * 40}
    query = "&".join(f"{k}={v}" for k, v in secrets.items()) + "&page=2&limit=5"
    vc.client(headers=VC_AUTH).get(f"/api/v1/voices?{query}")
    vc.client(headers={"Authorization": "Bearer 61FDB6A8A14FE77EE2DF893058572EE3"}).get("/api/v1/credits")
    entries = vc.control.journal()
    text = json.dumps(entries)
    for value in [*secrets.values(), "test-tok", "sk-live-0123", "hunter2"]:
        assert value not in text, value
    assert entries[0]["query"].endswith("&page=2&limit=5")
    assert "token=te***" in entries[0]["query"] and "api_key=sk-liv***" in entries[0]["query"]
    assert entries[0]["token"] == "te***"
    assert entries[1]["token"] == "61FDB6A8***"


def test_redaction_shows_at_most_a_quarter() -> None:
    assert redact("test-token") == "te***" and redact("poor-token") == "po***"
    assert redact("trial-spent-token") == "tria***"
    assert redact("abc") == "***" and redact("") is None
    assert redact_query(b"a=1&token=&x") == "a=1&token=&x"
    assert redact_query(b"Api-Key=abcdefgh%2Fijkl") == "Api-Key=abc***"
    assert redact_query(b"key=%2F%2F%2F%2Fxxxx") == "key=%2F%2F***"


@given(st.text(min_size=1, max_size=80))
def test_redaction_never_shows_more_than_a_quarter(token: str) -> None:
    shown = redact(token)
    assert shown is not None and shown.endswith("***")
    visible = shown[:-3]
    assert len(visible) <= len(token) // 4 and token.startswith(visible)


@given(st.sampled_from(["token", "api_key", "apiKey", "apiToken", "key", "access_token", "password",
                        "secret", "client_secret", "X-Api-Key", "refresh_token", "signature"]),
       st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~"), min_size=4, max_size=60))
def test_every_secret_parameter_is_redacted(name: str, value: str) -> None:
    shown = redact_query(f"page=1&{name}={value}".encode())
    assert shown.startswith(f"page=1&{name}=") and shown.endswith("***")
    visible = shown[len(f"page=1&{name}="):-3]
    assert len(visible) <= len(value) // 4


# -- input validation: clear 400s, nothing changed -----------------------------------------------------
def test_a_deep_json_body_is_a_400_everywhere(vc: RunningEmulator) -> None:
    before = _state(vc)
    client = vc.client()
    for depth in (100_000, 65):
        body = ("[" * depth + "]" * depth).encode()
        obj = ('{"a":' * depth + "1" + "}" * depth).encode()
        for method, path in (("PUT", "state"), ("PUT", "accounts/test-token"), ("PUT", "settings"),
                             ("POST", "clock"), ("POST", "faults"), ("POST", "jobs/x")):
            for raw in (body, obj):
                r = client.request(method, f"/_emulator/{path}", content=raw, headers=JSON_HEADERS)
                assert r.status_code == 400, (depth, path, r.status_code)
                assert "nested deeper" in r.json()["error"]
    assert _state(vc) == before


PROVIDER_JSON_ROUTES = {"kai": "/api/v1/chat/completions", "kie": "/api/v1/jobs/createTask",
                        "kitta": "/api/open/tts", "kreado": "/apis/open/voice/v3/textToSpeech",
                        "voiceclone": "/api/v1/tts"}


@pytest.mark.emulator(strict=False)  # a body that is not JSON text, on purpose
@pytest.mark.parametrize("provider_id", sorted(PROVIDER_JSON_ROUTES))
def test_a_deep_json_body_gets_the_providers_own_error(emulator_factory: Factory, provider_id: str) -> None:
    em = emulator_factory(provider_id)  # the contract check at teardown judges the error's shape
    auth = {"apiToken": "test-token"} if provider_id == "kreado" else VC_AUTH
    r = em.client().post(PROVIDER_JSON_ROUTES[provider_id], content=b"[" * 100_000 + b"]" * 100_000,
                         headers={**auth, **JSON_HEADERS})
    assert r.status_code < 500 and r.headers["content-type"].startswith("application/json")
    assert not em.control.violations("response")


@pytest.mark.parametrize("raw", [b'{"advance_seconds": Infinity}', b'{"advance_seconds": NaN}',
                                 b'{"advance_seconds": -Infinity}', b'{"advance_seconds": 1e308}',
                                 b'{"advance_seconds": 1e400}', b'{"advance_seconds": ' + b"9" * 400 + b"}",
                                 b'{"advance_seconds": ' + b"9" * 5000 + b"}", b'{"advance_seconds": 3e11}'])
def test_an_advance_that_breaks_the_clock_is_refused(vc: RunningEmulator, raw: bytes) -> None:
    r = vc.client().post("/_emulator/clock", content=raw, headers=JSON_HEADERS)
    assert r.status_code == 400 and r.json()["error"]
    assert vc.control.clock()["offset_seconds"] == 0
    assert vc.client(headers=VC_AUTH).get("/api/v1/credits").status_code == 200


def test_the_clock_goes_as_far_as_the_year_9000(emulator_factory: Factory) -> None:
    em = emulator_factory("kai")
    far = (8999 - 1970) * 365 * 86400 - time.time()
    assert em.control.advance(far)["now"].startswith("89")
    r = em.client(headers=VC_AUTH).get("/api/v1/usage")
    assert r.status_code == 200
    assert em.control.state()["engine"]["clock_offset"] == pytest.approx(far)


BAD_ACCOUNTS = {
    "voiceclone": [{"regular": 5, "resetAt": "9999-12-31T23:59:59Z"}, {"regular": 5, "resetAt": "0001-01-01T00:00:00Z"},
                   {"regular": 5, "rateWindowSeconds": 1e308}, {"regular": 2**64}, {"permanent": 5, "userId": 3}],
    "kai": [{"total_ok": 5, "expires_at": "0001-01-01T00:00:00Z"}, {"total_ok": 5, "trial_ends_at": "9999-12-31T23:59:59Z"},
            {"total_ok": 5, "max_file_size": 2**64}, {"total_ok": 5, "processing_seconds": 1e308}],
    "kie": [{"credits": 5, "rateWindowSeconds": 1e308}, {"credits": 2**64}, {"credits": 5, "rateLimit": 0}],
    "kitta": [{"credits": 5, "rate_window_seconds": 1e300}, {"credits": 5, "api_quota_remaining": 2**70},
              {"credits": 5, "tier": "nope"}],
    "kreado": [{"balance": "1.00", "vipExpireTime": "9999-12-31 23:59:59"},
               {"balance": "1.00", "vipExpireTime": "0001-01-01 00:00:00"},
               {"balance": "1.00", "videoQueueLimit": 2**64}, {"balance": "1.00", "limits": {"nope": 1}}],
}


@pytest.mark.parametrize("provider_id", sorted(BAD_ACCOUNTS))
def test_a_refused_account_put_writes_nothing(emulator_factory: Factory, provider_id: str) -> None:
    em = emulator_factory(provider_id)
    client = em.client()
    before = em.control.state()
    for fields in BAD_ACCOUNTS[provider_id]:
        for token in ("test-token", "brand-new-token"):
            r = client.put(f"/_emulator/accounts/{token}", json=fields)
            assert r.status_code == 400, (fields, r.text)
            assert r.json()["error"]
    for raw in (b'{"credits": NaN}', b'{"regular": Infinity}', b'{"balance": 1e400}'):
        r = client.put("/_emulator/accounts/test-token", content=raw, headers=JSON_HEADERS)
        assert r.status_code == 400
    assert em.control.state() == before
    assert client.get("/_emulator/accounts/brand-new-token").status_code == 404


@pytest.mark.parametrize("provider_id,field", [("voiceclone", "rateWindowSeconds"), ("kie", "rateWindowSeconds"),
                                               ("kitta", "rate_window_seconds"), ("kai", "processing_seconds")])
def test_backends_refuse_non_finite_numbers(emulator_factory: Factory, provider_id: str, field: str) -> None:
    em = emulator_factory(provider_id)
    before = em.emulator.snapshot()
    for value in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            em.emulator.backend.put_account("test-token", {field: value})
    assert em.emulator.snapshot() == before


def test_a_bad_token_in_the_path_is_refused(vc: RunningEmulator) -> None:
    client = vc.client()
    for token in ("has%20space", "tab%09here", "x" * 600, "caf%C3%A9"):
        assert client.put(f"/_emulator/accounts/{token}", json={"regular": 1}).status_code == 400


def test_non_text_strings_are_refused(vc: RunningEmulator) -> None:
    before = _state(vc)
    r = vc.client().put("/_emulator/accounts/test-token", content=b'{"userId": "\\ud800"}', headers=JSON_HEADERS)
    assert r.status_code == 400 and "surrogate" in r.json()["error"]
    assert _state(vc) == before


@pytest.mark.parametrize("rule", [
    {"status": 101}, {"status": 100}, {"status": 199}, {"status": 600}, {"status": 204, "body": "x"},
    {"status": 304, "body": {"a": 1}}, {"method": "HEAD", "body": "x"}, {"headers": {"X-Fault": "\u20ac"}},
    {"headers": {"X-Fault": "a\r\nSet-Cookie: a=b"}}, {"headers": {"X-Fault": "a\nb"}},
    {"headers": {"Bad Name": "x"}}, {"headers": {"X-\u00e9": "x"}}, {"headers": {"": "x"}},
    {"headers": {"Content-Length": "5"}}, {"headers": {"Transfer-Encoding": "chunked"}},
    {"headers": {"X-Nul": "a\u0000b"}}, {"method": "GE T"}, {"times": 10**12}, {"delay_ms": 1e9},
    {"status": 500, "headers": {f"X-{i}": "x" for i in range(65)}},
])
def test_fault_rules_that_would_break_http_are_refused(vc: RunningEmulator, rule: dict[str, Any]) -> None:
    r = vc.client().post("/_emulator/faults", json=rule)
    assert r.status_code == 400, rule
    assert r.json()["error"]
    assert vc.control.faults() == []


@pytest.mark.parametrize("raw", [b'{"delay_ms": NaN}', b'{"delay_ms": Infinity}', b'{"status": 500, "body": NaN}'])
def test_fault_rules_with_non_json_numbers_are_refused(vc: RunningEmulator, raw: bytes) -> None:
    assert vc.client().post("/_emulator/faults", content=raw, headers=JSON_HEADERS).status_code == 400
    assert vc.control.faults() == []


def test_a_control_body_over_the_limit_is_not_read(vc: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "MAX_BODY", 1000)
    before = _state(vc)
    client = vc.client()

    def chunks() -> Any:  # no Content-Length: the stream itself is counted
        for _ in range(100):
            yield b" " * 100

    r = client.put("/_emulator/state", content=chunks(), headers=JSON_HEADERS)
    assert r.status_code == 413 and r.headers["connection"] == "close"
    r = client.put("/_emulator/state", content=b" " * 1001, headers=JSON_HEADERS)
    assert r.status_code == 413
    assert _state(vc) == before


# -- real sockets: a 300 MB promise, a client gone, a body that stalls -----------------------------------
def _raw(em: RunningEmulator, data: bytes) -> socket.socket:
    host, port = em.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(data)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_declared_300_mb_state_is_refused_before_reading(emulator_factory: Factory) -> None:
    em = emulator_factory("voiceclone", server=True)
    started = time.monotonic()
    sock = _raw(em, b"PUT /_emulator/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 314572800\r\n\r\n{\"provider\":")
    answer = _read_all(sock)  # the server closes: it will not wait for (or read) the rest
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("path", ["/api/v1/tts", "/_emulator/state"])
def test_a_client_gone_mid_body_is_no_error(emulator_factory: Factory, caplog: pytest.LogCaptureFixture,
                                            path: str) -> None:
    em = emulator_factory("voiceclone", server=True)
    caplog.set_level(logging.INFO)
    method = "PUT" if path.startswith("/_emulator") else "POST"
    sock = _raw(em, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-token\r\n"
                    "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text\": ".encode())
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not any("went away" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    assert any("went away" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], \
        [r.getMessage() for r in caplog.records]
    assert em.control.health()["status"] == "ok"


@pytest.mark.parametrize("path", ["/api/v1/tts", "/_emulator/state"])
def test_a_stalled_body_is_answered_408_and_closed(emulator_factory: Factory, caplog: pytest.LogCaptureFixture,
                                                  path: str) -> None:
    em = emulator_factory("voiceclone", server=True)
    em.emulator.body_timeout = 0.3
    caplog.set_level(logging.INFO)
    method = "PUT" if path.startswith("/_emulator") else "POST"
    started = time.monotonic()
    sock = _raw(em, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-token\r\n"
                    "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text\": ".encode())
    answer = _read_all(sock)  # ends when the server closes the connection
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 0.3 <= time.monotonic() - started < 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    if path == "/api/v1/tts":
        assert [e["status"] for e in em.control.journal() if e["path"] == path] == [408]


def test_a_slow_but_steady_body_is_not_cut(emulator_factory: Factory) -> None:
    em = emulator_factory("voiceclone", server=True)
    em.emulator.body_timeout = 0.5
    body = json.dumps({"advance_seconds": 5}).encode()
    sock = _raw(em, b"POST /_emulator/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    for byte in body:  # each piece well inside the timeout, the whole well beyond it
        time.sleep(0.1)
        sock.sendall(bytes([byte]))
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200") and b'"offset_seconds":5' in answer


def test_fault_answers_without_a_body_keep_the_connection_usable(emulator_factory: Factory) -> None:
    em = emulator_factory("voiceclone", server=True, contract_check=False)
    em.control.add_fault(path="/api/v1/credits", method="GET", status=204, times=1)
    em.control.add_fault(path="/api/v1/voices", status=503, body={"down": True}, times=1)
    with em.client(headers=VC_AUTH) as client:  # one keep-alive connection
        assert client.get("/api/v1/credits").status_code == 204
        head = client.head("/api/v1/voices")
        assert head.status_code == 503 and head.content == b""
        assert client.get("/api/v1/credits").json()["success"] is True
