"""Every example in the kie.ai docs validates against contracts/kie.yaml.

kie.md (Common API): the fenced ```json response examples, the request bodies of the cURL
`-d`, JavaScript `JSON.stringify({...})` and Python `payload = {...}` samples, every API URL
the samples call, and the "Status Codes" list. kie-extra.md (summary page): the createTask
body and response, the recordInfo fields and states, the upload endpoints with their fields
and response, the status-code list, and the model ids public clients send. Counts are pinned so
that the tests fail if parsing silently finds less than is there.
"""
from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT.parent / "shared" / "providers"
KIE_MD = (DOCS / "kie.md").read_text()
EXTRA_MD = (DOCS / "kie-extra.md").read_text()
CONTRACT = yaml.safe_load((REPO_ROOT / "contracts" / "kie.yaml").read_text())
COMPONENTS = CONTRACT["components"]
CATALOG = yaml.safe_load((REPO_ROOT / "fixtures" / "kie" / "models.yaml").read_text())


def _deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        section, name = node["$ref"][len("#/components/"):].split("/", 1)
        node = COMPONENTS[section][name]
    return node


def _operation(method: str, path: str) -> dict[str, Any]:
    return CONTRACT["paths"][path][method.lower()]


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": COMPONENTS})


@cache
def _response_schema(method: str, path: str, status: str) -> dict[str, Any]:
    response = _deref(_operation(method, path)["responses"][status])
    return response["content"]["application/json"]["schema"]


def _request_schema(method: str, path: str, media: str = "application/json") -> dict[str, Any]:
    return _deref(_operation(method, path)["requestBody"]["content"][media]["schema"])


def _assert_valid(schema: dict[str, Any], instance: Any) -> None:
    errors = [e.message for e in _validator(schema).iter_errors(instance)]
    assert not errors, errors


def _props(schema: dict[str, Any]) -> set[str]:
    return set(_deref(schema).get("properties", {}))


# -- kie.md --------------------------------------------------------------------------------------

def _json_blocks() -> list[tuple[str, Any]]:
    """(the "### Step" heading above, parsed JSON) for every ```json fence."""
    found = []
    heading = ""
    lines = KIE_MD.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            heading = line[4:].strip()
        if line.strip().startswith("```json"):
            j = i + 1
            while not lines[j].strip().startswith("```"):
                j += 1
            found.append((heading, json.loads("\n".join(lines[i + 1:j]))))
            i = j
        i += 1
    return found


STEP_OPERATIONS = {"Step 1: Check Your Credit Balance": ("GET", "/api/v1/chat/credit"),
                   "Step 2: Get Download URL for Generated Files": ("POST", "/api/v1/common/download-url")}


def test_response_examples_of_kie_md() -> None:
    blocks = _json_blocks()
    assert len(blocks) == 2
    for heading, example in blocks:
        method, path = STEP_OPERATIONS[heading]
        _assert_valid(_response_schema(method, path, "200"), example)


def _js_object(text: str) -> Any:
    """A JavaScript object literal with quoted-string values -> Python."""
    text = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', text)
    return json.loads(text.replace("'", '"'))


def test_request_examples_of_kie_md() -> None:
    schema = _request_schema("POST", "/api/v1/common/download-url")
    curl = re.findall(r"-d '(\{.*?\})'", KIE_MD, re.S)
    js = [m for m in re.findall(r"JSON\.stringify\((\{.*?\})\)", KIE_MD, re.S) if "'" in m]
    py = re.findall(r"payload = (\{.*?\})\n", KIE_MD, re.S)
    variables = re.findall(r"JSON\.stringify\(\{ url: fileUrl \}\)|json=\{'url': file_url\}", KIE_MD)
    assert (len(curl), len(js), len(py), len(variables)) == (1, 1, 1, 2)
    bodies = [json.loads(curl[0]), _js_object(js[0]), ast.literal_eval(py[0])]
    bodies += [{"url": "https://tempfile.example/file"}] * len(variables)  # the variables' shape
    for body in bodies:
        _assert_valid(schema, body)
    assert {b["url"] for b in bodies[:3]} == {"https://tempfile.1f6cxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxbd98"}


