"""kie.ai as a state machine: createTask (image, edit with an uploaded image, speech) and base64
uploads by three tokens, download links and URL uploads of one's own and of other tokens' files,
on a clock that crosses phases, result and upload lifetimes. See machinery.py for the checks
every provider shares; here besides:
- a task is charged exactly its model's price in hundredths of a credit, or refused with 402 and
  nothing taken; `GET /api/v1/chat/credit` shows the ledger's balance (whole credits);
- only createTask counts against the per-token window (carol: 2 per 10 s);
- another token's upload is never turned into a download link or copied by file-url-upload (the
  provider's "only your own files"); an expired upload of one's own is told apart (it expired).
"""
from __future__ import annotations

import base64
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from emulators.media.image import make_image
from tests.stateful.machinery import INDEX, EmulatorMachine, Harness, RateRule, pick, run_machine

PNG = base64.b64encode(make_image(128, 96, fmt="png", seed="stateful")).decode()
# model -> (price in hundredths of a credit, input without the image)
MODELS: dict[str, tuple[int, dict[str, Any]]] = {
    "google/nano-banana": (400, {"prompt": "a cat"}),
    "nano-banana-2": (800, {"prompt": "a cat, edited"}),
    "elevenlabs/text-to-speech-multilingual-v2": (1200, {"text": "Hello from the machine"}),
}
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"credits": 60, "rateLimit": 20, "rateWindowSeconds": 10},
    "bob": {"credits": 25.5, "rateLimit": 20, "rateWindowSeconds": 10},
    "carol": {"credits": 40, "rateLimit": 2, "rateWindowSeconds": 10},
}


