"""Every example in kai.md validates against contracts/kai.yaml, and the doc's tables and
parameter rules agree with the contract.

The doc (../shared/providers/kai.md beside the repo) is flattened text: each endpoint's
examples follow a `curl --request METHOD` line whose next line holds the URL; JSON examples
are blocks from a line that is exactly `{` to the next line that is exactly `}`. Counts are
pinned so that the parser cannot silently find less.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = REPO_ROOT.parent / "shared" / "providers" / "kai.md"
CONTRACT_PATH = REPO_ROOT / "contracts" / "kai.yaml"
PREFIX = "https://mconnect.kai.kaino.io"


@lru_cache(maxsize=1)
def doc_lines() -> list[str]:
    return DOC_PATH.read_text().splitlines()


@lru_cache(maxsize=1)
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text())


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": contract()["components"]})


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        section, name = node["$ref"][len("#/components/"):].split("/", 1)
        node = contract()["components"][section][name]
    return node


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(value)]


def operation(method: str, path: str) -> dict[str, Any]:
    return contract()["paths"][path][method.lower()]


def json_block(lines: list[str], start: int) -> tuple[Any, int]:
    """The JSON object from `{` at `start` to the first line that is `}` (or `};` in JavaScript)."""
    end = next(i for i in range(start, len(lines)) if lines[i] in ("}", "};"))
    return json.loads("\n".join([*lines[start:end], "}"])), end


@lru_cache(maxsize=1)
def examples() -> dict[str, list[Any]]:
    """Scans the doc: request and response examples, each tagged with its operation."""
    lines = doc_lines()
    found: dict[str, list[Any]] = {"responses": [], "curl_json": [], "curl_form": [], "js_json": [],
                                   "js_form": [], "py_json": [], "template": []}
    op = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"curl --request (GET|POST) \\", line)
        if m:
            url = re.search(r'"(https://[^"]+)"', lines[i + 1] + lines[i + 2])
            assert url, lines[i:i + 3]
            op = (m.group(1), url.group(1)[len(PREFIX):])
            j = i + 2  # past the URL line
            form: dict[str, Any] = {}
            while j < len(lines) and lines[j].startswith("    --"):
                fm = re.match(r'\s+--form "([^=]+)=(.*)"\s*\\?\s*$', lines[j])
                if fm:
                    key, value = fm.groups()
                    value = "<file>" if value.startswith("@") else value
                    if key.endswith("[]"):
                        form.setdefault(key, []).append(value)
                    else:
                        form[key] = value
                if lines[j].startswith('    --data "{'):
                    end = lines.index('}"', j)
                    raw = "\n".join(["{", *lines[j + 1:end], "}"])
                    found["curl_json"].append((op, json.loads(raw.replace('\\"', '"'))))
                    j = end
                j += 1
            if form:
                found["curl_form"].append((op, form))
            i = j
            continue
        if line in ("let body = {", "payload = {"):
            value, end = json_block(["{", *lines[i + 1:]], 0)
            found["js_json" if line.startswith("let") else "py_json"].append((op, value))
            i += end + 1
            continue
        if line == "const body = new FormData();":
            form = {}
            j = i + 1
            while lines[j].startswith("body.append("):
                key, value = re.match(r"body\.append\('([^']+)', (.*)\);$", lines[j]).groups()
                value = "<file>" if "files[0]" in value else value.strip("'")
                if key.endswith("[]"):
                    form.setdefault(key, []).append(value)
                else:
                    form[key] = value
                j += 1
            found["js_form"].append((op, form))
            i = j
            continue
        m = re.match(r"Example response \((\d{3}), (.+)\):$", line)
        if m:
            j = i + 1
            while not lines[j].strip():
                j += 1
            if lines[j] == "{":
                value, end = json_block(lines, j)
            else:
                value, end = lines[j].strip(), j
            found["responses"].append((op, int(m.group(1)), m.group(2), value))
            i = end + 1
            continue
        if line == "{" and op is None:
            value, end = json_block(lines, i)
            found["template"].append(value)
            i = end + 1
            continue
        i += 1
    return found


CHAT = ("POST", "/api/v1/chat/completions")
AUDIO = ("POST", "/api/v1/audio/transcriptions")
ANON = ("POST", "/api/v1/documents/anonymize")
STRIP = ("POST", "/api/v1/documents/strip-metadata")
MODELS = ("GET", "/api/v1/models")
USAGE = ("GET", "/api/v1/usage")


def test_the_parser_finds_every_example() -> None:
    ex = examples()
    assert [(op, status, title) for op, status, title, _ in ex["responses"]] == [
        (CHAT, 200, "Successful completion"), (AUDIO, 200, "Successful transcription"),
        (ANON, 200, "Successful anonymization"), (STRIP, 200, "Cleaned file as binary download"),
        (STRIP, 400, "Metadata stripping failed"), (MODELS, 200, "Available models"),
        (USAGE, 200, "Usage statistics")]
    assert [op for op, _ in ex["curl_json"]] == [CHAT]
    assert [op for op, _ in ex["js_json"]] == [CHAT]
    assert [op for op, _ in ex["py_json"]] == [CHAT, AUDIO, ANON]
    assert [op for op, _ in ex["curl_form"]] == [AUDIO, ANON, STRIP]
    assert [op for op, _ in ex["js_form"]] == [AUDIO, ANON, STRIP]
    assert len(ex["template"]) == 1


def response_schema(op: tuple[str, str], status: int, media: str = "application/json") -> dict[str, Any]:
    response = deref(operation(*op)["responses"][str(status)])
    return response["content"][media]["schema"]


@pytest.mark.parametrize("index", range(7))
def test_response_examples_validate(index: int) -> None:
    op, status, title, value = examples()["responses"][index]
    if value == "<<Binary file content>>":
        content = deref(operation(*op)["responses"][str(status)])["content"]
        assert "application/pdf" in content and "image/jpeg" in content
        assert content["image/jpeg"]["schema"]["format"] == "binary"
        return
    assert errors(response_schema(op, status), value) == [], title


def test_error_format_template_has_the_contracts_shape() -> None:
    (template,) = examples()["template"]
    schema = contract()["components"]["schemas"]["Error"]
    assert set(template) == set(schema["required"])
    assert set(template["error"]) == set(schema["properties"]["error"]["required"])


def coerce(schema: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """Multipart values are strings on the wire: read them as the schema's types."""
    out = {}
    props = schema["properties"]
    for key, value in form.items():
        key = key if key in props else key + "[]" if key + "[]" in props else key
        prop = props.get(key, {})
        types = prop.get("type")
        if types == "number" and isinstance(value, str):
            value = float(value)
        if types == "string" and isinstance(value, list) and len(value) == 1:
            value = value[0]  # `files[]`: an array field that must hold exactly one file
        out[key] = value
    return out


