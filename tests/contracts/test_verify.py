"""`emulators verify` against real emulator processes (no drift, with and without --allow-spend) and
against servers made to drift (each drift found and named by its JSON path); exit codes 0/1/2;
the token never printed nor written."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from emulators import cli, providers
from emulators.contract_tools.plan import load_plan
from emulators.contract_tools.verify import Verifier
from emulators.engine.contracts import contract_for
from emulators.engine.emulator import Emulator
from emulators.server import ThreadedServer
from tests.contracts.drift import on

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """`emulators serve <id> --port N --check-contract` in its own process."""

    def __init__(self, provider_id: str) -> None:
        self.provider = providers.get(provider_id)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + self.provider.api_prefix
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulators.cli", "serve", provider_id, "--port", str(self.port), "--check-contract"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait(self, timeout: float = 60.0) -> Process:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/_emulator/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode() if self.proc.stderr else "exited")
            time.sleep(0.1)
        raise RuntimeError(f"{self.provider.id} emulator did not start")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def processes() -> Iterator[dict[str, Process]]:
    started = {pid: Process(pid) for pid in providers.ids()}  # all start at once
    try:
        yield {pid: p.wait() for pid, p in started.items()}
    finally:
        for p in started.values():
            p.stop()


class ClockPusher:
    """Moves an emulator's clock on in the background, so its jobs end while verify polls."""

    def __init__(self, url: str, step: float = 20.0) -> None:
        self.url, self.step = url, step
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stopped.wait(0.05):
                client.post("/_emulator/clock", json={"advance_seconds": self.step})

    def __enter__(self) -> ClockPusher:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopped.set()
        self.thread.join(10)