class KieMachine(EmulatorMachine):
    failure_states = ("fail",)
    rate_headers = False  # kie sends no X-RateLimit-* headers (Retry-After on a 429 only)

    def setup(self) -> None:
        self.m.extra["uploads"] = []  # [url, owner, file id]
        for token, fields in ACCOUNTS.items():
            self.seed_account(token, fields)

    def pools_of(self, view: dict[str, Any]) -> dict[str, int]:
        return {"centicredits": round(view["credits"] * 100)}

    def top_up_fields(self, token: str, amount: int) -> dict[str, Any] | None:
        return {"credits": amount / 100}

    def rate_rule(self, token: str, method: str, path: str) -> RateRule | None:
        if path != "/api/v1/jobs/createTask":
            return None
        fields = ACCOUNTS[token]
        return RateRule("createTask", fields["rateLimit"], float(fields["rateWindowSeconds"]))

    def is_rate_limited(self, r: httpx.Response) -> bool:
        return r.status_code == 429 and r.json()["code"] == 429

    def poll(self, job_id: str, token: str) -> httpx.Response:
        return self.call(token, "GET", "/api/v1/jobs/recordInfo", params={"taskId": job_id})

    def status_of(self, r: httpx.Response) -> Any:
        data = r.json()["data"]
        assert data["taskId"] and data["state"] in ("waiting", "queuing", "generating", "success", "fail")
        return data["state"]

    def is_not_found(self, r: httpx.Response) -> bool:
        return r.status_code == 404 and r.json()["code"] == 404

    def cents(self, token: str) -> int:
        return self.expected_pools(token)["centicredits"]

    def live(self, file_id: str) -> bool:
        record = self.em.file(file_id)
        return record is not None and (record.expires_at is None or self.h.now() < record.expires_at)

    # -- rules ---------------------------------------------------------------------------------------
    @rule(token=st.sampled_from(sorted(ACCOUNTS)), model=st.sampled_from(sorted(MODELS)), fail=st.booleans(),
          image=INDEX)
    def create_task(self, token: str, model: str, fail: bool, image: int) -> None:
        price, inputs = MODELS[model]
        inputs = dict(inputs)
        if fail:
            key = "text" if "text" in inputs else "prompt"
            inputs[key] = "EMULATOR_FAIL " + inputs[key]
        if model == "nano-banana-2" and self.m.extra["uploads"]:
            inputs["image_input"] = [pick(self.m.extra["uploads"], image)[0]]  # anyone's upload: a public URL
        ledger_len = len(self.em.state.ledger)
        before = self.cents(token)
        r = self.call(token, "POST", "/api/v1/jobs/createTask", json={"model": model, "input": inputs})
        if self.is_rate_limited(r):
            assert len(self.em.state.ledger) == ledger_len
            return
        if price > before:
            assert r.status_code == 402 and r.json()["code"] == 402, r.text
            assert len(self.em.state.ledger) == ledger_len
            return
        assert r.status_code == 200, r.text
        task_id = r.json()["data"]["taskId"]
        charge = list(self.em.state.ledger.values())[-1]
        assert (charge.kind, charge.token, charge.ref, charge.amount) == ("charge", token, task_id, price)
        self.created_job(task_id, token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), n=st.integers(2, 6))
    def create_task_burst(self, token: str, n: int) -> None:
        """Concurrent createTask calls: never more paid than the credits cover."""
        balance = self.cents(token)
        body = {"json": {"model": "google/nano-banana", "input": {"prompt": "a burst"}}}
        responses = self.call_many(token, "POST", "/api/v1/jobs/createTask", [body] * n)
        paid = [r for r in responses if r.status_code == 200]
        for r in responses:
            assert r.status_code in (200, 402) or self.is_rate_limited(r), r.text
        self.check_burst(responses, paid, balance, 400)
        for r in paid:
            self.created_job(r.json()["data"]["taskId"], token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), fail=st.booleans(), name=st.integers(0, 2))
    def upload_image(self, token: str, fail: bool, name: int) -> None:
        """A base64 upload; the same path and name again replaces the file behind the same URL."""
        file_name = f"{'EMULATOR_FAIL-' if fail else ''}{token}-{name}.png"
        r = self.call(token, "POST", "/api/file-base64-upload",
                      json={"base64Data": PNG, "uploadPath": "stateful", "fileName": file_name})
        assert r.status_code == 200, r.text
        url = r.json()["data"]["downloadUrl"]
        file_id = url.rsplit("/", 1)[-1]
        assert self.em.state.files[file_id].owner == token
        self.m.extra["uploads"] = [u for u in self.m.extra["uploads"] if u[0] != url] + [[url, token, file_id]]

    def files_handed_out(self) -> list[list[str]]:
        """[url, owner, file id] of every upload and every task result handed out."""
        results = [[f"{self.h.running.base_url}/files/{file_id}", task.owner, file_id]
                   for task_id, task in sorted(self.em.backend.state.tasks.items())
                   for file_id in self.em.backend.result_ids(task)
                   if self.em.state.jobs[task_id].state_at(self.h.now()) == "success"]
        return [*self.m.extra["uploads"], *results]

    @precondition(lambda self: bool(self.files_handed_out()))
    @rule(token=st.sampled_from(sorted(ACCOUNTS)), index=INDEX)
    def download_link(self, token: str, index: int) -> None:
        """A 20-minute link to one's own live file (an upload or a result); anything else 422."""
        url, owner, file_id = pick(self.files_handed_out(), index)
        r = self.call(token, "POST", "/api/v1/common/download-url", json={"url": url})
        if owner == token and self.live(file_id):
            assert r.status_code == 200, r.text
            link = r.json()["data"]
            assert self.em.file(link.rsplit("/", 1)[-1]).owner == token
            return
        assert r.status_code == 422 and r.json()["code"] == 422, r.text
        if owner == token and file_id in self.em.backend.state.issued:  # expired, not forgotten yet
            assert "expired" in r.json()["msg"], r.text
        else:
            assert "Only kie.ai generated URLs" in r.json()["msg"], r.text

    @precondition(lambda self: bool(self.files_handed_out()))
    @rule(token=st.sampled_from(sorted(ACCOUNTS)), index=INDEX)
    def copy_file_by_url(self, token: str, index: int) -> None:
        """file-url-upload of one of the emulator's own URLs: copied for its owner while it
        lives; another token's file is refused without being read."""
        url, owner, file_id = pick(self.files_handed_out(), index)
        r = self.call(token, "POST", "/api/file-url-upload",
                      json={"fileUrl": url, "uploadPath": "copies", "fileName": f"copy-of-{file_id}"})
        if owner == token and self.live(file_id):
            assert r.status_code == 200, r.text
            copied = r.json()["data"]["downloadUrl"]
            self.m.extra["uploads"] = [u for u in self.m.extra["uploads"] if u[0] != copied] + [
                [copied, token, copied.rsplit("/", 1)[-1]]]
            return
        assert r.status_code == 400 and r.json()["success"] is False, r.text
        remembered = self.live(file_id) or file_id in self.em.backend.state.issued  # else long forgotten
        if owner != token and remembered:
            assert "another account's file" in r.json()["msg"], r.text
        elif remembered:
            assert "expired" in r.json()["msg"], r.text

    @rule(token=st.sampled_from(sorted(ACCOUNTS)))
    def read_credit(self, token: str) -> None:
        r = self.call(token, "GET", "/api/v1/chat/credit")
        assert r.status_code == 200, r.text
        cents = self.cents(token)
        assert r.json()["data"] == cents // 100  # the documented profile: whole credits, rounded down


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness("kie")
    yield h
    h.close()


def test_kie_machine(harness: Harness) -> None:
    run_machine(KieMachine.bind(harness))
