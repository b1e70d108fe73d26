"""Every example in the Kitta AI docs validates against contracts/kitta.yaml.

kitta.md (the profile page) is plain text: JSON blocks start at a line that is exactly ``{``
and carry ``// comments``; some are type templates (``"error": string``). Concrete examples
(after stripping comments) are validated as they are; templates are checked field by field
(names, JSON types, optional markers). The cURL samples' methods, paths and ``-d`` bodies are
validated too, and the status table and field descriptions are compared with the contract.

kitta-extra.md summarizes the other pages in a compact notation (``{"success": true,
"audio_url", ...}``, ``speed 0.5-2 (default 1)``, ``format mp3|wav|pcm``): each shape is parsed
into the field names it lists and turned into an instance (documented literal values kept,
others filled with a value of the documented kind), which must validate; ranges, enums and
defaults must equal the contract's.
"""
from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT.parent / "shared" / "providers"
CONTRACT_PATH = REPO_ROOT / "contracts" / "kitta.yaml"
URI = "urn:provider-emulators:contracts:kitta"


# -- loading ----------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def doc(name: str) -> str:
    path = DOCS / name
    if not path.is_file():
        pytest.fail(f"provider doc not found at {path} (the repo must sit beside ../shared)")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


def node_ref_parts(ref: str) -> list[str]:
    return ref[2:].split("/")


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = contract()
        for part in node_ref_parts(node["$ref"]):
            target = target[part]
        node = target
    return node


def schema_of(name: str) -> dict[str, Any]:
    return deref(contract()["components"]["schemas"][name])


def prop(schema_name: str, field: str) -> dict[str, Any]:
    return deref(schema_of(schema_name)["properties"][field])


