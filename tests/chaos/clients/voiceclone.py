"""Voice Clone & TTS: read the credits, find a voice by its title over the pages of the voice
list, synthesize speech with it, poll it to its end, download the audio."""
from __future__ import annotations

from typing import Any

import httpx

from tests.chaos.clients.common import ApiError, Outcome, Sleep, Verdict, body_of, poll, retry_after, send

FUNDING = {"regular": 100000}
VOICE = "Ben"


def naive(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    """One page holds every voice, the speech is ready in seconds, nothing ever refuses."""
    h = {"Authorization": f"Bearer {token}"}
    credits = http.get("/api/v1/credits", headers=h).json()["credits"]
    page = http.get("/api/v1/voices", params={"limit": 100}, headers=h).json()
    voice = next(v for v in page["voices"] if v["title"] == VOICE)
    speech = http.post("/api/v1/tts", headers=h, json={"text": "Hello from a naive client",
                                                       "voiceId": voice["id"]}).json()["speech"]["id"]
    sleep(5)
    done = http.get(f"/api/v1/tts/{speech}", headers=h).json()["speech"]
    audio = http.get(done["audioUrl"]).content
    return Outcome(balance=credits, listed=[v["id"] for v in page["voices"]], total=page["pagination"]["total"],
                   job_id=speech, job_state="success", result_bytes=len(audio))


def _read(response: httpx.Response) -> Verdict:
    body = body_of(response)
    code = body.get("code") if isinstance(body, dict) else None
    message = str(body.get("error", "")) if isinstance(body, dict) else ""
    if 200 <= response.status_code < 300:
        return Verdict(True)
    if response.status_code == 429 and "Retry-After" in response.headers:  # RATE_LIMITED; credits: no header
        return Verdict(False, retry_after(response), code, message)
    if response.status_code >= 500:
        return Verdict(False, 5.0, code, message)
    return Verdict(False, None, code, message)


def careful(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    h = {"Authorization": f"Bearer {token}"}

    def call(method: str, url: str, **kw: Any) -> dict[str, Any]:
        return dict(send(http, sleep, _read, method, url, headers=h, **kw).json())

    out = Outcome(balance=float(call("GET", "/api/v1/credits")["credits"]))
    voice_id, page = None, 1
    while True:
        body = call("GET", "/api/v1/voices", params={"page": page, "limit": 2})
        out.listed += [v["id"] for v in body["voices"]]
        voice_id = voice_id or next((v["id"] for v in body["voices"] if v["title"] == VOICE), None)
        out.total = body["pagination"]["total"]
        if not body["voices"] or not body["pagination"]["hasNext"]:
            break
        page += 1
    if voice_id is None:
        raise ApiError(404, "NOT_FOUND", f"no voice titled {VOICE}")
    speech = call("POST", "/api/v1/tts", json={"text": "Hello from a careful client", "voiceId": voice_id})
    out.job_id = speech_id = speech["speech"]["id"]

    def fetch() -> tuple[str | None, Any]:
        record = call("GET", f"/api/v1/tts/{speech_id}")["speech"]
        return (record["status"] if record["status"] in ("COMPLETED", "FAILED") else None), record

    state, record = poll(sleep, fetch)
    if state == "FAILED":
        out.job_state = "failed"
        return out
    audio = http.get(record["audioUrl"])
    if audio.status_code != 200 or not audio.content:
        raise ApiError(audio.status_code, None, "the audio could not be downloaded")
    out.job_state, out.result_bytes = "success", len(audio.content)
    return out


def judge(em: Any, outcome: Outcome) -> list[str]:
    problems = []
    job = em.emulator.job(outcome.job_id) if outcome.job_id else None
    truth = job.state_at(em.emulator.clock.now()) if job else None
    if outcome.job_state == "success" and (truth != "COMPLETED" or outcome.result_bytes <= 0):
        problems.append(f"claims success, the speech is {truth}")
    if outcome.job_state == "failed" and truth != "FAILED":
        problems.append(f"claims failure, the speech is {truth}")
    if len(set(outcome.listed)) != len(outcome.listed):
        problems.append("a voice listed twice")
    if outcome.total is not None and len(outcome.listed) != outcome.total:
        problems.append(f"listed {len(outcome.listed)} voices of the {outcome.total} the last page announced")
    return problems
