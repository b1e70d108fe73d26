"""`emulators verify PROVIDER --base-url URL --token TOKEN`: checks a running API (an emulator or the
live service) against the provider's contract and reports drift.

It runs the provider's plan (`contracts/verify/<id>.yaml`): the calls that cost nothing and change
nothing, and with `--allow-spend` the ones that spend or create, following one job of each kind
to its end. Every answer is checked against the contract (status, content type, the headers it
names, the body, undocumented fields unless `--allow-extra-fields`) and against what the step
expects. Exit 0: no drift; 1: drift; 2: could not run (bad URL, refused token). The token is
never printed nor written to the report.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO
from urllib.parse import quote

import httpx

from emulators.contract_tools.plan import (
    Call,
    Matcher,
    MissingVariable,
    Plan,
    PlanError,
    Step,
    body_field_schema,
    example_body,
    get_path,
    invalid_value,
    load_plan,
    substitute,
)
from emulators.engine.contracts import Contract, Operation, contract_for, deref
from emulators.engine.schema_checks import Problem, shorten
from emulators.media.sniff import HEAD_SIZE

EXIT_OK, EXIT_DRIFT, EXIT_CANNOT_RUN = 0, 1, 2
DEFAULT_TIMEOUT = 600.0
MAX_WAIT = 120.0  # the longest Retry-After honoured in one go


class CannotRun(Exception):
    """The check cannot go on (unreachable URL, refused token)."""


@dataclass
class Check:
    step: str
    operation: str
    method: str
    path: str
    status: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "step": self.step, "method": self.method, "path": self.path,
                "status": self.status, "ok": self.ok,
                "problems": [{"where": p.where, "message": p.message} for p in self.problems]}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def head(self) -> bytes:
        return self.body[:HEAD_SIZE]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None


@dataclass
class Result:
    provider: str
    base_url: str
    checks: list[Check] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (step, why)
    error: str | None = None

    @property
    def drift(self) -> int:
        return sum(1 for c in self.checks if not c.ok)

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_CANNOT_RUN
        return EXIT_DRIFT if self.drift else EXIT_OK

    def report(self) -> dict[str, Any]:
        return {"provider": self.provider, "base_url": self.base_url, "drift": self.drift,
                "checks": [c.as_json() for c in self.checks]}


def matches(matcher: Matcher, answer: Answer, data: Any) -> bool:
    for key, values in matcher.items():
        if key == "status":
            if answer.status not in [int(v) for v in values]:
                return False
        else:
            found, value = get_path(data, key)
            if not found or not any(value == v or str(value) == str(v) for v in values):
                return False
    return True


def expectation_problems(matcher: Matcher, answer: Answer, data: Any) -> list[Problem]:
    problems = []
    for key, values in matcher.items():
        shown = " or ".join(map(str, values))
        if key == "status":
            if answer.status not in [int(v) for v in values]:
                problems.append(Problem("response", "status", f"expected {shown}, got {answer.status}"))
            continue
        found, value = get_path(data, key)
        if not found:
            problems.append(Problem("response", key, f"expected {shown}, field missing"))
        elif not any(value == v or str(value) == str(v) for v in values):
            problems.append(Problem("response", key, shorten(f"expected {shown}, got {value!r}")))
    return problems


# -- building requests ---------------------------------------------------------------------------------
def auth_headers(op: Operation, document: dict[str, Any], token: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query parameters) that carry the token, as the operation's security scheme says."""
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    for requirement in op.security or document.get("security") or []:
        for name in requirement:
            scheme = deref(schemes.get(name) or {}, document)
            if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                return {"Authorization": f"Bearer {token}"}, {}
            if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "basic":
                return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}, {}
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                return {scheme["name"]: token}, {}
            if scheme.get("type") == "apiKey" and scheme.get("in") == "query":
                return {}, {scheme["name"]: token}
    return {}, {}


def make_file(spec: dict[str, Any]) -> tuple[str, bytes, str]:
    """(file name, bytes, content type) of an upload a plan describes; real media via PyAV."""
    if "audio" in spec:
        from emulators.media.audio import make_test_audio
        from emulators.media.sniff import mime_type

        fmt = str(spec["audio"])
        return spec.get("name", f"verify.{fmt}"), make_test_audio(float(spec.get("seconds", 3)), fmt), mime_type(fmt)
    if "image" in spec:
        from emulators.media.image import make_image
        from emulators.media.sniff import mime_type

        fmt = str(spec["image"])
        data = make_image(int(spec.get("width", 64)), int(spec.get("height", 64)), fmt=fmt, seed="verify")
        return spec.get("name", f"verify.{fmt}"), data, mime_type(fmt)
    if "text" in spec:
        return spec.get("name", "verify.txt"), str(spec["text"]).encode(), spec.get("type", "text/plain")
    raise PlanError(f"a file is audio, image or text: {spec}")


@dataclass
class Prepared:
    op: Operation
    url: str
    headers: dict[str, str]
    params: list[tuple[str, str]]
    json: Any = None
    has_json: bool = False
    data: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None