def validate(instance: Any, schema: dict[str, Any], what: str) -> None:
    wrapped = {"$ref": f"{URI}#/__inline__"}
    document = {**contract(), "__inline__": schema}
    registry = Registry().with_resource(URI, DRAFT202012.create_resource(document))
    errors = list(Draft202012Validator(wrapped, registry=registry).iter_errors(instance))
    assert not errors, f"{what}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def operation(method: str, path: str) -> dict[str, Any]:
    item = contract()["paths"].get(path)
    assert item is not None and method.lower() in item, f"{method} {path} is not in the contract"
    return item[method.lower()]


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    response = deref(operation(method, path)["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


def request_schema(method: str, path: str, media: str = "application/json") -> dict[str, Any]:
    return deref(operation(method, path)["requestBody"])["content"][media]["schema"]


def json_type(schema: dict[str, Any]) -> set[str]:
    schema = deref(schema)
    t = schema.get("type")
    return {t} if isinstance(t, str) else set(t or [])


# -- kitta.md -----------------------------------------------------------------------------------------
def blocks() -> list[tuple[str, str]]:
    """(the nearest non-comment heading line above, block text) of every ``{`` ... ``}`` block."""
    lines = doc("kitta.md").splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "{":
            start = i
            depth = 0
            while True:
                depth += lines[i].count("{") - lines[i].count("}")
                if depth == 0:
                    break
                i += 1
            heading = next(line.strip() for line in reversed(lines[:start]) if line.strip())
            found.append((heading, "\n".join(lines[start:i + 1])))
        i += 1
    return found


def strip_comments(text: str) -> str:
    return re.sub(r"\s*//[^\n]*", "", text)


TYPE_WORDS = {"string": "string", "number": "number", "boolean": "boolean"}
TEMPLATE_FIELD = re.compile(r'^\s*"(\w+)":\s*(string|number|boolean),?\s*(//\s*(.*))?$')


def template_fields(text: str) -> dict[str, tuple[str, bool]]:
    """field -> (JSON type, optional) of a type template block."""
    fields = {}
    for line in text.splitlines()[1:-1]:
        m = TEMPLATE_FIELD.match(line)
        assert m, f"unparsed template line {line!r}"
        fields[m.group(1)] = (m.group(2), "optional" in (m.group(4) or "").lower())
    return fields


def test_kitta_md_blocks_are_all_found() -> None:
    headings = [h for h, _ in blocks()]
    assert headings == ["Request Parameters (POST Method)", "// Success response - 200",
                        "// Error response", "Error Response Format:"]


def test_profile_request_example() -> None:
    heading, text = blocks()[0]
    body = json.loads(strip_comments(text))
    assert body == {"token": "YOUR_API_TOKEN"}
    validate(body, request_schema("POST", "/api/open/profile"), heading)


def test_profile_success_example_for_get_and_post() -> None:
    _, text = blocks()[1]
    body = json.loads(strip_comments(text))
    for method in ("GET", "POST"):
        validate(body, response_schema(method, "/api/open/profile", 200), f"{method} profile 200")
    # and the contract's own example is the doc's
    example = deref(contract()["components"]["responses"]["Profile"])["content"]["application/json"]["example"]
    assert example == body


@pytest.mark.parametrize("index", [2, 3])
def test_error_templates_match_the_error_schema(index: int) -> None:
    heading, text = blocks()[index]
    fields = template_fields(text)
    schema = schema_of("Error")
    assert set(fields) <= set(schema["properties"])
    for name, (kind, optional) in fields.items():
        assert json_type(schema["properties"][name]) == {TYPE_WORDS[kind]}, f"{heading}: {name}"
        assert (name in schema.get("required", [])) == (not optional), f"{heading}: {name} required?"
    if index == 3:
        assert set(fields) == {"error", "details", "code"}
        instance = {"error": "Invalid API Token", "details": "token not recognised", "code": "UNAUTHORIZED"}
        validate(instance, schema, heading)


def curl_commands() -> list[list[str]]:
    text = doc("kitta.md")
    commands = re.findall(r"^curl .*?(?=\n\s*\n|\n#|\Z)", text, flags=re.S | re.M)
    return [shlex.split(c.replace("\\\n", " ")) for c in commands]


def test_curl_examples_validate() -> None:
    commands = curl_commands()
    assert len(commands) == 3
    seen = []
    for argv in commands:
        method = argv[argv.index("-X") + 1]
        url = next(a for a in argv if a.startswith("https://"))
        path = url.removeprefix("https://kittaai.com")
        op = operation(method, path)
        headers = [argv[i + 1] for i, a in enumerate(argv) if a == "-H"]
        body = json.loads(argv[argv.index("-d") + 1]) if "-d" in argv else None
        if body is not None:
            validate(body, request_schema(method, path), f"curl {method} {path} body")
        has_auth = any(h.startswith("Authorization: Bearer ") for h in headers)
        has_body_token = bool(body and "token" in body)
        assert has_auth or has_body_token
        if not has_auth:  # the contract allows the operation without the header
            assert {} in op.get("security", contract()["security"])
        seen.append((method, path, has_auth, body))
    assert seen == [("GET", "/api/open/profile", True, None), ("POST", "/api/open/profile", True, {}),
                    ("POST", "/api/open/profile", False, {"token": "YOUR_API_TOKEN"})]


def test_status_table_matches_contract() -> None:
    statuses = [int(s) for s in re.findall(r"^(\d{3}) [A-Z]", doc("kitta.md"), flags=re.M)]
    assert statuses == [200, 400, 401, 403, 404, 413, 429, 500]
    declared = {int(code) for item in contract()["paths"].values() for op in item.values()
                if isinstance(op, dict) for code in op.get("responses", {})}
    assert set(statuses) <= declared
    profile = operation("POST", "/api/open/profile")["responses"]
    assert {"200", "400", "401", "403", "413", "429", "500"} <= set(profile)


def test_tier_values_match_contract() -> None:
    tiers = re.search(r"^tier: User tier \(([^)]*)\)$", doc("kitta.md"), flags=re.M).group(1).split("/")
    assert tiers == prop("Profile", "tier")["enum"]
    described = re.findall(r"^(\w+): ", doc("kitta.md").split("Response Field Description", 1)[1], flags=re.M)
    assert described[:4] == schema_of("Profile")["required"]


# -- kitta-extra.md ---------------------------------------------------------------------------------------
def section(title: str) -> str:
    text = doc("kitta-extra.md")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def shape(text: str) -> dict[str, Any]:
    """`{"a": 1, "b", "c"?: str, "d": {"e"}}` -> {name: literal or Ellipsis (value not given)}.

    Optional names (``"x"?``) map to ``("optional", ...)``; nested objects are parsed recursively.
    """
    out: dict[str, Any] = {}
    i = text.index("{") + 1
    while True:
        m = re.compile(r'\s*"(\w+)"(\?)?\s*').match(text, i)
        if not m:
            break
        name, optional = m.group(1), bool(m.group(2))
        i = m.end()
        value: Any = ...
        if text[i] == ":":
            i += 1
            while text[i] == " ":
                i += 1
            if text[i] == "{":
                depth, j = 0, i
                while True:
                    depth += {"{": 1, "}": -1}.get(text[j], 0)
                    if depth == 0:
                        break
                    j += 1
                value = shape(text[i:j + 1])
                i = j + 1
            else:
                m2 = re.compile(r'("[^"]*"(\|"[^"]*")*|[\w.|-]+( \d+-\d+)?)').match(text, i)
                raw = m2.group(0)
                i = m2.end()
                if "|" in raw:
                    value = ("enum", [v.strip('"') for v in raw.split("|")])
                elif raw.startswith('"'):
                    value = raw.strip('"')
                elif raw in ("true", "false"):
                    value = raw == "true"
                else:
                    value = ("kind", raw)
        out[name] = ("optional", value) if optional else value
        while i < len(text) and text[i] in " ,\n":
            i += 1
    return out


SAMPLES = {"id": "3f1c", "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:05.000Z",
           "completed_at": "2024-01-01T00:00:30.000Z", "createdAt": "2024-01-01T00:00:00.000Z",
           "credits_used": 50, "remaining_credits": 950, "characters_used": 12, "quota_remaining": 1488,
           "audio_url": "https://kittaai.com/audio/abc.mp3", "result_url": "https://kittaai.com/v/abc.mp4",
           "error_message": None, "format": "mp3", "modelId": "5b4d8e0c2a7f4e1d9c3b6a8f0e2d4c6a",
           "title": "My voice", "description": "A voice", "message": "Model created successfully",
           "error": "Invalid request parameters", "details": "text is required", "code": "INVALID_PARAMETERS",
           "requestId": "a1b2c3", "success": True}


def instance(parsed: dict[str, Any], enum_pick: int = 0) -> dict[str, Any]:
    out = {}
    for name, value in parsed.items():
        if isinstance(value, tuple) and value[0] == "optional":
            value = value[1]
        if isinstance(value, dict):
            out[name] = instance(value, enum_pick)
        elif isinstance(value, tuple) and value[0] == "enum":
            out[name] = value[1][enum_pick % len(value[1])]
        elif isinstance(value, tuple) and value[0] == "kind":
            kind = value[1]
            if kind == "str":
                out[name] = SAMPLES[name]
            elif re.fullmatch(r"\d+-\d+", kind.split()[-1]):
                low, high = map(int, kind.split()[-1].split("-"))
                out[name] = (low + high) // 2
            else:
                out[name] = SAMPLES[name]
        elif value is ...:
            out[name] = SAMPLES[name]
        else:
            out[name] = value
    return out


def braces_after(text: str, marker: str) -> str:
    start = text.index("{", text.index(marker))
    depth, j = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start:j + 1]
        j += 1


def test_extra_error_body_matches_error_schema() -> None:
    head = doc("kitta-extra.md").split("\n## ", 1)[0]
    parsed = shape(braces_after(head, "Error body:"))
    assert list(parsed) == ["error", "details", "code"]
    schema = schema_of("Error")
    assert schema["required"] == [n for n, v in parsed.items() if not (isinstance(v, tuple) and v[0] == "optional")]
    validate(instance(parsed), schema, "extra error body")


def test_extra_tts_v1_fields_and_cache_response() -> None:
    text = section("Text to speech (v1)")
    fields = re.search(r"^Fields: (.*?)\.$", text, flags=re.M | re.S).group(1)
    names = ["reference_id", "text", "speed", "volume", "version", "format", "emotion", "language", "cache"]
    for name in names:
        assert re.search(rf"\b{name}\b", fields), name
    req = schema_of("TtsRequest")
    assert set(names) <= set(req["properties"])
    assert set(req["required"]) == {"reference_id", "text"}
    assert re.search(r"reference_id \(required", fields) and re.search(r"text \(required", fields)
    speed = re.search(r"speed ([\d.]+)-([\d.]+) \(default ([\d.]+)\)", fields)
    assert (prop("TtsRequest", "speed")["minimum"], prop("TtsRequest", "speed")["maximum"],
            prop("TtsRequest", "speed")["default"]) == tuple(float(x) for x in speed.groups())
    volume = re.search(r"volume (-?\d+)\.\.(-?\d+) \(default (-?\d+)\)", fields)
    assert (prop("TtsRequest", "volume")["minimum"], prop("TtsRequest", "volume")["maximum"],
            prop("TtsRequest", "volume")["default"]) == tuple(int(x) for x in volume.groups())
    assert re.search(r"version ([\w|-]+)", fields).group(1).split("|") == prop("TtsRequest", "version")["enum"]
    assert re.search(r"format ([\w|]+)", fields).group(1).split("|") == prop("TtsRequest", "format")["enum"]
    # language: auto|zh|en for the v3 versions only (other versions ignore it, any string goes)
    languages = re.search(r"\((auto\|zh\|en); v3 only\)", fields).group(1).split("|")
    v3_only = schema_of("TtsRequest")
    assert v3_only["if"]["properties"]["version"]["enum"] == [v for v in prop("TtsRequest", "version")["enum"]
                                                              if v.startswith("v3")]
    assert v3_only["then"]["properties"]["language"]["enum"] == languages
    assert "enum" not in prop("TtsRequest", "language") and "enum" not in prop("TtsRequest", "emotion")
    assert json_type(prop("TtsRequest", "cache")) == {"boolean"}
    # a request built from the documented fields validates, JSON and msgpack alike
    request = {"reference_id": "abc", "text": "Hello", "speed": 0.5, "volume": -20, "version": "v3-hd",
               "format": "pcm", "emotion": "calm", "language": "zh", "cache": True}
    for media in ("application/json", "application/msgpack"):
        validate(request, request_schema("POST", "/api/open/tts", media), f"tts request {media}")
    # the cache=true response
    parsed = shape(braces_after(text, "cache=true:"))
    assert list(parsed) == ["success", "audio_url", "format", "characters_used", "quota_remaining"]
    validate(instance(parsed), response_schema("POST", "/api/open/tts", 200), "tts cache=true response")
    # the cache=false response: audio bytes, audio/mpeg for mp3
    assert "audio/mpeg" in "".join(text.split())
    assert "audio/mpeg" in operation("POST", "/api/open/tts")["responses"]["200"]["content"]


def test_extra_tts_v2_fields_and_error_shape() -> None:
    text = section("Text to speech (v2)")
    fields = re.search(r"^Fields: (.*?)\.$", text, flags=re.M | re.S).group(1)
    req = schema_of("TtsV2Request")
    for name in ("voiceId", "modelId", "text", "format", "speed", "volume", "stability", "similarity",
                 "pitch", "language", "emotion", "token"):
        assert re.search(rf"\b{name}\b", fields), name
        assert name in req["properties"], name
    models = re.search(r"modelId \((.*?)\),", fields, flags=re.S).group(1)
    expanded = []
    for part in re.split(r",\s*", models):
        m = re.fullmatch(r"(minimax)-([\d./]+) turbo and hd", part)
        if m:
            expanded += [f"minimax-{v}-{q}" for v in m.group(2).split("/") for q in ("turbo", "hd")]
        else:
            expanded.append(part.strip())
    model = prop("TtsV2Request", "modelId")
    assert sorted(expanded) == sorted(model["anyOf"][0]["enum"])
    spelled = re.compile(model["anyOf"][1]["pattern"])  # other spellings of the Minimax engines
    for name in expanded:
        assert name.startswith("minimax") == bool(spelled.search(name)), name
    assert re.search(r"format ([\w|]+)", fields).group(1).split("|") == prop("TtsV2Request", "format")["enum"]
    parsed = shape(braces_after(text, "Errors here:"))
    assert list(parsed) == ["code", "message", "requestId"]
    schema = schema_of("ErrorV2")
    assert schema["required"] == ["code", "message"]
    validate(instance(parsed), response_schema("POST", "/api/open/v2/speech/tts", 400), "v2 error")


def test_extra_voice_clone() -> None:
    text = section("Voice clone")
    req = schema_of("CreateModelRequest")
    line = " ".join(re.search(r"multipart: (.*?)\nResponse:", text, flags=re.S).group(1).split())
    for name in ("name", "description", "visibility", "audioFiles"):
        assert name in line and name in req["properties"]
    assert set(req["required"]) == {n for n in ("name", "audioFiles") if re.search(rf"{n} \(required", line)}
    assert prop("CreateModelRequest", "visibility")["enum"] == re.search(r"visibility ([\w|]+)", line).group(1).split("|")
    assert prop("CreateModelRequest", "visibility")["default"] == re.search(r"\(default (\w+)\)", line).group(1)
    multipart = deref(operation("POST", "/api/open/create-model")["requestBody"])["content"]
    assert list(multipart) == ["multipart/form-data"]
    validate({"name": "My voice", "description": "d", "visibility": "public", "audioFiles": ["<bytes>"]},
             req, "create-model request")
    parsed = shape(braces_after(text, "Response:"))
    assert list(parsed) == ["modelId", "title", "description", "createdAt", "message"]
    validate(instance(parsed), response_schema("POST", "/api/open/create-model", 200), "create-model response")


def test_extra_lip_sync() -> None:
    text = section("Lip-sync video")
    body = shape(braces_after(text, "POST /api/open/lip-sync/create"))
    assert list(body) == ["video_url", "audio_url"]
    validate({"video_url": "https://example.com/video.mp4", "audio_url": "https://example.com/audio.mp3"},
             request_schema("POST", "/api/open/lip-sync/create"), "lip-sync create request")
    created = shape(braces_after(text, "Response: {\"success\": true, \"message\""))
    assert created["message"] == "Task created successfully"
    for pick in (0, 1):  # both documented statuses
        validate(instance(created, pick), response_schema("POST", "/api/open/lip-sync/create", 200),
                 "lip-sync create response")
    assert created["data"]["status"][1] == prop("LipSyncCreateResponse", "data")["properties"]["status"]["enum"]
    # query: GET ?id= or POST {"id": ID}
    assert re.search(r"GET /api/open/lip-sync/query\?id=ID", text) and 'POST {"id": ID}' in text
    assert [p["name"] for p in operation("GET", "/api/open/lip-sync/query")["parameters"]] == ["id"]
    validate({"id": "abc"}, request_schema("POST", "/api/open/lip-sync/query"), "lip-sync query POST body")
    validate({"id": "abc", "token": "YOUR_API_TOKEN"}, request_schema("POST", "/api/open/lip-sync/query"),
             "lip-sync query POST body with token")
    query_text = text[text.index("GET /api/open/lip-sync/query"):]
    queried = shape(braces_after(query_text, "Response:"))
    statuses = re.search(r'"status", ([\w|]+)', query_text) or re.search(r'"status": ([\w|]+)', query_text)
    documented = statuses.group(1).split("|")
    schema = response_schema("GET", "/api/open/lip-sync/query", 200)
    data_schema = deref(schema)["properties"]["data"]
    assert documented == data_schema["properties"]["status"]["enum"]
    assert (data_schema["properties"]["progress"]["minimum"], data_schema["properties"]["progress"]["maximum"]) == (0, 100)
    names = list(queried["data"])
    assert set(names) == set(data_schema["properties"])
    for pick, status in enumerate(documented):
        data = {n: SAMPLES.get(n) for n in names}
        data.update(status=status, progress=100 if status in ("completed", "failed") else 40)
        if status != "completed":
            data["result_url"] = None
        if status == "failed":
            data["error_message"] = "failed"
        validate({"success": True, "data": data}, schema, f"lip-sync query response ({status})")
        validate({"success": True, "data": data}, response_schema("POST", "/api/open/lip-sync/query", 200),
                 f"lip-sync query POST response ({status})")


def test_extra_auth_notes() -> None:
    head = doc("kitta-extra.md").split("\n## ", 1)[0]
    assert "Authorization: Bearer TOKEN" in head
    # the endpoints that take a token in the body allow calls without the header
    for method, path in (("POST", "/api/open/profile"), ("POST", "/api/open/lip-sync/query"),
                         ("POST", "/api/open/v2/speech/tts")):
        assert {} in operation(method, path)["security"]
        assert "token" in deref(request_schema(method, path))["properties"]


def test_request_examples_pass_the_strict_check() -> None:
    """What a client copying kitta.md's samples sends passes strict mode (kitta-extra.md gives
    shapes with placeholders, checked field by field above, not requests)."""
    from tests.strict.docs import strict_violations

    commands = curl_commands()
    for argv in commands:
        method = argv[argv.index("-X") + 1]
        path = next(a for a in argv if a.startswith("https://")).removeprefix("https://kittaai.com")
        body = json.loads(argv[argv.index("-d") + 1]) if "-d" in argv else None
        assert strict_violations("kitta", method, path, body) == [], argv
    heading, text = blocks()[0]
    assert strict_violations("kitta", "POST", "/api/open/profile", json.loads(strip_comments(text))) == [], heading
