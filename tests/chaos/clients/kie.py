"""kie.ai: read the credits, create an image task, poll it to its end, download the result."""
from __future__ import annotations

import json
from typing import Any

import httpx

from tests.chaos.clients.common import ApiError, Outcome, Sleep, Verdict, body_of, poll, retry_after, send

FUNDING = {"credits": 100000}
TASK = {"model": "nano-banana-2", "input": {"prompt": "A lighthouse at dusk", "aspect_ratio": "1:1"}}


def naive(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    """Trusts every answer: `data` is there, the task succeeds within seconds, the result exists."""
    h = {"Authorization": f"Bearer {token}"}
    credits = http.get("/api/v1/chat/credit", headers=h).json()["data"]
    task = http.post("/api/v1/jobs/createTask", headers=h, json=TASK).json()["data"]["taskId"]
    for _ in range(5):
        sleep(3)
        record = http.get("/api/v1/jobs/recordInfo", params={"taskId": task}, headers=h).json()["data"]
        if record["state"] == "success":
            break
    url = json.loads(record["resultJson"])["resultUrls"][0]
    return Outcome(balance=credits, job_id=task, job_state="success", result_bytes=len(http.get(url).content))


def _read(response: httpx.Response) -> Verdict:
    body = body_of(response)
    code = body.get("code") if isinstance(body, dict) else response.status_code
    message = str(body.get("msg", "")) if isinstance(body, dict) else response.text[:100]
    if response.status_code == 200 and code == 200:
        return Verdict(True)
    if 429 in (code, response.status_code):
        return Verdict(False, retry_after(response), code, message)
    if code in (500, 455) or response.status_code in (500, 455):  # server error, maintenance: wait
        return Verdict(False, 5.0, code, message)
    return Verdict(False, None, code, message)


def careful(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    h = {"Authorization": f"Bearer {token}"}

    def call(method: str, url: str, **kw: Any) -> dict[str, Any]:
        return dict(send(http, sleep, _read, method, url, headers=h, **kw).json())

    out = Outcome()
    balance = call("GET", "/api/v1/chat/credit").get("data")
    out.balance = float(balance) if isinstance(balance, (int, float)) else None
    data = call("POST", "/api/v1/jobs/createTask", json=TASK).get("data")
    if not isinstance(data, dict) or not data.get("taskId"):
        raise ApiError(200, 200, "the answer to createTask names no task")
    out.job_id = task = str(data["taskId"])
    missing = [0]

    def fetch() -> tuple[str | None, Any]:
        record = call("GET", "/api/v1/jobs/recordInfo", params={"taskId": task}).get("data")
        state = record.get("state") if isinstance(record, dict) else None
        if state == "success" and not (record.get("resultJson") or "").strip():
            missing[0] += 1  # a partial record: ask again (a few times)
            if missing[0] > 3:
                raise ApiError(200, 200, "the finished task shows no result")
            return None, record
        return (state if state in ("success", "fail") else None), record

    state, record = poll(sleep, fetch)
    if state == "fail":
        out.job_state = "failed"
        return out
    urls = json.loads(record["resultJson"]).get("resultUrls") or []
    if not urls:
        raise ApiError(200, 200, "the finished task lists no result URL")
    download = http.get(urls[0])
    if download.status_code != 200:
        raise ApiError(download.status_code, None, "the result could not be downloaded")
    out.job_state, out.result_bytes = "success", len(download.content)
    return out


def judge(em: Any, outcome: Outcome) -> list[str]:
    """What the emulator's own state says of the outcome."""
    problems = []
    job = em.emulator.job(outcome.job_id) if outcome.job_id else None
    truth = job.state_at(em.emulator.clock.now()) if job else None
    if outcome.job_state == "success" and (truth != "success" or outcome.result_bytes <= 0):
        problems.append(f"claims success, the task is {truth} ({outcome.result_bytes} bytes)")
    if outcome.job_state == "failed" and truth != "fail":
        problems.append(f"claims failure, the task is {truth}")
    if outcome.balance is not None and outcome.balance < 0:
        problems.append("a negative balance")
    return problems
