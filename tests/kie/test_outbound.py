"""Outbound requests (task callbacks, file-url-upload) cannot be turned against the machine:
the emulators' control API, their ports and redirects to refused hosts stay out of reach,
while a developer's own receiver on 127.0.0.1 keeps getting callbacks.

A "spy" server on 127.0.0.1 records every request that reaches it, so "refused" means no
request was sent at all; a second emulator (kai) shows through its state and journal that
nothing happened to it.
"""
from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from emulators.engine import outbound
from emulators.engine.outbound import OutboundPolicy, Refused, names_control_api
from emulators.media.image import make_image
from emulators.pytest_plugin import RunningEmulator
from tests.kie.conftest import IMAGE_TIMINGS, Api

PNG = make_image(32, 32, fmt="png", seed="outbound")


class Spy:
    """Answers GET /pic.png with an image, /redirect?to=URL with a 302, POST with 200; records all."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        spy = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                spy.requests.append({"method": self.command, "path": self.path, "host": self.headers.get("Host"),
                                     "body": body})
                parts = urlsplit(self.path)
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", parse_qs(parts.query)["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = PNG if parts.path.endswith(".png") else b""
                self.send_response(200)
                self.send_header("Content-Type", "image/png" if payload else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def spy() -> Iterator[Spy]:
    s = Spy()
    yield s
    s.close()


@pytest.fixture
def kai(emulator_factory: Any) -> RunningEmulator:
    """A second emulator, with a mark a reset would wipe (its clock moved on)."""
    em = emulator_factory("kai", server=True)
    em.control.advance(1000)
    return em


def _untouched(kai: RunningEmulator) -> None:
    assert kai.control.clock()["offset_seconds"] == 1000  # not reset
    assert kai.control.journal() == []  # no provider request reached it


def _attacks(port: int) -> list[str]:
    """URLs an attacker would try to reach the control API of whatever listens on `port`."""
    return [
        f"http://127.0.0.1:{port}/_emulator/reset",
        f"http://127.0.0.1:{port}/_emulator/state",
        f"http://127.0.0.1:{port}/%5Femulator/reset",
        f"http://127.0.0.1:{port}/%255Femulator/reset",
        f"http://127.0.0.1:{port}/_EMULATOR/reset",
        f"http://127.0.0.1:{port}/files/../_emulator/reset",
        f"http://127.0.0.1:{port}//_emulator/reset",
        f"http://127.0.0.1:{port}/files/%2e%2e/_emulator/reset",
        f"http://localhost:{port}/_emulator/reset",
        f"http://LOCALHOST.:{port}/_emulator/reset",
        f"http://[::1]:{port}/_emulator/reset",
        f"http://[::ffff:127.0.0.1]:{port}/_emulator/reset",
        f"http://[0:0:0:0:0:0:0:1]:{port}/_emulator/reset",
        f"http://evil.example@127.0.0.1:{port}/x",
        f"http://127.0.0.1:{port}@evil.example/x",
        f"http://127.0.0.1:{port}\\@evil.example/x",
        f"http://2130706433:{port}/x",
        f"http://0x7f000001:{port}/x",
        f"http://0177.0.0.1:{port}/x",
        f"http://127.1:{port}/x",
        f"http://0.0.0.0:{port}/x",
        f"http://[::]:{port}/x",
        f"http://127.0.0.1.nip.io:{port}/x",
        f"http://%31%32%37.0.0.1:{port}/x",
        f"http://127.0.0.1:{port}/x\r\nX-Injected: 1",
        f"http://127.0.0.1 :{port}/x",
        f"gopher://127.0.0.1:{port}/_emulator",
        f"ftp://127.0.0.1:{port}/x",
        "file:///etc/passwd",
        f"http://127.0.0.1:{port + 70000}/x",
    ]


# -- the policy alone ------------------------------------------------------------------------------

@pytest.mark.parametrize("url", _attacks(8801))
def test_the_policy_refuses_before_any_dns_or_socket(url: str) -> None:
    for purpose in ("fetch", "callback"):
        with pytest.raises(Refused):
            OutboundPolicy().screen(url, purpose)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/_emulator/reset", "/%5femulator/state", "/%25255Femulator/x", "/a/_Emulator",
                                  "/files/..%2f_emulator/reset"])
def test_control_paths_however_encoded(path: str) -> None:
    assert names_control_api(path)


@pytest.mark.parametrize("path", ["/kie/callback", "/files/f_abc.png", "/emulator/x", "/%5F"])
def test_other_paths(path: str) -> None:
    assert not names_control_api(path)


def test_allowed_hosts_open_names_but_never_the_control_api_or_emulator_ports() -> None:
    wide = OutboundPolicy(["*"])
    wide.screen("https://hooks.example.com/kie", "callback")
    narrow = OutboundPolicy(["hooks.example.com"])
    narrow.screen("https://HOOKS.example.com./kie", "callback")
    with pytest.raises(Refused, match="not allowed"):
        narrow.screen("https://other.example.com/kie", "callback")
    for policy in (wide, narrow):
        with pytest.raises(Refused, match="control API"):
            policy.screen("https://hooks.example.com/_emulator/reset", "callback")
    with pytest.raises(Refused, match="emulator"):
        wide.screen("http://0.0.0.0:8802/kie", "callback")  # a default port, unspecified address
    with pytest.raises(Refused, match="emulator"):
        wide.screen("http://127.0.0.1:8801/api/v1/models", "fetch")
    wide.screen("http://127.0.0.1:8801/files/f_abc.png", "fetch")  # another emulator's file
    with pytest.raises(Refused, match="own"):
        OutboundPolicy(own_ports=[9999]).screen("http://127.0.0.1:9999/files/f_abc.png", "fetch")


def test_names_are_resolved_and_pinned() -> None:
    async def run() -> None:
        dest = await OutboundPolicy().check("http://localhost:5000/cb", "callback")
        assert dest.local and all(ip.is_loopback for ip in dest.addresses)
        assert dest.host_header == "localhost:5000"
        assert str(dest.url_for(dest.addresses[0])).startswith(("http://127.", "http://[::1]"))
        with pytest.raises(Refused, match="emulator"):  # resolved to loopback: the port rule applies
            await OutboundPolicy(["*"]).check("http://2130706433:8803/api", "callback")

    asyncio.run(run())


# -- file-url-upload ----------------------------------------------------------------------------------

def test_url_upload_cannot_reach_a_control_api(api: Api, spy: Spy, kai: RunningEmulator) -> None:
    for url in [*_attacks(spy.port), *_attacks(urlsplit(kai.base_url).port or 0)]:
        r = api.post("/api/file-url-upload", json={"fileUrl": url, "uploadPath": "x"})
        assert r.status_code == 400 and r.json()["success"] is False, (url, r.text)
    assert spy.requests == []
    _untouched(kai)
    assert not api.em.emulator.backend.state.uploads


def test_url_upload_rechecks_every_redirect(api: Api, spy: Spy, kai: RunningEmulator) -> None:
    api.em.control.set_settings(allowedHosts=["*"])  # even so
    kai_state = f"{kai.base_url}/_emulator/state"
    for target, needle in ((kai_state, "control API"), (f"{spy.url}/%5Femulator/reset", "control API"),
                           ("http://user@127.0.0.1/x", "user information"), ("file:///etc/passwd", "http")):
        r = api.post("/api/file-url-upload", json={"fileUrl": f"{spy.url}/redirect?to={target}", "uploadPath": "x"})
        assert r.status_code == 400 and needle in r.json()["msg"], (target, r.text)
    hops = f"{spy.url}/pic.png"
    for _ in range(6):
        hops = f"{spy.url}/redirect?to={hops.replace('%', '%25').replace('?', '%3F').replace('=', '%3D')}"
    r = api.post("/api/file-url-upload", json={"fileUrl": hops, "uploadPath": "x"})
    assert r.status_code == 400 and "redirects" in r.json()["msg"]
    assert all(urlsplit(req["path"]).path == "/redirect" for req in spy.requests)  # never a refused hop
    _untouched(kai)


def test_url_upload_encodes_what_a_sloppy_url_leaves_raw(api: Api, spy: Spy) -> None:
    r = api.post("/api/file-url-upload", json={"fileUrl": f"{spy.url}/my pic ü.png?size=big one", "uploadPath": "x"})
    assert r.status_code == 200, r.text
    assert spy.requests[0]["path"] == "/my%20pic%20%C3%BC.png?size=big%20one"


def test_url_upload_still_follows_a_redirect_to_a_file(api: Api, spy: Spy) -> None:
    r = api.post("/api/file-url-upload", json={"fileUrl": f"{spy.url}/redirect?to=/pic.png", "uploadPath": "x"})
    assert r.status_code == 200, r.text
    assert api.download(r.json()["data"]["downloadUrl"]).content == PNG
    assert [req["path"] for req in spy.requests] == ["/redirect?to=/pic.png", "/pic.png"]
    assert spy.requests[-1]["host"] == f"127.0.0.1:{spy.port}"


def test_url_upload_of_hosts_not_allowed_is_refused_without_a_request(api: Api) -> None:
    r = api.post("/api/file-url-upload", json={"fileUrl": "https://example.com/pic.png", "uploadPath": "x"})
    assert r.status_code == 400 and "not allowed" in r.json()["msg"]


@pytest.mark.emulator(strict=False)  # probes paths a port does not serve, on purpose
def test_emulator_ports_give_only_their_files(api: Api, kai: RunningEmulator) -> None:
    port = urlsplit(kai.base_url).port
    assert port is not None
    outbound.register_listener(port)  # what the servers do when they start
    try:
        r = api.post("/api/file-url-upload", json={"fileUrl": f"{kai.base_url}/api/v1/models", "uploadPath": "x"})
        assert r.status_code == 400 and "emulator" in r.json()["msg"]
        r = api.post("/api/file-url-upload", json={"fileUrl": f"{kai.base_url}/files/f_0000.png", "uploadPath": "x"})
        assert r.status_code == 400 and "HTTP 404" in r.json()["msg"]  # allowed, and simply not there
    finally:
        outbound.unregister_listener(port)
    assert kai.control.journal()[0]["path"] == "/files/f_0000.png"
    assert len(kai.control.journal()) == 1


def test_own_port_is_never_fetched_from(emulator_factory: Any) -> None:
    em = emulator_factory("kie", server=True)
    owner, thief = Api(em, "low-token"), Api(em)
    url = owner.post("/api/file-base64-upload", json={"base64Data": "c2VjcmV0", "uploadPath": "p"}).json()["data"]["downloadUrl"]
    assert url.startswith(em.base_url)
    for variant in (url.replace("/files/", "/files/./"), url.replace("/files/", "//files/"),
                    url.replace("/files/f_", "/files/%2566_"), em.base_url + "/api/v1/chat/credit"):
        r = thief.post("/api/file-url-upload", json={"fileUrl": variant, "uploadPath": "x"})
        assert r.status_code == 400, (variant, r.text)
        assert "own" in r.json()["msg"] or "another account" in r.json()["msg"], r.text
    assert not [k for k in em.emulator.backend.state.uploads if k.startswith("test-token\n")]


# -- callbacks --------------------------------------------------------------------------------------

def _notes(api: Api, task_id: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notes = api.em.control.state()["backend"]["tasks"][task_id]["callbacks"]
        if len(notes) >= count:
            return list(notes)
        time.sleep(0.05)
    raise AssertionError(f"no callback note for {task_id}")


def test_callbacks_cannot_reach_a_control_api(api: Api, spy: Spy, kai: RunningEmulator) -> None:
    api.em.control.set_settings(callbackRetryDelays=[0.05])
    api.em.control.set_account("test-token", rateLimit=1000)
    attacks = [*_attacks(spy.port), *_attacks(urlsplit(kai.base_url).port or 0)]
    tasks = {}
    for url in attacks:
        r = api.create("nano-banana-2", callback=url, prompt="x")
        if r.status_code == 200:  # createTask takes any http(s) URL, as the live service does
            tasks[url] = r.json()["data"]["taskId"]
        else:
            assert r.status_code == 422 and "callBackUrl" in r.json()["msg"]
    assert len(tasks) > len(attacks) // 2
    api.em.control.advance(sum(IMAGE_TIMINGS))
    for url, task_id in tasks.items():
        (note,) = _notes(api, task_id)
        assert note["status"] is None and note["error"].startswith("refused"), (url, note)
    time.sleep(0.2)
    assert spy.requests == []
    _untouched(kai)


def test_callbacks_to_an_emulator_port_are_refused(api: Api, kai: RunningEmulator) -> None:
    port = urlsplit(kai.base_url).port
    assert port is not None
    outbound.register_listener(port)
    try:
        task_id = api.create_ok("nano-banana-2", callback=f"{kai.base_url}/api/v1/chat/completions", prompt="x")
        api.em.control.advance(sum(IMAGE_TIMINGS))
        (note,) = _notes(api, task_id)
        assert "emulator" in note["error"]
    finally:
        outbound.unregister_listener(port)
    _untouched(kai)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.0.0.2"])
def test_a_local_receiver_still_gets_its_callback(api: Api, spy: Spy, host: str) -> None:
    if host == "127.0.0.2":  # all of 127.0.0.0/8 is loopback; the spy listens on .1 only
        url = f"http://{host}:{spy.port}/hook"
        task_id = api.create_ok("nano-banana-2", callback=url, prompt="x")
        api.em.control.set_settings(callbackRetryDelays=[])
        api.em.control.advance(sum(IMAGE_TIMINGS))
        (note,) = _notes(api, task_id)
        assert note["error"] in ("ConnectError", "ConnectTimeout")  # tried (loopback), nobody there
        return
    task_id = api.create_ok("nano-banana-2", callback=f"http://{host}:{spy.port}/hook?from=kie", prompt="x")
    api.em.control.advance(sum(IMAGE_TIMINGS))
    (note,) = _notes(api, task_id)
    assert note["status"] == 200
    (request,) = spy.requests
    assert request["method"] == "POST" and request["path"] == "/hook?from=kie"
    assert request["host"] == f"{host}:{spy.port}"
    assert task_id.encode() in request["body"]