def verify(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    code = cli.main(["verify", *args, "--report", str(report)])
    out = capsys.readouterr()
    text = out.out + out.err
    data = json.loads(report.read_text()) if report.exists() else None
    return code, text, data


def assert_secret_kept(token: str, text: str, report_path: Path) -> None:
    assert token not in text
    if report_path.exists():
        assert token not in report_path.read_text()


MONEY = {  # the account fields that say what was spent
    "kai": ("total_ok", "usage_remaining"),
    "kie": ("credits",),
    "kitta": ("api_quota_remaining", "credits"),
    "kreado": ("balance",),
    "voiceclone": ("regular", "permanent"),
}


def money(p: Process, token: str) -> dict[str, Any]:
    view = p.control("GET", f"accounts/{token}")
    return {k: view.get(k) for k in MONEY[p.provider.id]}


@pytest.mark.parametrize("provider_id", providers.ids())
def test_a_real_emulator_has_no_drift(provider_id: str, processes: dict[str, Process],
                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = processes[provider_id]
    p.control("POST", "reset")
    before = money(p, "test-token")
    code, text, report = verify(capsys, tmp_path, provider_id, "--base-url", p.base_url, "--token", "test-token")
    assert code == 0, text
    assert report is not None and report["provider"] == provider_id and report["base_url"] == p.base_url
    assert report["drift"] == 0 and report["checks"] and all(c["ok"] and c["problems"] == [] for c in report["checks"])
    assert {"operation", "method", "path", "status", "ok", "problems"} <= set(report["checks"][0])
    statuses = {c["status"] for c in report["checks"]}
    assert 200 in statuses
    assert "skip" in text and "--allow-spend" in text  # the spending steps were left out, and said so
    assert money(p, "test-token") == before  # nothing spent
    assert_secret_kept("test-token", text, tmp_path / "report.json")
    assert [e for e in p.control("GET", "journal")["entries"] if e["violations"]] == []


@pytest.mark.parametrize("provider_id", providers.ids())
def test_allow_spend_follows_a_job_of_each_kind_to_its_end(provider_id: str, processes: dict[str, Process],
                                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = processes[provider_id]
    p.control("POST", "reset")
    before = money(p, "test-token")
    with ClockPusher(p.url):
        code, text, report = verify(capsys, tmp_path, provider_id, "--base-url", p.base_url, "--token", "test-token",
                                    "--allow-spend", "--poll-interval", "0.05", "--timeout", "60")
    assert code == 0, text
    assert report is not None and report["drift"] == 0
    plan = load_plan(provider_id, contract_for(p.provider.contract_path))
    follows = [s for s in plan.steps if s.follow]
    followed = [c for c in report["checks"] if ": follow " in c["step"]]
    assert len(followed) == len(follows)
    assert len(report["checks"]) == len(plan.steps) + len(follows)  # nothing skipped
    assert "skip" not in text
    assert money(p, "test-token") != before  # it did spend
    assert_secret_kept("test-token", text, tmp_path / "report.json")
    assert [e for e in p.control("GET", "journal")["entries"] if e["violations"]] == []


def test_every_plan_request_is_one_the_contract_allows() -> None:
    """The plans' own requests pass the request side of the contract (but the deliberately bad ones)."""
    for provider_id in providers.ids():
        contract = contract_for(providers.get(provider_id).contract_path)
        verifier = Verifier(provider_id, "http://x" + providers.get(provider_id).api_prefix, "t0ken",
                            client=httpx.Client())
        verifier.variables.update({k: "1234567890123456789" for k in
                                   ("voice", "speech", "cloned", "task", "upload_url", "audio_url", "video_job",
                                    "photo_job", "clone_job", "subtitle_job")})
        verifier.variables["upload_url"] = verifier.variables["audio_url"] = "https://example.com/a.mp3"
        for step in verifier.plan.steps:
            for call in [step.call] + ([step.follow.call] if step.follow else []):
                prepared = verifier._prepare(call)
                request = verifier.client.build_request(
                    prepared.op.method, prepared.url, headers=prepared.headers, params=prepared.params,
                    **({"files": prepared.files, "data": prepared.data} if prepared.files is not None
                       else {"json": prepared.json} if prepared.has_json else {}))
                op = contract.operation(prepared.op.method, request.url.path)
                assert op is prepared.op
                problems = op.check_request(path_params=contract.path_params(op, request.url.path),
                                            query=list(request.url.params.multi_items()),
                                            headers={k.lower(): v for k, v in request.headers.items()},
                                            body=request.read())
                if call.invalid:
                    assert any(p.where.endswith(call.invalid) for p in problems), (provider_id, step.name)
                else:
                    assert problems == [], (provider_id, step.name, problems)


def rename(data: dict[str, Any], old: str, new: str) -> None:
    data[new] = data.pop(old)


DRIFTS = {
    "renamed field": (on("GET", "/api/v1/credits", 200, lambda s, h, d: rename(d, "credits", "credit")),
                      "getCredits", 200, {("$.credits", "required field missing"), ("$.credit", "undocumented field")}),
    "wrong type": (on("GET", "/api/v1/voices", 200, lambda s, h, d: d["voices"][0].update(title=42)),
                   "listVoices", 200, {("$.voices[0].title", "42 is not of type 'string'")}),
    "undocumented status": (on("GET", "/api/v1/tts/verify-no-such-speech", 404, lambda s, h, d: (410, d)),
                            "getSpeech", 410, {("status", "410 is not documented (documented: 200, 400, 401, 404, "
                                                          "429, 500)"), ("status", "expected 404, got 410")}),
    "missing header": (on("GET", "/api/v1/credits", 200, lambda s, h, d: h.pop("x-ratelimit-limit")),
                       "getCredits", 200, {("header:X-RateLimit-Limit", "required header missing")}),
    "changed error shape": (on("GET", "/api/v1/credits", 401,
                               lambda s, h, d: (401, {"error": {"code": d["code"], "message": d["error"]}})),
                            "getCredits", 401, {("$.code", "required field missing"),
                                                ("$.error", "{'code': 'UNAUTHORIZED', 'message': 'Authentication "
                                                            "required'} is not of type 'string'"),
                                                ("$.code", "expected UNAUTHORIZED, field missing")}),
}


@pytest.mark.parametrize("name", DRIFTS)
def test_drift_is_found_and_named_by_json_path(name: str, drifting: Callable[..., str],
                                               capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rewrite, operation, status, problems = DRIFTS[name]
    url = drifting(rewrite)
    code, text, report = verify(capsys, tmp_path, "voiceclone", "--base-url", url, "--token", "test-token")
    assert code == 1, text
    assert report is not None
    failed = [c for c in report["checks"] if not c["ok"]]
    assert report["drift"] == len(failed) == 1, failed
    [check] = failed
    assert (check["operation"], check["status"]) == (operation, status)
    assert {(p["where"], p["message"]) for p in check["problems"]} == problems
    for where, _ in problems:
        assert where in text  # the table names it too
    assert_secret_kept("test-token", text, tmp_path / "report.json")


def test_extra_fields_are_drift_unless_allowed(drifting: Callable[..., str], capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    url = drifting(on("GET", "/api/v1/credits", 200, lambda s, h, d: d["breakdown"].update(bonus=5)))
    code, text, report = verify(capsys, tmp_path, "voiceclone", "--base-url", url, "--token", "test-token")
    assert code == 1 and "$.breakdown.bonus: undocumented field" in text
    code, text, report = verify(capsys, tmp_path, "voiceclone", "--base-url", url, "--token", "test-token",
                                "--allow-extra-fields")
    assert code == 0, text


def test_kie_live_errors_as_http_200_are_drift_not_a_crash(drifting: Callable[..., str],
                                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    em = Emulator(providers.get("kie"))
    em.backend.put_settings({"httpStatus": "live"})  # what the live service was recorded doing
    server = ThreadedServer(em).start()
    try:
        code, text, report = verify(capsys, tmp_path, "kie", "--base-url", server.url, "--token", "test-token")
        assert code == 1, text
        assert report is not None
        drift = {(c["step"], p["where"]) for c in report["checks"] for p in c["problems"]}
        # The contract records live's envelope (a 404 code in a 200 answer is a valid body), but
        # the HTTP status is not the documented one: that is the drift verify names.
        assert ("getTaskDetail of a task that does not exist", "status") in drift  # expected 404
        assert ("getAccountCredits without a token", "status") in drift
        code, text, _ = verify(capsys, tmp_path, "kie", "--base-url", server.url, "--token", "not-a-kie-token")
        assert code == 2 and "token was refused" in text  # told by the code in the body
        assert_secret_kept("not-a-kie-token", text, tmp_path / "report.json")
    finally:
        server.stop()


def test_could_not_run_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, drifting: Callable[..., str]) -> None:
    secret = "sk-verify-9f8e7d6c5b4a"
    code, text, report = verify(capsys, tmp_path, "voiceclone", "--base-url", f"http://127.0.0.1:{free_port()}/api/v1",
                                "--token", secret)
    assert code == 2 and "could not run" in text
    assert_secret_kept(secret, text, tmp_path / "report.json")
    url = drifting(lambda *a: None)  # a faithful emulator that does not know this token
    code, text, report = verify(capsys, tmp_path, "voiceclone", "--base-url", url, "--token", secret)
    assert code == 2 and "token was refused" in text
    assert_secret_kept(secret, text, tmp_path / "report.json")
    assert report is not None and report["drift"] == 0  # the report is written all the same


def test_the_ci_script_checks_what_has_a_token_and_skips_the_rest(processes: dict[str, Process],
                                                                  tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_BASE_URL"))}
    env.update(PYTHON=sys.executable, REPORT_DIR=str(tmp_path))
    script = str(REPO / "scripts" / "verify-live.sh")
    nothing = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 0
    assert [line.split(":")[0] for line in nothing.stdout.splitlines()] == [f"skip {i}" for i in providers.ids()]
    assert "skip kie: $KIE_TOKEN is not set" in nothing.stdout
    p = processes["voiceclone"]
    secret = "verify-ci-secret-0a1b2c"
    p.control("PUT", f"accounts/{secret}", {"regular": 100, "permanent": 0})
    one = subprocess.run([script], env={**env, "VOICECLONE_TOKEN": secret, "VOICECLONE_BASE_URL": p.base_url},
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stdout + one.stderr
    skipped = [line.split(":")[0] for line in one.stdout.splitlines() if line.startswith("skip ")]
    assert skipped == ["skip kai", "skip kie", "skip kitta", "skip kreado"]
    report = json.loads((tmp_path / "voiceclone.json").read_text())
    assert report["drift"] == 0 and report["base_url"] == p.base_url
    assert secret not in one.stdout + one.stderr + (tmp_path / "voiceclone.json").read_text()
