"""KreadoAI: read the balance, list the system avatars over every page, synthesize a line of
speech, make a lip-sync video of one avatar saying it, poll it to its end, download it. Every
answer is HTTP 200; `code` tells."""
from __future__ import annotations

from typing import Any

import httpx

from tests.chaos.clients.common import ApiError, Outcome, Sleep, Verdict, body_of, poll, retry_after, send

FUNDING = {"balance": 100000}
SPEECH = {"languageId": "1767068435675340832", "content": "Hello there, this is a short line.",
          "voiceId": "zhida", "voiceClone": 0, "voiceSource": 3}
RETRY_LATER = {"10001", "10011", "10015"}  # internal error, processing timeout, connection cut


def naive(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    """code is always "200", the first page is the whole list, the video is done in three minutes."""
    h = {"apiToken": token}
    balance = float(http.get("/apis/open/user/v3/getInfo", headers=h).json()["data"]["balance"])
    page = http.post("/apis/open/avatar/v3/list", headers=h,
                     json={"cloneDigitalHuman": 0, "supportTypeId": 101, "pageIndex": 1, "pageSize": 100}).json()["data"]
    avatar = page["data"][0]["digitalHumanId"]
    audio = http.post("/apis/open/voice/v3/textToSpeech", headers=h, json=SPEECH).json()["data"]["textToSpeech"]["audioUrl"]
    job = http.post("/apis/open/video/v3/submitSystemLipTask", headers=h, json={
        "taskName": "naive", "videoRatio": 1, "digitalHuman": {"digitalHumanId": avatar},
        "audio": {"audioUrl": audio}}).json()["data"]["jobId"]
    sleep(180)
    result = http.post("/apis/open/video/v3/getLipVideoResult", headers=h, json={"jobId": job}).json()["data"]
    video = http.get(result["videoTask"]["videoUrl"]).content
    return Outcome(balance=balance, listed=[str(a["digitalHumanId"]) for a in page["data"]], total=page["totalCount"],
                   job_id=str(job), job_state="success", result_bytes=len(video))


def _read(response: httpx.Response) -> Verdict:
    body = body_of(response)
    code = str(body.get("code")) if isinstance(body, dict) else str(response.status_code)
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    if response.status_code == 200 and code == "200":
        return Verdict(True)
    if code == "429":
        return Verdict(False, retry_after(response, 1.0), code, message)
    if code in RETRY_LATER or response.status_code >= 500:
        return Verdict(False, 5.0, code, message)
    return Verdict(False, None, code, message)


def careful(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    h = {"apiToken": token}

    def call(method: str, url: str, **kw: Any) -> Any:
        return send(http, sleep, _read, method, url, headers=h, **kw).json()["data"]

    out = Outcome(balance=float(call("GET", "/apis/open/user/v3/getInfo")["balance"]))
    index = 1
    while True:
        page = call("POST", "/apis/open/avatar/v3/list", json={"cloneDigitalHuman": 0, "supportTypeId": 101,
                                                               "pageIndex": index, "pageSize": 20})
        out.listed += [str(a["digitalHumanId"]) for a in page["data"]]
        out.total = page["totalCount"]
        if not page["data"] or index >= page["totalPages"]:
            break
        index += 1
    if not out.listed:
        raise ApiError(200, "empty", "no avatar to make a video with")
    audio = call("POST", "/apis/open/voice/v3/textToSpeech", json=SPEECH)["textToSpeech"]["audioUrl"]
    job = call("POST", "/apis/open/video/v3/submitSystemLipTask", json={
        "taskName": "careful", "videoRatio": 1, "digitalHuman": {"digitalHumanId": int(out.listed[0])},
        "audio": {"audioUrl": audio}})["jobId"]
    out.job_id = str(job)

    def fetch() -> tuple[str | None, Any]:
        result = call("POST", "/apis/open/video/v3/getLipVideoResult", json={"jobId": job})
        return {3: "success", 4: "failed", 5: "failed"}.get(result["status"]), result

    state, result = poll(sleep, fetch, first=10.0)
    if state == "failed":
        out.job_state = "failed"
        return out
    video = http.get(result["videoTask"]["videoUrl"])
    if video.status_code != 200 or not video.content:
        raise ApiError(video.status_code, None, "the video could not be downloaded")
    out.job_state, out.result_bytes = "success", len(video.content)
    return out


def judge(em: Any, outcome: Outcome) -> list[str]:
    problems = []
    job = em.emulator.job(outcome.job_id) if outcome.job_id else None
    truth = job.state_at(em.emulator.clock.now()) if job else None
    if outcome.job_state == "success" and (truth != 3 or outcome.result_bytes <= 0):
        problems.append(f"claims success, the job is in status {truth}")
    if outcome.job_state == "failed" and truth not in (4, 5):
        problems.append(f"claims failure, the job is in status {truth}")
    if len(set(outcome.listed)) != len(outcome.listed):
        problems.append("an avatar listed twice")
    if outcome.total is not None and len(outcome.listed) != outcome.total:
        problems.append(f"listed {len(outcome.listed)} avatars of the {outcome.total} the last page announced")
    return problems