def request_schema(op: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    content = operation(*op)["requestBody"]["content"]
    media = next(iter(content))
    return media, deref(content[media]["schema"])


@pytest.mark.parametrize("kind", ["curl_json", "js_json", "py_json", "curl_form", "js_form"])
def test_request_examples_validate(kind: str) -> None:
    for op, value in examples()[kind]:
        media, schema = request_schema(op)
        if media == "application/json":
            assert errors(schema, value) == [], (kind, op)
        else:
            value = coerce(schema, value)
            if kind == "py_json":  # the docs' `payload` beside `files`: every field but the file
                schema = {**schema, "required": []}
            assert errors(schema, value) == [], (kind, op, value)


def test_contract_embedded_examples_validate() -> None:
    for path, item in contract()["paths"].items():
        for method, spec in item.items():
            for status, response in spec["responses"].items():
                for media, content in deref(response).get("content", {}).items():
                    for name, example in (content.get("examples") or {}).items():
                        assert errors(content["schema"], example["value"]) == [], (path, status, name)
            body = spec.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                for name, example in (content.get("examples") or {}).items():
                    assert errors(deref(content["schema"]), example["value"]) == [], (path, name)


def error_table() -> list[tuple[int, str, str]]:
    lines = doc_lines()
    start = lines.index("HTTP Status Type Code Description")
    rows = []
    for line in lines[start + 1:]:
        m = re.match(r"(\d{3}) (\w+) (\w+) ", line)
        if not m:
            break
        rows.append((int(m.group(1)), m.group(2), m.group(3)))
    return rows


def test_error_table_rows_fit_every_operation() -> None:
    rows = error_table()
    assert len(rows) == 12
    for path, item in contract()["paths"].items():
        for method, spec in item.items():
            for status, etype, code in rows:
                if str(status) not in spec["responses"]:
                    # GET /usage answers any known token: no 403; documents-only codes only on POST
                    assert (method, status) in (("get", 403),) or status == 400, (path, status)
                    continue
                if code in ("text_extraction_failed",) and path != "/api/v1/documents/anonymize":
                    continue
                body = {"error": {"message": "m", "type": etype, "code": code, "param": None}}
                schema = response_schema((method.upper(), path), status)
                assert errors(schema, body) == [], (path, status, code)


def test_429_and_error_headers_are_declared() -> None:
    headers = contract()["components"]["responses"]["TooManyRequests"]["headers"]
    for name in ("Retry-After", "retry-after-ms", "x-should-retry", "X-RateLimit-Limit", "x-request-id"):
        assert name in headers
    strip_headers = operation(*STRIP)["responses"]["200"]["headers"]
    doc = "\n".join(doc_lines())
    for name, example in re.findall(r'"(X-[A-Za-z-]+)": "([^"]+)"', doc):
        if name in strip_headers:
            assert errors(strip_headers[name]["schema"], example) == [], name


def _rules(section_start: str, section_end: str) -> dict[str, tuple[float | None, float | None]]:
    text = "\n".join(doc_lines())
    body = text[text.index(section_start):text.index(section_end, text.index(section_start))]
    rules: dict[str, tuple[float | None, float | None]] = {}
    for m in re.finditer(r"\n(\w+)\s+(?:string|number|integer|boolean|object\[\]|file)[^\n]*\n\n(.+?)(?=\n\w+\s+(?:string|number|integer|boolean|object\[\]|file|\n)|\Z)", body, re.S):
        name, desc = m.group(1), m.group(2)
        low = re.search(r"Must be at least (-?[\d.]+)\.", desc)
        high = re.search(r"Must not be greater than (-?[\d.]+)\.", desc)
        rules[name] = (float(low.group(1)) if low else None, float(high.group(1)) if high else None)
    return rules


def test_chat_parameter_ranges_match_the_contract() -> None:
    props = contract()["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    rules = _rules("POST api/v1/chat/completions", "Audio")
    for name in ("temperature", "max_tokens", "top_p", "n", "presence_penalty", "frequency_penalty"):
        low, high = rules[name]
        assert (props[name]["minimum"], props[name]["maximum"]) == (low, high), name
    for name in ("messages", "model", "stream", "stop"):
        assert name in props


def test_usage_response_fields_are_in_the_contract() -> None:
    lines = doc_lines()
    start = lines.index("Response Fields")
    names = [l.split()[0] for l in lines[start + 1:] if re.match(r"\w+\s+(boolean|integer|string)", l)]
    assert names == ["is_free", "rate_limit_per_minute", "max_concurrent_requests", "monthly_usage_cap",
                     "usage_remaining", "trial_usage_limit", "trial_usage_remaining"]
    usage = contract()["components"]["schemas"]["Usage"]
    for name in names:
        assert name in usage["required"]


def test_enumerations_match_the_doc() -> None:
    text = "\n".join(doc_lines())
    pii = re.search(r"Valid types: ([a-z_, ]+)\.", text).group(1).split(", ")
    schema = contract()["components"]["schemas"]["AnonymizeRequest"]["properties"]["pii_types[]"]["items"]["enum"]
    assert pii == schema and len(pii) == 26
    from emulators.providers.kai.pii import PII_TYPES
    assert list(PII_TYPES) == pii
    formats = contract()["components"]["schemas"]["TranscriptionRequest"]["properties"]["response_format"]["enum"]
    assert formats == ["json", "text", "srt", "verbose_json", "vtt"]


# Examples the strict request check reports, each with why: none (an example that breaks strict
# mode would fail a client that copies it, so it is either the docs' mistake, named here, or ours).
STRICT_ALLOWED: dict[tuple[str, str, str], str] = {}


@pytest.mark.parametrize("kind", ["curl_json", "js_json", "py_json", "curl_form", "js_form"])
def test_request_examples_pass_the_strict_check(kind: str) -> None:
    from tests.strict.docs import strict_violations

    checked = 0
    for (method, path), value in examples()[kind]:
        media, _ = request_schema((method, path))
        if kind == "py_json" and media != "application/json":
            # the Python snippets of form endpoints send `files=` (the form the cURL and JS samples
            # show, checked there); their `payload` dict is printed but never sent
            continue
        found = strict_violations("kai", method, path, value, form=media != "application/json")
        checked += 1
        unexplained = [(where, message) for where, message in found if (path, where, message) not in STRICT_ALLOWED]
        assert unexplained == [], (kind, method, path, value)
    assert checked >= 1
