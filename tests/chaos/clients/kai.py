"""kai: list the models, chat with the first one, read the answer and its token usage, read the
account's usage."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx

from tests.chaos.clients.common import ApiError, Outcome, Sleep, Verdict, body_of, retry_after, send

FUNDING = {"processing_seconds": 0}  # no emulated processing time: the tests stay fast
QUESTION = [{"role": "user", "content": "Say hello"}]


def naive(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    """The first model is a chat model, every field of the answer is there, nothing refuses."""
    h = {"Authorization": f"Bearer {token}"}
    models = http.get("/api/v1/models", headers=h).json()["data"]
    answer = http.post("/api/v1/chat/completions", headers=h,
                       json={"model": models[0]["id"], "messages": QUESTION}).json()
    when = datetime.fromtimestamp(answer["created"], tz=timezone.utc)  # logged by the app
    text = answer["choices"][0]["message"]["content"]
    used = answer["usage"]["total_tokens"]
    usage = http.get("/api/v1/usage", headers=h).json()
    assert when.year >= 2020 and used > 0
    return Outcome(balance=usage["total_tokens_out"], listed=[m["id"] for m in models], total=len(models),
                   job_state="success", result_bytes=len(text.encode()))


def _read(response: httpx.Response) -> Verdict:
    body = body_of(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if 200 <= response.status_code < 300:
        return Verdict(True)
    if response.status_code == 429 and response.headers.get("x-should-retry") != "false" and "Retry-After" in response.headers:
        wait = response.headers.get("retry-after-ms")
        return Verdict(False, float(wait) / 1000 if wait else retry_after(response), code, message)
    if response.status_code >= 500:
        return Verdict(False, float(response.headers.get("Retry-After", 5)), code, message)
    return Verdict(False, None, code, message)


def careful(http: httpx.Client, token: str, sleep: Sleep) -> Outcome:
    h = {"Authorization": f"Bearer {token}"}

    def call(method: str, url: str, **kw: Any) -> dict[str, Any]:
        return dict(send(http, sleep, _read, method, url, headers=h, **kw).json())

    models = [m["id"] for m in call("GET", "/api/v1/models")["data"]]
    chat = next((m for m in models if "whisper" not in m), None)  # none listed: the product's default
    answer = call("POST", "/api/v1/chat/completions", json={"model": chat, "messages": QUESTION})
    if not answer["choices"]:
        raise ApiError(200, None, "no choice in the answer")
    text = answer["choices"][0]["message"].get("content") or ""
    usage = call("GET", "/api/v1/usage")
    return Outcome(balance=usage["total_tokens_out"], listed=models, total=len(models), job_state="success",
                   result_bytes=len(text.encode()))


def judge(em: Any, outcome: Outcome) -> list[str]:
    problems = []
    if outcome.job_state == "success" and outcome.result_bytes <= 0:
        problems.append("an empty answer")
    if outcome.balance is None or outcome.balance < 0:
        problems.append("no token count")
    return problems
