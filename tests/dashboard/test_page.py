"""The dashboard in a real browser (Debian's chromium via Playwright) against emulators on sockets:
what a user sees and does on the page reaches the emulator, and what the emulator does shows up."""
from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from emulators.engine.journal import redact
from emulators.pytest_plugin import RunningEmulator

from .conftest import LAPTOP, Page

AUTH = {"Authorization": "Bearer test-token"}
ARIA = "clsys00000000000000000001"  # a public voiceclone SYSTEM voice


def kie_video(em: RunningEmulator) -> str:
    """A kie task that runs for 47 emulated seconds (waiting, queuing, generating)."""
    r = httpx.post(em.base_url + "/api/v1/jobs/createTask", headers=AUTH,
                   json={"model": "kling-2.6/text-to-video", "input": {"prompt": "waves", "sound": False, "aspect_ratio": "1:1", "duration": 5}})
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    return r.json()["data"]["taskId"]


def kie_state(em: RunningEmulator, task_id: str) -> str:
    r = httpx.get(em.base_url + "/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH)
    return r.json()["data"]["state"]


def job_row(tab: Any, job_id: str) -> Any:
    return tab.locator(f'#jobs tbody tr[data-key="{job_id}"]')


def control_calls(page: Page) -> list[Any]:
    return [r for r in page.requests if urlsplit(r.url).path.startswith("/_emulator/")
            and not urlsplit(r.url).path.startswith("/_emulator/ui")]


def test_advancing_the_clock_in_the_page_finishes_a_job(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("kie", server=True)
    task_id = kie_video(em)
    tab = dashboard.open(em.base_url)
    row = job_row(tab, task_id)
    expect(row.locator(".state")).to_have_text(re.compile("^(waiting|queuing|generating)$"))
    expect(row).to_have_attribute("data-final", "false")

    tab.fill("#advance-seconds", "120")
    tab.click("#advance-button")
    expect(row.locator(".state")).to_have_text("success")
    expect(row).to_have_attribute("data-final", "true")
    expect(tab.locator("#clock-offset")).to_have_text("+2 min")
    assert em.control.clock()["offset_seconds"] == 120
    assert kie_state(em, task_id) == "success"

    tab.click("button[data-advance='3600']")
    expect(tab.locator("#clock-offset")).to_have_text("+1 h 2 min")
    for call in control_calls(dashboard):  # the security work's rule for bodies
        if call.method != "GET":
            assert call.all_headers().get("content-type") == "application/json", (call.method, call.url)


def test_a_fault_added_in_the_page_fails_the_next_request_in_the_journal_view(dashboard: Page,
                                                                               emulator_factory) -> None:
    em = emulator_factory("voiceclone", server=True)
    tab = dashboard.open(em.base_url)
    form = tab.locator("#fault-form")
    form.locator("[name=method]").select_option("GET")
    form.locator("[name=path]").fill("/api/v1/credits")
    form.locator("[name=status]").fill("503")
    form.locator("[name=times]").fill("1")
    form.locator("[name=body]").fill('{"error": "down for the test"}')
    form.locator("#fault-add").click()
    expect(tab.locator("#faults li")).to_have_text(re.compile(r"GET /api/v1/credits → 503 .*1 more time"))
    (rule,) = em.control.faults()
    assert (rule["method"], rule["path"], rule["status"], rule["times"], rule["body"]) == (
        "GET", "/api/v1/credits", 503, 1, {"error": "down for the test"})

    failed = httpx.get(em.api_url + "/credits", headers=AUTH)
    assert failed.status_code == 503 and failed.json() == {"error": "down for the test"}
    newest = tab.locator("#journal tbody tr").first
    expect(newest).to_have_attribute("data-status", "503")
    expect(newest.locator("td").nth(2)).to_have_text("/api/v1/credits")
    expect(newest.locator("td").nth(3)).to_have_text("503")
    expect(newest.locator("td").nth(3)).to_have_class(re.compile(r"\bstatus-5\b"))
    expect(newest.locator("td").nth(4)).to_have_text(redact("test-token") or "")
    expect(newest).not_to_have_class(re.compile("violation"))

    assert httpx.get(em.api_url + "/credits", headers=AUTH).status_code == 200  # the rule is used up
    expect(tab.locator("#journal tbody tr").first).to_have_attribute("data-status", "200")
    expect(tab.locator("#journal tbody tr")).to_have_count(2)
    expect(tab.locator("#faults li")).to_have_text(re.compile("No fault rules"))

    form.locator("[name=path]").fill("/api/v1/*")
    form.locator("[name=drop]").check()
    form.locator("#fault-add").click()
    expect(tab.locator("#faults li")).to_have_text(re.compile(r"/api/v1/\* → drop the connection"))
    tab.click("#faults-clear")
    expect(tab.locator("#faults li")).to_have_text(re.compile("No fault rules"))
    assert em.control.faults() == []
    tab.click("#journal-clear")
    expect(tab.locator("#journal-empty")).to_be_visible()
    assert em.control.journal() == []


def test_contract_violations_stand_out_in_the_journal_view(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("voiceclone", server=True, contract_check=False)  # the violation is made up
    httpx.get(em.api_url + "/credits", headers=AUTH)
    em.emulator.journal.add("GET", "/api/v1/credits", 200, token="test-token", time=time.time(),
                          violations=[{"side": "response", "where": "$.credits",
                                      "message": "'x' is not of type 'integer'"}])
    httpx.get(em.api_url + "/voices", headers=AUTH)
    tab = dashboard.open(em.base_url)
    rows = tab.locator("#journal tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_have_class(re.compile(r"\bviolation\b"))
    expect(rows.nth(1).locator("ul.violations li")).to_have_text("response $.credits: 'x' is not of type 'integer'")
    expect(rows.nth(0)).not_to_have_class(re.compile("violation"))
    expect(tab.locator("#journal-count")).to_contain_text("1 with violations")
    highlighted = rows.nth(1).evaluate("row => getComputedStyle(row).backgroundColor")
    plain = rows.nth(0).evaluate("row => getComputedStyle(row).backgroundColor")
    assert highlighted != plain

    tab.check("#journal-violations")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_class(re.compile(r"\bviolation\b"))


@pytest.mark.emulator(strict=False)  # hostile paths and secrets in queries, on purpose
def test_the_page_loads_nothing_from_elsewhere_and_shows_data_as_text(dashboard: Page,
                                                                       emulator_factory) -> None:
    em = emulator_factory("kai", server=True)
    tab = dashboard.open(em.base_url)
    assert em.control.journal() == []  # the page's own calls never reach the provider's routes
    hostile = "/api/v1/<img src=x onerror=window.pwned=1>"
    httpx.get(em.base_url + hostile, headers=AUTH)
    expect(tab.locator("#journal tbody tr")).to_have_count(1)
    expect(tab.locator("#journal tbody td").nth(2)).to_have_text(hostile)
    assert tab.locator("#journal img").count() == 0 and tab.evaluate("window.pwned") is None

    urls = [r.url for r in dashboard.requests if not r.url.startswith("data:")]
    paths = {urlsplit(u).path for u in urls}
    assert {"/_emulator/ui", "/_emulator/ui/app.js", "/_emulator/ui/style.css"} <= paths
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in urls), urls
    assert all(p.startswith("/_emulator/") for p in paths), paths  # no favicon.ico or the like


def test_the_control_token_comes_from_the_fragment_or_the_prompt(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("kitta", server=True)
    secret = "s3cret-control-token"

    def gate(route: Any) -> None:  # stands in for --control-token: data calls need the token
        path = urlsplit(route.request.url).path
        if path.startswith("/_emulator/ui") or route.request.all_headers().get("authorization") == f"Bearer {secret}":
            route.fallback()
        else:
            route.fulfill(status=401, json={"error": "control token needed"})

    tab = dashboard.tab
    tab.route("**/_emulator/**", gate)
    dashboard.open(em.base_url, f"#token={secret}")
    assert "token" not in tab.url  # gone from the address bar and history
    assert tab.evaluate("sessionStorage.getItem('emulator-control-token')") == secret
    expect(tab.locator("#token-form")).to_be_hidden()
    expect(tab.locator("#accounts tbody tr").first).to_contain_text(redact("test-token") or "")

    tab.evaluate("sessionStorage.clear()")
    tab.reload()
    expect(tab.locator("#token-form")).to_be_visible()
    expect(tab.locator("#status")).to_have_text("waiting for the control token")
    tab.fill("#token-input", secret)
    tab.press("#token-input", "Enter")
    expect(tab.locator("#token-form")).to_be_hidden()
    expect(tab.locator("#status")).to_contain_text("updated")
    expect(tab.locator("#clock-now")).to_contain_text("UTC")
    assert tab.evaluate("sessionStorage.getItem('emulator-control-token')") == secret
    assert all(secret not in r.url for r in dashboard.requests)
    last = control_calls(dashboard)[-1]
    assert last.all_headers().get("authorization") == f"Bearer {secret}"


def test_forcing_a_job_from_the_page(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("kie", server=True)
    task_id = kie_video(em)
    other = kie_video(em)
    tab = dashboard.open(em.base_url)
    rows = tab.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-key", other)  # newest first
    row = job_row(tab, task_id)
    row.locator("select").select_option(label="fail")
    row.get_by_role("button", name="Force").click()
    expect(row.locator(".state")).to_have_text("fail")
    expect(row.locator(".forced")).to_be_visible()
    assert kie_state(em, task_id) == "fail"
    expect(job_row(tab, other).locator(".forced")).to_have_count(0)


def test_accounts_and_balances_update_live_with_tokens_redacted(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("voiceclone", server=True)
    tab = dashboard.open(em.base_url)
    first = tab.locator("#accounts tbody tr").first
    expect(first.locator("td").first).to_have_text(redact("test-token") or "")
    credits = first.locator(".chip[data-field=credits] b")
    expect(credits).to_have_text("150000")
    r = httpx.post(em.api_url + "/tts", json={"text": "Hello there", "voiceId": ARIA}, headers=AUTH)
    assert r.status_code == 200
    left = httpx.get(em.api_url + "/credits", headers=AUTH).json()
    expect(credits).to_have_text(str(left["credits"]))
    assert "test-token" not in tab.content() and "poor-token" not in tab.content()
    first.locator("summary").click()
    expect(first.locator("dl.fields")).to_contain_text("monthlyCredits")


def settings_put(response: Any) -> bool:
    return response.request.method == "PUT" and response.url.endswith("/_emulator/settings")


def test_settings_are_switched_from_the_page(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("kie", server=True)
    tab = dashboard.open(em.base_url)
    # The box ticks at once; the PUT that follows is what the emulator sees, so wait for its answer.
    with tab.expect_response(settings_put):
        tab.locator("#settings tr[data-name=maintenance] input").check()
    expect(tab.locator("#settings tr[data-name=maintenance] input")).to_be_checked()
    assert em.control.settings()["maintenance"] is True
    delays = tab.locator("#settings tr[data-name=callbackRetryDelays]")
    delays.locator("input").fill("[1, 2.5]")
    with tab.expect_response(settings_put):
        delays.get_by_role("button", name="Set").click()
    expect(delays.locator("input")).to_have_value("[1,2.5]")
    assert em.control.settings()["callbackRetryDelays"] == [1, 2.5]
    delays.locator("input").fill("[-1]")
    delays.get_by_role("button", name="Set").click()
    expect(tab.locator("#message")).to_contain_text("callbackRetryDelays")  # the emulator's own reason
    assert em.control.settings()["callbackRetryDelays"] == [1, 2.5]


def test_reset_from_the_page(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("kie", server=True)
    task_id = kie_video(em)
    em.control.advance(600)
    tab = dashboard.open(em.base_url)
    expect(job_row(tab, task_id)).to_have_count(1)
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.click("#reset-button")
    expect(tab.locator("#jobs-empty")).to_be_visible()
    expect(tab.locator("#clock-offset")).to_have_text("0 s (real time)")
    assert em.control.clock()["offset_seconds"] == 0


def test_the_page_fits_a_laptop_screen(dashboard: Page, emulator_factory) -> None:
    em = emulator_factory("kie", server=True)
    for _ in range(3):
        kie_video(em)
    httpx.get(em.base_url + "/api/v1/chat/credit", headers=AUTH)
    tab = dashboard.open(em.base_url)
    expect(tab.locator("#jobs tbody tr")).to_have_count(3)
    assert tab.viewport_size == LAPTOP
    assert tab.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]  # no sideways scrolling
    for panel in ("#jobs-panel", "#accounts-panel", "#journal-panel", "#faults-panel"):
        box = tab.locator(panel).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"], panel
        assert box["y"] < LAPTOP["height"], f"{panel} starts below the first screen"
    jobs = tab.locator("#jobs-panel .scroll")
    assert jobs.evaluate("e => e.scrollWidth <= e.clientWidth"), "the jobs table is wider than its panel"
