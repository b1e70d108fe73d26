"""`emulators proxy`: answers pass unchanged (byte for byte, large files streamed, never held), and
drift of the upstream is journaled and summed up on exit."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable, Iterator

import httpx
import pytest

from emulators.contract_tools.proxy import UVICORN_OVERRIDES, DriftProxy
from emulators.pytest_plugin import RunningEmulator, start_emulator
from emulators.server import ThreadedServer
from tests.contracts.drift import on
from tests.contracts.test_verify import REPO, free_port

KIE = {"Authorization": "Bearer test-token"}
VARIABLE_HEADERS = {"date"}  # kie sends no per-request headers of its own


@pytest.fixture
def upstream() -> Iterator[RunningEmulator]:
    running, stop = start_emulator("kie", server=True)
    yield running
    stop()


@pytest.fixture
def proxied(upstream: RunningEmulator) -> Iterator[tuple[DriftProxy, str]]:
    proxy = DriftProxy("kie", upstream.base_url)
    server = ThreadedServer(proxy)
    for name, value in UVICORN_OVERRIDES.items():
        setattr(server.server.config, name, value)
    server.start()
    yield proxy, server.url
    server.stop()


def test_answers_pass_unchanged_and_nothing_drifts(upstream: RunningEmulator, proxied: tuple[DriftProxy, str]) -> None:
    proxy, url = proxied
    with httpx.Client(base_url=url, headers=KIE) as via, httpx.Client(base_url=upstream.base_url, headers=KIE) as direct:
        task = via.post("/api/v1/jobs/createTask", json={"model": "nano-banana-2", "input": {"prompt": "x"}})
        assert task.status_code == 200
        task_id = task.json()["data"]["taskId"]
        upstream.control.advance(60)
        for method, path, kw in [("GET", "/api/v1/chat/credit", {}),
                                 ("GET", f"/api/v1/jobs/recordInfo?taskId={task_id}", {}),
                                 ("GET", "/api/v1/jobs/recordInfo?taskId=missing", {}),
                                 ("POST", "/api/v1/common/download-url", {"json": {"url": ""}}),
                                 ("GET", "/no/such/path", {}),
                                 ("DELETE", "/api/v1/chat/credit", {})]:
            a, b = direct.request(method, path, **kw), via.request(method, path, **kw)
            assert (b.status_code, b.content) == (a.status_code, a.content), path
            assert {k: v for k, v in b.headers.items() if k not in VARIABLE_HEADERS} == {
                k: v for k, v in a.headers.items() if k not in VARIABLE_HEADERS}
        result = json.loads(via.get(f"/api/v1/jobs/recordInfo?taskId={task_id}").json()["data"]["resultJson"])
        image = result["resultUrls"][0]
        path = httpx.URL(image).path
        a, b = direct.get(path), via.get(path)
        assert b.status_code == 200 and b.content == a.content and b.headers["content-type"] == "image/png"
        assert b.content.startswith(b"\x89PNG")
    journal = httpx.get(url + "/_emulator/journal").json()["entries"]
    assert len(journal) == 9 and all(e["violations"] == [] for e in journal)
    assert {e["token"] for e in journal} == {"te***"}  # redacted, as an emulator's journal is
    assert httpx.get(url + "/_emulator/health").json() == {"status": "ok", "provider": "kie",
                                                           "upstream": upstream.base_url}
    assert proxy.drifted == 0 and proxy.answers == 9
    assert httpx.delete(url + "/_emulator/journal").json() == {"entries": []}


def test_large_files_stream_through_without_being_held(upstream: RunningEmulator,
                                                       proxied: tuple[DriftProxy, str]) -> None:
    _, url = proxied
    size = 24 * 1024 * 1024
    data = os.urandom(1024 * 1024) * 24  # 24 MB
    upload = httpx.post(url + "/api/file-stream-upload", headers=KIE, timeout=60,
                        files={"file": ("big.bin", data, "application/octet-stream")},
                        data={"uploadPath": "big", "fileName": "big.bin"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["data"]["fileSize"] == size
    path = httpx.URL(upload.json()["data"]["downloadUrl"]).path
    del data, upload
    digest = hashlib.sha256()
    received = 0
    tracemalloc.start()
    try:
        with httpx.stream("GET", url + path, timeout=60) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw(64 * 1024):
                digest.update(chunk)
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    direct = hashlib.sha256(httpx.get(upstream.base_url + path, timeout=60).content).hexdigest()
    assert digest.hexdigest() == direct
    assert peak < 6 * 1024 * 1024, f"{peak} bytes held while 24 MB passed"  # proxy, upstream and client together


def test_a_drifting_upstream_is_journaled_and_summed_up_on_exit(drifting: Callable[..., str]) -> None:
    def rename(s: int, h: dict[str, str], d: Any) -> None:
        d["balance"] = d.pop("data")

    upstream = drifting(on("GET", "/api/v1/chat/credit", 200, rename), "kie")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emulators.cli", "proxy", "kie", "--upstream", upstream,
                             "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.1)
        answer = httpx.get(url + "/api/v1/chat/credit", headers=KIE)
        assert answer.status_code == 200 and "balance" in answer.json()  # the client gets the live answer
        assert httpx.get(url + "/api/v1/chat/credit", headers={"Authorization": "Bearer nope"}).status_code == 401
        entries = httpx.get(url + "/_emulator/journal").json()["entries"]
        assert [e["status"] for e in entries] == [200, 401]
        assert {(v["side"], v["where"], v["message"]) for v in entries[0]["violations"]} == {
            ("response", "$.balance", "undocumented field")}
        assert entries[1]["violations"] == []
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "KIE_BASE_URL=" in out.decode()
    summary = err.decode()
    assert "kie proxy: 2 answers checked, 1 drifted from the contract" in summary
    assert "GET /api/v1/chat/credit  $.balance: undocumented field" in summary
    assert "test-token" not in out.decode() + summary