class Verifier:
    def __init__(self, provider_id: str, base_url: str, token: str, *, allow_spend: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, allow_extra_fields: bool = False,
                 poll_interval: float | None = None, variables: dict[str, str] | None = None,
                 plan: Plan | None = None, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] | None = None) -> None:
        from emulators import providers

        provider = providers.get(provider_id)
        self.provider_id = provider_id
        self.contract: Contract = contract_for(provider.contract_path)
        self.plan = plan or load_plan(provider_id, self.contract)
        self.base_url = base_url
        root = base_url.rstrip("/")
        if provider.api_prefix and root.endswith(provider.api_prefix):
            root = root[: -len(provider.api_prefix)]
        self.root = root
        self.token = token
        self.allow_spend = allow_spend
        self.timeout = timeout
        self.closed = not allow_extra_fields
        self.poll_interval = poll_interval
        self.variables: dict[str, Any] = {**self.plan.vars, **(variables or {})}
        self.client = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False)
        self.sleep = sleep
        self.log = log or (lambda line: None)
        self.token_checked = False
        self.answered = False

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> Result:
        result = Result(self.provider_id, self.base_url)
        try:
            for step in self.plan.steps:
                self._run_step(step, result)
        except CannotRun as exc:
            result.error = str(exc)
        return result

    def _run_step(self, step: Step, result: Result) -> None:
        if step.spend and not self.allow_spend:
            result.skipped.append((step.name, "spends or creates (--allow-spend)"))
            return
        try:
            prepared = self._prepare(step.call)
        except MissingVariable as exc:
            result.skipped.append((step.name, f"needs {exc.args[0]} from an earlier answer"))
            return
        answer, problems = self._exchange(prepared, step.name)
        data = answer.json()
        if step.call.auth == "token" and not self.token_checked:
            self.token_checked = True
            if any(matches(m, answer, data) for m in self.plan.token_refused):
                raise CannotRun(f"the token was refused ({step.name}: {answer.status})")
        problems += expectation_problems(step.expect, answer, data)
        result.checks.append(self._check(step.name, prepared.op, answer.status, problems))
        self._save(step.save, data)
        if step.follow is not None:
            self._follow(step, result)

    def _save(self, save: dict[str, str], data: Any) -> None:
        for name, path in save.items():
            found, value = get_path(data, path)
            if found and value not in (None, ""):
                self.variables[name] = value

    def _check(self, step: str, op: Operation, status: int, problems: list[Problem]) -> Check:
        check = Check(step, op.operation_id, op.method, op.template, status, list(dict.fromkeys(problems)))
        self.log(format_check(check))
        return check

    def _follow(self, step: Step, result: Result) -> None:
        follow = step.follow
        assert follow is not None
        name = f"{step.name}: follow {follow.call.operation}"
        try:
            prepared = self._prepare(follow.call)
            until = {substitute(k, self.variables): [substitute(v, self.variables) for v in values]
                     for k, values in follow.until.items()}
        except MissingVariable as exc:
            result.skipped.append((name, f"needs {exc.args[0]} from an earlier answer"))
            return
        every = self.poll_interval if self.poll_interval is not None else follow.every
        deadline = time.monotonic() + self.timeout
        problems: list[Problem] = []
        while True:
            answer, seen = self._exchange(prepared, name, deadline)
            problems += seen
            data = answer.json()
            if matches(until, answer, data):
                self._save(follow.save, data)
                break
            if not 200 <= answer.status < 300 or time.monotonic() + every > deadline:
                for path, wanted in until.items():
                    found, value = get_path(data, path)
                    shown = " or ".join(map(str, wanted))
                    if not 200 <= answer.status < 300:
                        why = f"polling stopped on status {answer.status}"
                    elif not found:
                        last = answer.body[:120].decode("utf-8", "replace")
                        why = (f"not in the answer after {self.timeout:g} s (--timeout); waiting for {shown}; "
                               f"the last answer: {last}")
                    else:
                        why = f"still {value!r} after {self.timeout:g} s (--timeout); waiting for {shown}"
                    problems.append(Problem("response", path, why))
                break
            self.sleep(every)
        result.checks.append(self._check(name, prepared.op, answer.status, problems))

    # -- one exchange ------------------------------------------------------------------------------
    def _exchange(self, prepared: Prepared, name: str, deadline: float | None = None) -> tuple[Answer, list[Problem]]:
        """Sends (again, while throttled and time is left) and checks the answer against the contract."""
        deadline = deadline or time.monotonic() + self.timeout
        problems: list[Problem] = []
        while True:
            answer = self._send(prepared)
            if answer.status == 0:  # no answer at all (the connection failed after earlier answers)
                problems.append(Problem("response", "status", answer.body.decode()))
                return answer, problems
            problems += prepared.op.check_response(answer.status, answer.headers, answer.body, answer.head,
                                                   closed=self.closed)
            data = answer.json()
            if not any(matches(m, answer, data) for m in self.plan.throttled):
                return answer, problems
            wait = _retry_after(answer.headers)
            if time.monotonic() + wait > deadline:
                return answer, problems
            self.log(f"  {name}: throttled ({answer.status}); waiting {wait:g} s")
            self.sleep(wait)

    def _send(self, prepared: Prepared) -> Answer:
        kwargs: dict[str, Any] = {"headers": prepared.headers, "params": prepared.params}
        if prepared.files is not None:
            kwargs["files"] = prepared.files
            kwargs["data"] = prepared.data or {}
        elif prepared.has_json:
            kwargs["json"] = prepared.json
        try:
            r = self.client.request(prepared.op.method, prepared.url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            why = self._scrub(f"no answer from {self.root}: {type(exc).__name__}: {exc}")
            if not self.answered:  # the URL is wrong, or nothing listens there
                raise CannotRun(why) from None
            return Answer(0, {}, why.encode())
        self.answered = True
        return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    def _prepare(self, call: Call) -> Prepared:
        op = self.contract.by_id[call.operation]
        path_params = substitute(call.path, self.variables)
        query = substitute(call.query, self.variables)
        body: Any = None
        has_json = False
        if call.example:
            body = example_body(op, self.contract.document)
            has_json = True
        if call.json is not None:
            extra = substitute(call.json, self.variables)
            body = {**body, **extra} if isinstance(body, dict) and isinstance(extra, dict) else extra
            has_json = True
        if call.invalid:
            param = next((p for p in op.request.parameters if p.name == call.invalid), None)
            schema = param.schema.schema if param else body_field_schema(op, self.contract.document, call.invalid)
            bad = invalid_value(schema, self.contract.document)
            if bad is None:
                raise PlanError(f"{call.operation}: no value the contract refuses for {call.invalid!r}")
            if param is not None:
                (path_params if param.location == "path" else query)[call.invalid] = bad
            else:
                body = {**(body or {}), call.invalid: bad}
                has_json = True
        url = self.root + op.template
        for name, value in path_params.items():
            url = url.replace("{" + name + "}", quote(str(value), safe=""))
        headers: dict[str, str] = {}
        params: list[tuple[str, str]] = []
        if call.auth == "token":
            auth, auth_query = auth_headers(op, self.contract.document, self.token)
            headers.update(auth)
            params += list(auth_query.items())
        headers.update(substitute(call.headers, self.variables))
        for name, value in query.items():
            for v in value if isinstance(value, list) else [value]:
                params.append((name, _text(v)))
        prepared = Prepared(op, url, headers, params, body, has_json)
        if call.files or call.form:
            prepared.data = {k: _text(v) for k, v in substitute(call.form, self.variables).items()}
            prepared.files = [(name, make_file(spec)) for name, spec in call.files.items()]
            prepared.has_json = False
        return prepared

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(headers: dict[str, str]) -> float:
    value = headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.5), MAX_WAIT)


