"""Callbacks: signed POSTs to callBackUrl when a task finishes, retried with backoff."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from emulators.pytest_plugin import RunningEmulator
from tests.kie.conftest import IMAGE_TIMINGS, Api

KEY = "test-webhook-hmac-key"  # fixtures/kie/accounts.yaml, test-token


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 500 to the first `failures` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.cond:
                    receiver.requests.append({"headers": dict(self.headers), "body": body,
                                              "received": time.monotonic()})
                    status = 500 if len(receiver.requests) <= receiver.failures else 200
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kie/callback"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def live(emulator_factory: Any) -> RunningEmulator:
    return emulator_factory("kie", server=True)


def verify(request: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    payload = json.loads(request["body"])
    timestamp = headers["x-webhook-timestamp"]
    assert timestamp.isdigit() and abs(int(timestamp) - time.time()) < 60
    expected = base64.b64encode(hmac.new(key.encode(), f"{payload['data']['taskId']}.{timestamp}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected)
    return payload


def test_success_callback_is_signed_and_fires_without_polling(live: RunningEmulator, receiver: Receiver) -> None:
    api = Api(live)
    task_id = api.create_ok("nano-banana-2", callback=receiver.url, prompt="a boat")
    # Just short of the end: the background ticker (every 0.5 s) finishes it; nobody polls.
    live.control.advance(sum(IMAGE_TIMINGS) - 0.2)
    (request,) = receiver.wait_for(1)
    payload = verify(request)
    assert payload["code"] == 200
    data = payload["data"]
    assert data["taskId"] == task_id and data["state"] == "success" and data["model"] == "nano-banana-2"
    (url,) = json.loads(data["resultJson"])["resultUrls"]
    assert url.startswith(live.base_url + "/files/")
    assert api.download(url).status_code == 200
    time.sleep(0.3)
    assert len(receiver.requests) == 1  # delivered once
    notes = _task(live, task_id)["callbacks"]
    assert [n["status"] for n in notes] == [200]
    assert not live.control.violations("response")


def test_failed_task_callback_carries_501(live: RunningEmulator, receiver: Receiver) -> None:
    api = Api(live)
    live.control.set_account("test-token", webhookHmacKey="rotated-key")
    task_id = api.create_ok("nano-banana-2", callback=receiver.url, prompt="EMULATOR_FAIL")
    live.control.advance(sum(IMAGE_TIMINGS))
    (request,) = receiver.wait_for(1)
    payload = verify(request, "rotated-key")
    assert payload["code"] == 501
    assert payload["data"]["state"] == "fail" and payload["data"]["failCode"] == "501"
    assert payload["data"]["taskId"] == task_id
    assert api.credits() == 100000


def test_callback_retries_with_backoff_until_the_receiver_accepts(live: RunningEmulator) -> None:
    receiver = Receiver(failures=2)
    try:
        live.control.set_settings(callbackRetryDelays=[0.2, 0.4, 0.4])
        api = Api(live)
        task_id = api.create_ok("nano-banana-2", callback=receiver.url, prompt="retry me")
        live.control.advance(sum(IMAGE_TIMINGS))
        requests = receiver.wait_for(3)
        assert len(requests) == 3
        gaps = [b["received"] - a["received"] for a, b in zip(requests, requests[1:])]
        assert gaps[0] >= 0.15 and gaps[1] >= 0.35  # backoff grows
        for request in requests:
            verify(request)  # each attempt is signed afresh
        time.sleep(0.6)
        assert len(receiver.requests) == 3
        deadline = time.monotonic() + 5
        while len(_task(live, task_id)["callbacks"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [n["status"] for n in _task(live, task_id)["callbacks"]] == [500, 500, 200]
    finally:
        receiver.close()


def test_callback_gives_up_after_the_last_retry(live: RunningEmulator) -> None:
    receiver = Receiver(failures=99)
    try:
        live.control.set_settings(callbackRetryDelays=[0.1, 0.1])
        api = Api(live)
        api.create_ok("nano-banana-2", callback=receiver.url, prompt="never accepted")
        live.control.advance(sum(IMAGE_TIMINGS))
        receiver.wait_for(3)
        time.sleep(0.5)
        assert len(receiver.requests) == 3
    finally:
        receiver.close()


def test_unreachable_receiver_is_retried(live: RunningEmulator) -> None:
    live.control.set_settings(callbackRetryDelays=[0.1, 0.1])
    api = Api(live)
    dead = Receiver()
    url = dead.url
    dead.close()  # nothing listens there any more
    task_id = api.create_ok("nano-banana-2", callback=url, prompt="x")
    live.control.advance(sum(IMAGE_TIMINGS))
    deadline = time.monotonic() + 5
    while len(_task(live, task_id)["callbacks"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    notes = _task(live, task_id)["callbacks"]
    assert len(notes) == 3 and all(n["status"] is None and n["error"] for n in notes)


def test_hosts_other_than_loopback_are_not_called(live: RunningEmulator) -> None:
    api = Api(live)
    task_id = api.create_ok("nano-banana-2", callback="https://hooks.example.com/kie", prompt="x")
    live.control.advance(sum(IMAGE_TIMINGS))
    (note,) = _task(live, task_id)["callbacks"]
    assert note["status"] is None and "not allowed" in note["error"]


def _task(em: RunningEmulator, task_id: str) -> dict[str, Any]:
    return em.control.state()["backend"]["tasks"][task_id]


def test_callback_data_follows_the_profile(live: RunningEmulator, receiver: Receiver) -> None:
    live.control.set_settings(profile="live")
    api = Api(live)
    task_id = api.create_ok("nano-banana-2", callback=receiver.url, prompt="a boat", aspect_ratio="1:1")
    live.control.advance(sum(IMAGE_TIMINGS))
    (request,) = receiver.wait_for(1)
    data = verify(request)["data"]
    assert data == api.record(task_id)  # what recordInfo answers in the same profile
    assert data["costTime"] == sum(IMAGE_TIMINGS)  # seconds
    assert json.loads(json.loads(data["param"])["input"]) == {"aspect_ratio": "1:1", "prompt": "a boat"}