def test_every_url_the_samples_call_is_in_the_contract() -> None:
    calls = re.findall(r"(?:curl -X (GET|POST) \"|fetch\(')https://api\.kie\.ai(/api/[\w/.-]+)", KIE_MD)
    calls += [("", p) for p in re.findall(r"\$\{this\.baseUrl\}(/api/[\w/.-]+)", KIE_MD)]
    calls += [("", p) for p in re.findall(r"f'\{self\.base_url\}(/api/[\w/.-]+)'", KIE_MD)]
    calls += [("", p) for p in re.findall(r'url = "https://api\.kie\.ai(/api/[\w/.-]+)"', KIE_MD)]
    assert len(calls) == 10
    for method, path in calls:
        assert path in CONTRACT["paths"], path
        if method:
            assert method.lower() in CONTRACT["paths"][path]


def test_status_codes_of_kie_md() -> None:
    section = KIE_MD.split("## Status Codes", 1)[1].split("## Next Steps", 1)[0]
    codes = re.findall(r'<ResponseField name="(\d{3})" type="([^"]+)"', section)
    assert [c for c, _ in codes] == ["200", "401", "402", "404", "422", "429", "455", "500", "505"]
    for path in ("/api/v1/chat/credit", "/api/v1/common/download-url", "/api/v1/jobs/createTask"):
        op = next(iter(CONTRACT["paths"][path].values()))
        assert {c for c, _ in codes} <= set(op["responses"]), path
        for code, _ in codes[1:]:
            _assert_valid(_response_schema("GET" if "credit" in path else "POST", path, code),
                          {"code": int(code), "msg": "an error", "data": None})


# -- kie-extra.md -----------------------------------------------------------------------------------

def _section(title: str) -> str:
    return EXTRA_MD.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_create_task_body_and_response() -> None:
    section = _section("Create a task")
    body_line = re.search(r"^Body: (.*)$", section, re.M).group(1)
    keys = re.findall(r'"(\w+)":', body_line)
    assert keys == ["model", "callBackUrl", "input"]
    schema = _request_schema("POST", "/api/v1/jobs/createTask")
    assert set(keys) <= _props(schema) and schema["required"] == ["model"]
    _assert_valid(schema, {"model": "nano-banana-2", "callBackUrl": "https://example.com/cb",
                           "input": {"prompt": "a cat", "aspect_ratio": "1:1"}})
    _assert_valid(schema, {"model": "kling-2.6/text-to-video", "input": {"prompt": "waves", "duration": 5}})
    response = json.loads(re.search(r"^Response: (.*)$", section, re.M).group(1))
    _assert_valid(_response_schema("POST", "/api/v1/jobs/createTask", "200"), response)


def test_record_info_fields_and_states() -> None:
    section = _section("Get task detail (poll)")
    fields = re.findall(r'(?<!: )"(\w+)"', section.split("Response:", 1)[1].split("}}", 1)[0])
    assert fields[:3] == ["code", "msg", "data"]
    record_fields = fields[3:]
    assert len(record_fields) == 11
    record = COMPONENTS["schemas"]["TaskRecord"]
    assert set(record_fields) <= set(record["properties"])
    states = re.search(r"States: (.*)", section).group(1)
    names = re.findall(r"\b(waiting|queuing|generating|success|fail)\b", states)
    assert names == record["properties"]["state"]["enum"]
    # The doc's own example of resultJson, and failCode as a string, an integer or null.
    example_result = re.search(r'e\.g\. "(\{.*?\})"\)', section).group(1).replace('\\"', '"')
    assert json.loads(example_result) == {"resultUrls": ["https://..."]}
    schema = _response_schema("GET", "/api/v1/jobs/recordInfo", "200")
    base = {"taskId": "t", "model": "nano-banana-2", "state": "success", "param": "{}",
            "resultJson": example_result.replace('"', '\"'), "costTime": 1000, "completeTime": 2,
            "createTime": 1, "updateTime": 2, "failMsg": None}
    for fail_code in ("501", 501, None):
        _assert_valid(schema, {"code": 200, "msg": "success", "data": {**base, "failCode": fail_code}})