# -- output ----------------------------------------------------------------------------------------------
def format_check(check: Check) -> str:
    status = str(check.status or "-")
    head = f"  {status:<6} {'ok' if check.ok else 'DRIFT':<6} {check.step}  ({check.method} {check.path})"
    lines = [head] + [f"  {'':<6} {'':<6}   {p.where}: {p.message}" for p in check.problems]
    return "\n".join(lines)


def print_header(provider: str, base_url: str, out: TextIO) -> None:
    print(f"{provider} at {base_url}", file=out)
    print(f"  {'STATUS':<6} {'RESULT':<6} OPERATION", file=out)


def print_footer(result: Result, out: TextIO) -> None:
    for name, why in result.skipped:
        print(f"  {'-':<6} {'skip':<6} {name}: {why}", file=out)
    if result.error:
        print(f"could not run: {result.error}", file=out)
    else:
        total = len(result.checks)
        print(f"{total - result.drift} of {total} checks ok, {result.drift} drifted", file=out)


def print_table(result: Result, out: TextIO) -> None:
    print_header(result.provider, result.base_url, out)
    for check in result.checks:
        print(format_check(check), file=out)
    print_footer(result, out)


def run(args: argparse.Namespace) -> int:
    """The command: the table line by line as the checks end (a live run may take minutes)."""
    token = args.token or ""

    def say(text: str, out: TextIO = sys.stdout) -> None:
        print(text.replace(token, "***") if token else text, file=out, flush=True)

    variables: dict[str, str] = {}
    for item in args.var or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            say(f"could not run: --var {item!r} is not NAME=VALUE", sys.stderr)
            return EXIT_CANNOT_RUN
        variables[name] = value
    try:
        verifier = Verifier(args.provider, args.base_url, token, allow_spend=args.allow_spend,
                            timeout=args.timeout, allow_extra_fields=args.allow_extra_fields,
                            poll_interval=args.poll_interval, variables=variables, log=say)
        header = io.StringIO()
        print_header(args.provider, args.base_url, header)
        say(header.getvalue().rstrip("\n"))
        result = verifier.run()
    except (PlanError, KeyError, OSError) as exc:
        say(f"could not run: {exc}", sys.stderr)
        return EXIT_CANNOT_RUN
    footer = io.StringIO()
    print_footer(result, footer)
    say(footer.getvalue().rstrip("\n"))
    if args.report:
        report = json.dumps(result.report(), indent=2, ensure_ascii=False)
        Path(args.report).write_text((report.replace(token, "***") if token else report) + "\n")
    return result.exit_code
