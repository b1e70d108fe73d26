"""What the naive and the careful clients of every provider share: the error a careful client
raises, the outcome of a flow, and the careful way of sending a request."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

Sleep = Callable[[float], None]  # the tests pass the emulated clock: waiting costs no real time
MAX_ATTEMPTS = 8
JOB_DEADLINE = 6 * 3600.0  # a careful client gives a job this long (emulated seconds)


class ApiError(Exception):
    """The careful clients' one error: the provider refused, said so, and the client says why."""

    def __init__(self, status: int, code: Any, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class Outcome:
    """What a flow ends with, for the test to judge against the emulator's own state."""

    balance: float | None = None
    listed: list[str] = field(default_factory=list)  # ids collected over every page
    total: int | None = None  # the total the last page announced
    job_id: str | None = None
    job_state: str | None = None  # "success" | "failed"
    result_bytes: int = 0


@dataclass(frozen=True)
class Verdict:
    """How the provider's answer reads: fine, wait and retry, or a refusal."""

    ok: bool
    retry_after: float | None = None  # set: retry after this many seconds
    code: Any = None
    message: str = ""


def send(http: httpx.Client, sleep: Sleep, read: Callable[[httpx.Response], Verdict], method: str, url: str,
         **kwargs: Any) -> httpx.Response:
    """Sends until the answer is not one to retry: a 429 after its Retry-After, a server error
    after a growing pause; a refusal raises ApiError."""
    for attempt in range(MAX_ATTEMPTS):
        response = http.request(method, url, **kwargs)
        verdict = read(response)
        if verdict.ok:
            return response
        if verdict.retry_after is None:
            raise ApiError(response.status_code, verdict.code, verdict.message)
        sleep(verdict.retry_after)
    raise ApiError(response.status_code, verdict.code, f"still refused after {MAX_ATTEMPTS} attempts")


def retry_after(response: httpx.Response, attempt_default: float = 2.0) -> float:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else attempt_default
    except ValueError:
        return attempt_default


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def poll(sleep: Sleep, fetch: Callable[[], tuple[str | None, Any]], *, first: float = 2.0,
         deadline: float = JOB_DEADLINE) -> tuple[str, Any]:
    """Polls `fetch` (-> (final state or None, record)) with a growing pause until the job ends."""
    waited, pause = 0.0, first
    while True:
        state, record = fetch()
        if state is not None:
            return state, record
        if waited >= deadline:
            raise ApiError(200, "timeout", f"the job did not end within {deadline:g} s")
        sleep(pause)
        waited += pause
        pause = min(pause * 1.6, 300.0)