def test_upload_endpoints_fields_and_response() -> None:
    section = _section("File upload API (separate host in production: https://kieai.redpandaai.co)")
    endpoints = re.findall(r"^POST (/api/[\w-]+)\s+(multipart|JSON): (.*?)(?:\s{2,}\(.*)?$", section, re.M)
    assert len(endpoints) == 3
    for path, kind, fields in endpoints:
        media = "multipart/form-data" if kind == "multipart" else "application/json"
        names = [re.match(r"\w+", f.strip()).group(0) for f in fields.split(",")]
        assert set(names) <= _props(_request_schema("POST", path, media)), path
    response_text = section.split("Response:", 1)[1].split("Errors", 1)[0]
    keys = re.findall(r'"(\w+)"', response_text)
    assert keys[:4] == ["success", "code", "msg", "data"]
    data_keys = keys[4:]
    assert len(data_keys) == 6 and set(data_keys) <= _props(COMPONENTS["schemas"]["UploadResult"])
    example = {"success": True, "code": 200, "msg": "File uploaded successfully",
               "data": {"fileName": "a.png", "filePath": "images/a.png",
                        "downloadUrl": "https://tempfile.redpandaai.co/images/a.png", "fileSize": 10,
                        "mimeType": "image/png", "uploadedAt": "2025-01-01T00:00:00.000Z"}}
    for path, _, _ in endpoints:
        schema = _response_schema("POST", path, "200")
        _assert_valid(schema, example)
        ops = _operation("POST", path)["responses"]
        assert {"400", "401", "500"} <= set(ops)
        _assert_valid(_response_schema("POST", path, "400"),
                      {"success": False, "code": 400, "msg": "bad", "data": None})


def test_status_code_list_of_kie_extra() -> None:
    line = _section('Status codes (the "code" field)').split("Public client code", 1)[0]
    codes = re.findall(r"\b(\d{3})\b", line)
    assert codes == ["200", "401", "402", "404", "422", "429", "433", "455", "500", "501", "505"]
    described = COMPONENTS["schemas"]["Envelope"]["properties"]["code"]["description"]
    assert set(codes) <= set(re.findall(r"\d{3}", described))


def test_models_public_clients_send_are_in_the_catalog() -> None:
    section = _section("Model ids and input fields that public client code sends")
    models = re.findall(r"\b((?:nano-banana|kling)[\w./-]*\w)", section)
    assert models == ["nano-banana-2", "nano-banana-pro", "kling-2.6/text-to-video",
                      "kling-2.6/image-to-video", "kling-3.0/video", "kling-3.0/motion-control"]
    assert set(models) <= set(CATALOG["models"])
    fields = set(re.findall(r"`(\w+)`", section))
    assert fields == {"model", "prompt", "aspect_ratio", "duration", "sound", "image_urls", "input_urls",
                      "video_urls"}
    known = {name for spec in CATALOG["models"].values() for name in spec["inputs"]}
    assert fields - {"model"} <= known


CHECKS = {"string": {"enum", "max_length", "default"}, "boolean": set(), "integer": {"min", "max", "enum"},
          "urls": {"min_items", "max_items", "media", "formats", "max_bytes", "min_side", "aspect", "seconds",
                   "edit"},
          "shots": {"max_items", "max_length"}}


@pytest.mark.parametrize("model", sorted(CATALOG["models"]))
def test_catalog_entries_are_complete(model: str) -> None:
    spec = CATALOG["models"][model]
    assert spec["kind"] in CATALOG["kinds"]
    for name, field in spec["inputs"].items():
        assert set(field) - {"type", "required"} <= CHECKS[field["type"]], (name, field)
        if "default" in field:
            assert field["default"] in field["enum"], name
    rules = spec["prices"]
    assert rules and "when" not in rules[-1] or spec["kind"] == "video", "the last rule is the fallback"
    for rule in rules:
        assert ("credits" in rule) != ("per_second" in rule), rule
        assert set(rule.get("when", {})) <= set(spec["inputs"]), rule


def test_request_examples_pass_the_strict_check() -> None:
    """What a client copying the samples sends passes strict mode: the download-url bodies of
    kie.md (cURL, JavaScript, Python) and the createTask body kie-extra.md gives."""
    from tests.strict.docs import strict_violations

    curl = re.findall(r"-d '(\{.*?\})'", KIE_MD, re.S)
    js = [m for m in re.findall(r"JSON\.stringify\((\{.*?\})\)", KIE_MD, re.S) if "'" in m]
    py = re.findall(r"payload = (\{.*?\})\n", KIE_MD, re.S)
    bodies = [json.loads(curl[0]), _js_object(js[0]), ast.literal_eval(py[0])]
    for body in bodies:
        assert strict_violations("kie", "POST", "/api/v1/common/download-url", body) == [], body
    body_line = re.search(r"^Body: (.*)$", _section("Create a task"), re.M).group(1)
    assert body_line.startswith('{"model": "<model id>"'), body_line  # a template: its values are placeholders
    task = {"model": "nano-banana-2", "callBackUrl": "https://example.com/cb", "input": {"prompt": "a cat"}}
    assert strict_violations("kie", "POST", "/api/v1/jobs/createTask", task) == []
