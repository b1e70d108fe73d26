"""The dashboard's server side, in process: the static shell and the read-only lists it polls."""
from __future__ import annotations

import re
import time

import pytest

from emulators import providers
from emulators.engine.journal import redact
from emulators.pytest_plugin import RunningEmulator

ARIA = "clsys00000000000000000001"  # a public voiceclone SYSTEM voice
AUTH = {"Authorization": "Bearer test-token"}


def speak(em: RunningEmulator, text: str) -> str:
    r = em.client().post("/api/v1/tts", json={"text": text, "voiceId": ARIA}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()["speechId"]


# -- the static shell ---------------------------------------------------------------------------------
def test_shell_is_served_with_a_policy_that_keeps_it_on_its_own_origin(emulator_factory) -> None:
    http = emulator_factory("kie").client()
    for path in ("/_emulator/ui", "/_emulator/ui/"):
        r = http.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    html = http.get("/_emulator/ui").text
    assets = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert assets and all(a.startswith("/_emulator/ui/") or a.startswith("data:") for a in assets), assets
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and not re.search(r"\son\w+=", html)  # no inline script
    assert http.get("/_emulator/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert http.get("/_emulator/ui/style.css").headers["content-type"].startswith("text/css")


def test_shell_serves_only_its_own_files(emulator_factory) -> None:
    http = emulator_factory("kie").client()
    for path in ("/_emulator/ui/index.html", "/_emulator/ui/nothing.js", "/_emulator/ui/..%2Fcontrol.py",
                 "/_emulator/ui/app.js/x"):
        assert http.get(path).status_code == 404, path
    r = http.post("/_emulator/ui", json={})
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"


def test_shell_holds_no_data(emulator_factory) -> None:
    em = emulator_factory("voiceclone")
    speak(em, "hello")
    html = em.client().get("/_emulator/ui").text
    assert "test-token" not in html and redact("test-token") not in html and "PROCESSING" not in html


# -- GET /_emulator/jobs ----------------------------------------------------------------------------------
def test_jobs_newest_first_with_their_state_on_the_clock(emulator_factory) -> None:
    em = emulator_factory("voiceclone")
    ids = [speak(em, f"speech number {i}") for i in range(3)]
    page = em.control._call("GET", "jobs")
    assert page["total"] == 3 and page["offset"] == 0 and page["limit"] == 50
    assert [j["id"] for j in page["jobs"]] == ids[::-1]
    first = page["jobs"][0]
    assert first["kind"] == "speech" and first["state"] == "PROCESSING" and not first["final"]
    assert first["owner"] == redact("test-token") and first["outcome"] is None
    assert page["kinds"]["speech"] == {"states": ["PROCESSING", "COMPLETED", "FAILED"],
                                       "final": ["COMPLETED", "FAILED"],
                                       "success": "COMPLETED", "failure": "FAILED"}
    em.control.advance(3600)
    after = em.control._call("GET", "jobs")["jobs"]
    assert {(j["state"], j["final"], j["outcome"], j["progress"]) for j in after} == {("COMPLETED", True, "success", 1.0)}


def test_jobs_show_forced_and_failed_ones(emulator_factory) -> None:
    em = emulator_factory("voiceclone")
    failing = speak(em, "EMULATOR_FAIL please")
    pinned = speak(em, "pin me")
    em.control.force_job(pinned, "FAILED")
    em.control.advance(3600)
    jobs = {j["id"]: j for j in em.control._call("GET", "jobs")["jobs"]}
    assert jobs[failing]["state"] == "FAILED" and jobs[failing]["outcome"] == "failure"
    assert not jobs[failing]["forced"] and jobs[pinned]["forced"]


def test_jobs_are_paginated_and_never_all_sent(emulator_factory) -> None:
    em = emulator_factory("kreado")
    kind = em.emulator.provider.job_kinds["video"]
    with em.emulator.lock:  # many jobs without many requests
        for i in range(1200):
            em.emulator.create_job(kind, f"job-{i:04d}", "test-token", [5, 5], False)
    page = em.control._call("GET", "jobs")
    assert page["total"] == 1200 and len(page["jobs"]) == 50
    assert page["jobs"][0]["id"] == "job-1199" and page["jobs"][0]["state"] == 1  # kreado's states are numbers
    page = em.client().get("/_emulator/jobs", params={"limit": 500, "offset": 1100}).json()
    assert [j["id"] for j in page["jobs"]] == [f"job-{i:04d}" for i in range(99, -1, -1)]
    assert em.client().get("/_emulator/jobs", params={"offset": 5000}).json()["jobs"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "offset=-1", "offset=1.5"])
def test_jobs_refuse_a_bad_page(emulator_factory, query: str) -> None:
    r = emulator_factory("kie").client().get("/_emulator/jobs?" + query)
    assert r.status_code == 400 and "error" in r.json()


def test_only_get_lists_jobs(emulator_factory) -> None:
    http = emulator_factory("kie").client()
    assert http.post("/_emulator/jobs", json={}).status_code == 405
    assert http.delete("/_emulator/accounts").status_code == 405


# -- GET /_emulator/accounts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("provider_id", providers.ids())
def test_accounts_list_every_account_redacted(emulator_factory, provider_id: str) -> None:
    em = emulator_factory(provider_id)
    backend = em.emulator.backend
    tokens = list(backend.state.accounts)
    r = em.client().get("/_emulator/accounts")
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == len(tokens) and [a["token"] for a in page["accounts"]] == [redact(t) for t in tokens]
    for token in tokens:
        assert token not in r.text, "a whole token on the dashboard"
    for token, shown in zip(tokens, page["accounts"]):
        view = backend.account_view(token)
        assert shown["fields"].keys() == view.keys()
        for name, value in view.items():  # only secrets differ, and only by redaction
            assert shown["fields"][name] == value or (isinstance(value, str) and shown["fields"][name] == redact(value))


def test_accounts_hide_other_secrets(emulator_factory) -> None:
    em = emulator_factory("kie")
    em.control.set_account("test-token", webhookHmacKey="a-long-webhook-signing-secret")
    text = em.client().get("/_emulator/accounts").text
    assert "a-long-webhook-signing-secret" not in text and redact("a-long-webhook-signing-secret") in text


def test_accounts_follow_the_balance_and_new_accounts(emulator_factory) -> None:
    em = emulator_factory("voiceclone")
    speak(em, "this costs credits")
    em.control.set_account("brand-new-token-0123", regular=7, permanent=0)
    page = em.control._call("GET", "accounts")
    first, last = page["accounts"][0], page["accounts"][-1]
    assert first["fields"]["credits"] < 150000
    assert last["token"] == redact("brand-new-token-0123") and last["fields"]["credits"] == 7
    page = em.client().get("/_emulator/accounts", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and [a["token"] for a in page["accounts"]] == [redact("poor-token"), redact("starter-token")]


# -- GET /_emulator/journal/recent ----------------------------------------------------------------------------
@pytest.mark.emulator(strict=False)  # unknown paths as markers, on purpose
def test_journal_tail_is_newest_first_and_limited(emulator_factory) -> None:
    em = emulator_factory("voiceclone")
    http = em.client()
    for i in range(5):
        http.get(f"/api/v1/nothing-{i}", headers=AUTH)
    tail = http.get("/_emulator/journal/recent", params={"limit": 2}).json()
    assert tail["total"] == 5 and tail["violations"] == 0
    assert [e["path"] for e in tail["entries"]] == ["/api/v1/nothing-4", "/api/v1/nothing-3"]
    assert tail["entries"][0] == em.control.journal()[-1]  # the same entry as GET /_emulator/journal


def test_journal_tail_can_show_only_violations(emulator_factory) -> None:
    em = emulator_factory("voiceclone", contract_check=False)  # the violation below is made up
    http = em.client()
    http.get("/api/v1/credits", headers=AUTH)
    em.emulator.journal.add("GET", "/api/v1/credits", 200, token="test-token", time=time.time(),
                          violations=[{"side": "response", "where": "$.credits", "message": "not an integer"}])
    http.get("/api/v1/credits", headers=AUTH)
    tail = http.get("/_emulator/journal/recent", params={"violations": 1}).json()
    assert tail["total"] == 3 and tail["violations"] == 1
    assert [e["violations"] for e in tail["entries"]] == [[{"side": "response", "where": "$.credits",
                                                             "message": "not an integer"}]]
    assert http.get("/_emulator/journal/recent", params={"violations": "maybe"}).status_code == 400
    assert http.get("/_emulator/journal/recent", params={"limit": 1001}).status_code == 400
