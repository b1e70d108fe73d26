"""Kitta AI: read the profile, create a lip-sync task, poll it to its end, download the video."""
from __future__ import annotations

from typing import Any

import httpx

from tests.chaos.clients.common import ApiError, Outcome, Sleep, Verdict, body_of, poll, retry_after, send

FUNDING = {"credits": 100000, "api_quota_remaining": 1000000, "tier": "enterprise"}
TASK = {"video_url": "https://example.com/media/clip.mp4", "audio_url": "https://example.com/media/voice.mp3"}


def naive(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    """Every answer is a success, a lip-sync video is ready within a minute."""
    h = {"Authorization": f"Bearer {token}"}
    credits = http.get("/api/open/profile", headers=h).json()["credits"]
    task = http.post("/api/open/lip-sync/create", headers=h, json=TASK).json()["data"]["id"]
    sleep(60)
    data = http.get("/api/open/lip-sync/query", params={"id": task}, headers=h).json()["data"]
    video = http.get(data["result_url"]).content
    return Outcome(balance=credits, job_id=task, job_state="success", result_bytes=len(video))


def _read(response: httpx.Response) -> Verdict:
    body = body_of(response)
    code = body.get("code") if isinstance(body, dict) else None
    message = str(body.get("error") or body.get("message") or "") if isinstance(body, dict) else ""
    if 200 <= response.status_code < 300:
        return Verdict(True)
    if response.status_code == 429 and code == "RATE_LIMIT_EXCEEDED":  # credits and quota: no use waiting
        return Verdict(False, retry_after(response, 5.0), code, message)
    if response.status_code >= 500:
        return Verdict(False, 5.0, code, message)
    return Verdict(False, None, code, message)


def careful(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    h = {"Authorization": f"Bearer {token}"}

    def call(method: str, url: str, **kw: Any) -> dict[str, Any]:
        return dict(send(http, sleep, _read, method, url, headers=h, **kw).json())

    out = Outcome(balance=float(call("GET", "/api/open/profile")["credits"]))
    out.job_id = task = str(call("POST", "/api/open/lip-sync/create", json=TASK)["data"]["id"])

    def fetch() -> tuple[str | None, Any]:
        data = call("GET", "/api/open/lip-sync/query", params={"id": task})["data"]
        return (data["status"] if data["status"] in ("completed", "failed") else None), data

    state, data = poll(sleep, fetch, first=10.0)
    if state == "failed":
        out.job_state = "failed"
        return out
    video = http.get(data["result_url"])
    if video.status_code != 200 or not video.content:
        raise ApiError(video.status_code, None, "the video could not be downloaded")
    out.job_state, out.result_bytes = "success", len(video.content)
    return out


def judge(em: Any, outcome: Outcome) -> list[str]:
    job = em.emulator.job(outcome.job_id) if outcome.job_id else None
    truth = job.state_at(em.emulator.clock.now()) if job else None
    if outcome.job_state == "success" and (truth != "completed" or outcome.result_bytes <= 0):
        return [f"claims success, the task is {truth}"]
    if outcome.job_state == "failed" and truth != "failed":
        return [f"claims failure, the task is {truth}"]
    return []
