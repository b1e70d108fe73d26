"""Every example in the Voice Clone & TTS docs validates against contracts/voiceclone.yaml.

The doc (../shared/providers/voiceclone.md beside the repo) is plain text: headings are bare
lines, JSON examples are unfenced blocks that start at a line that is exactly ``{``, and code
samples (cURL, JavaScript, Python) are flattened without indentation. This module parses it,
classifies each JSON block by the heading above it, and validates:

* response examples: "Success Response" of each API section against that operation's 200
  schema; "Error Responses" / "Error Response Examples" against the schema of the status the
  doc's "Common Error Codes" table gives for the example's code; the generic
  ``{"code": "ERROR_CODE", ...}`` format template against the Error shape;
* request examples: cURL ``-d`` JSON bodies, cURL ``-F`` fields (multipart object, files as
  placeholder strings), every ``/api/v1/voices?...`` query string, plus the Python ``data = {...}``
  dicts, the JavaScript ``formData.append(...)`` groups and the literal ``JSON.stringify({...})``
  body;
* the doc's tables (Common Error Codes, request/query/URL parameters, response fields, status
  values) against the contract.

Counts are pinned, so the tests fail if parsing silently finds less (or more) than is there.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = REPO_ROOT.parent / "shared" / "providers" / "voiceclone.md"
CONTRACT_PATH = REPO_ROOT / "contracts" / "voiceclone.yaml"
CONTRACT_URI = "urn:provider-emulators:contracts:voiceclone"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# ---------------------------------------------------------------------------------------------
# What the doc holds (counted by hand; the parser must find exactly this).
# ---------------------------------------------------------------------------------------------

# (kind, operation or None for the general section, heading above the block, HTTP status)
EXPECTED_RESPONSE_EXAMPLES = [
    ("success", "POST /api/v1/voice-clone", "Success Response", 200),
    ("error", "POST /api/v1/voice-clone", "Insufficient Credits", 429),
    ("error", "POST /api/v1/voice-clone", "Invalid File Type", 400),
    ("error", "POST /api/v1/voice-clone", "File Too Large", 400),
    ("success", "GET /api/v1/voices", "Success Response", 200),
    ("success", "POST /api/v1/tts", "Success Response", 200),
    ("error", "POST /api/v1/tts", "Invalid Voice", 404),
    ("error", "POST /api/v1/tts", "Text Too Long", 400),
    ("error", "POST /api/v1/tts", "Insufficient Credits", 429),
    ("success", "GET /api/v1/tts/{speechId}", "Success Response", 200),
    ("error", "GET /api/v1/tts/{speechId}", "Speech Not Found", 404),
    ("success", "GET /api/v1/credits", "Success Response", 200),
    ("template", None, "All errors follow a consistent format:", None),
    ("error", None, "Insufficient Credits", 429),
    ("error", None, "Invalid Parameters", 400),
    ("error", None, "Unauthorized", 401),
]
# Brace blocks that are code, not JSON (axios options in the Node.js sample, fetch options in
# the voices sample). They must be recognised as code, not silently dropped.
EXPECTED_CODE_BLOCKS = 2

EXPECTED_CURL = [  # (method, contract path, has -d, number of -F fields, has query)
    ("POST", "/api/v1/voice-clone", False, 1, False),
    ("POST", "/api/v1/voice-clone", False, 5, False),
    ("GET", "/api/v1/voices", False, 0, True),
    ("POST", "/api/v1/tts", True, 0, False),
    ("GET", "/api/v1/tts/{speechId}", False, 0, False),
    ("GET", "/api/v1/credits", False, 0, False),
]
EXPECTED_VOICES_QUERY_STRINGS = 3  # usage flow, JS fetch template, cURL
EXPECTED_PYTHON_VOICES_CALLS = 1  # get_voices(page=1, limit=20, status="COMPLETED")
EXPECTED_PYTHON_BODIES = {"POST /api/v1/voice-clone": 1, "POST /api/v1/tts": 1}
EXPECTED_JS_FORMDATA = 3  # browser fetch, Node.js, best practice 1
EXPECTED_JS_JSON_BODIES = 1  # the literal one; `JSON.stringify({ text, voiceId })` has no values

EXPECTED_ERROR_CODES = {
    "INVALID_PARAMETERS": 400,
    "NOT_FOUND": 404,
    "UNAUTHORIZED": 401,
    "USAGE_LIMIT_EXCEEDED": 429,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
}

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def doc_text() -> str:
    if not DOC_PATH.is_file():
        pytest.fail(f"provider doc not found at {DOC_PATH} (the repo must sit beside ../shared)")
    return DOC_PATH.read_text(encoding="utf-8")


def doc_lines() -> list[str]:
    return [line.rstrip() for line in doc_text().splitlines()]


@lru_cache(maxsize=None)
def contract() -> dict:
    with CONTRACT_PATH.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
FORMAT_CHECKER = FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    return True


@lru_cache(maxsize=None)
def registry() -> Registry:
    resource = DRAFT202012.create_resource(contract())
    return Registry().with_resource(CONTRACT_URI, resource)


def _esc(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def pointer(*segments: str) -> str:
    return "".join("/" + _esc(str(s)) for s in segments)


def at(ptr: str):
    node = contract()
    for raw in ptr.split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def follow(ptr: str) -> tuple[str, object]:
    """Follow OpenAPI-level $refs (responses, parameters, request bodies) to the real object."""
    node = at(ptr)
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local refs are expected, got {ref}"
        ptr = ref[1:]
        node = at(ptr)
    return ptr, node


def validator_at(schema_ptr: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{CONTRACT_URI}#{schema_ptr}"},
        registry=registry(),
        format_checker=FORMAT_CHECKER,
    )


def assert_valid(instance, schema_ptr: str, what: str) -> None:
    errors = sorted(validator_at(schema_ptr).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{what} does not validate against {schema_ptr}:\n" + "\n".join(
        f"  at {list(e.path)}: {e.message}" for e in errors
    )


def operations() -> dict[str, tuple[str, str, dict]]:
    """'METHOD /path' -> (path, method, operation object)."""
    ops = {}
    for path, item in contract()["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                ops[f"{method.upper()} {path}"] = (path, method, op)
    return ops


def api_operations() -> dict[str, tuple[str, str, dict]]:
    return {k: v for k, v in operations().items() if not v[2].get("x-emulator")}


def response_ptr(op_label: str, status: int | str) -> str | None:
    path, method, op = operations()[op_label]
    if str(status) not in op.get("responses", {}):
        return None
    ptr, _ = follow(pointer("paths", path, method, "responses", str(status)))
    return ptr


def response_schema_ptr(op_label: str, status: int | str, media: str = "application/json") -> str:
    ptr = response_ptr(op_label, status)
    assert ptr is not None, f"{op_label} declares no {status} response"
    content = at(ptr).get("content", {})
    assert media in content, f"{op_label} {status} has no {media} content (has {list(content)})"
    return ptr + pointer("content", media, "schema")


def request_schema_ptr(op_label: str, media: str) -> str:
    path, method, op = operations()[op_label]
    assert "requestBody" in op, f"{op_label} has no request body"
    ptr, body = follow(pointer("paths", path, method, "requestBody"))
    assert media in body.get("content", {}), f"{op_label} does not accept {media}"
    return ptr + pointer("content", media, "schema")


def parameter_ptrs(op_label: str) -> dict[tuple[str, str], str]:
    """(in, name) -> pointer to the parameter object, path-level and operation-level."""
    path, method, _ = operations()[op_label]
    found = {}
    for base in (pointer("paths", path), pointer("paths", path, method)):
        for i, _ in enumerate(at(base).get("parameters", [])):
            ptr, param = follow(base + pointer("parameters", i))
            found[(param["in"], param["name"])] = ptr
    return found


def resolve_schema(schema):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = at(schema["$ref"][1:])
    return schema


def codes_allowed(schema) -> set[str]:
    """Values a response schema admits for its `code` property (through refs/oneOf/anyOf/allOf)."""
    schema = resolve_schema(schema)
    codes: set[str] = set()
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key, []):
            codes |= codes_allowed(sub)
    code = resolve_schema(schema.get("properties", {}).get("code", {}))
    if "const" in code:
        codes.add(code["const"])
    codes |= set(code.get("enum", []))
    for sub in schema.get("allOf", []):
        sub_codes = codes_allowed(sub)
        if sub_codes:
            codes = (codes & sub_codes) if codes else sub_codes
    return codes


def match_operation(method: str, url_path: str) -> tuple[str, dict[str, str]]:
    for label, (path, m, _) in operations().items():
        if m != method.lower():
            continue
        regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$"
        found = re.match(regex, url_path)
        if found:
            return label, found.groupdict()
    raise AssertionError(f"no contract operation for {method} {url_path}")


# ---------------------------------------------------------------------------------------------
# Doc parsing
# ---------------------------------------------------------------------------------------------

OP_HEADING = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/api/v1/\S+)$")
SECTION_HEADINGS = {
    "Credits Cost", "Content Type", "Request Parameters", "Query Parameters", "URL Parameters",
    "Example Requests", "Success Response", "Error Responses", "Response Fields",
    "Status Values", "Common Error Codes", "Error Response Examples", "Best Practices",
    "Support",
}
GENERAL_SECTIONS = {"Error Response Examples", "Best Practices", "Support"}
FORMAT_INTRO = "All errors follow a consistent format:"


@dataclass
class Context:
    op: str | None  # "METHOD /path" of the API section, None outside one
    section: str | None


def contexts() -> list[Context]:
    """The API section and sub-heading in force at every line of the doc."""
    op = section = None
    out = []
    for line in doc_lines():
        heading = OP_HEADING.match(line)
        if heading:
            op, section = f"{heading.group(1)} {heading.group(2)}", None
        elif line in SECTION_HEADINGS:
            section = line
            if line in GENERAL_SECTIONS:
                op = None
        elif line == FORMAT_INTRO:
            op, section = None, "Error Format"
        out.append(Context(op, section))
    return out


def _match_braces(text: str, start: int, opener: str = "{", closer: str = "}") -> int:
    """Index of the bracket closing the one at `start`; skips "..", '..' and `..` strings."""
    depth, quote, i = 0, None, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AssertionError(f"unbalanced {opener} starting at offset {start}")


@dataclass
class Block:
    line: int  # 0-based line of the opening "{"
    text: str
    context: Context
    title: str  # nearest non-empty line above


def json_blocks() -> list[Block]:
    lines = doc_lines()
    ctx = contexts()
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    text = "\n".join(lines)
    blocks, i = [], 0
    while i < len(lines):
        if lines[i] == "{":
            end = _match_braces(text, offsets[i])
            title = next(lines[j] for j in range(i - 1, -1, -1) if lines[j].strip())
            blocks.append(Block(i, text[offsets[i] : end + 1], ctx[i], title.strip()))
            i = text.count("\n", 0, end) + 1
        else:
            i += 1
    return blocks


@dataclass
class ResponseExample:
    kind: str  # success | error | template
    op: str | None
    title: str
    body: object
    line: int
    status: int | None = None


def error_code_table() -> dict[str, int]:
    lines = doc_lines()
    start = lines.index("Common Error Codes")
    table = {}
    for line in lines[start + 1 :]:
        row = re.match(r"^([A-Z][A-Z_]+) \| (\d{3}) \| .*\|$", line)
        if row:
            table[row.group(1)] = int(row.group(2))
        elif table and not line.startswith(("Code |", "---")):
            break
    return table


def response_examples() -> tuple[list[ResponseExample], int]:
    examples, code_blocks = [], 0
    codes = error_code_table()
    for block in json_blocks():
        section = block.context.section
        if section in ("Example Requests", "Best Practices"):
            with pytest.raises(json.JSONDecodeError):
                json.loads(block.text)
            code_blocks += 1
            continue
        try:
            body = json.loads(block.text)
        except json.JSONDecodeError as exc:  # pragma: no cover - reported as a failure
            raise AssertionError(f"doc line {block.line + 1}: block under {section!r} is not JSON: {exc}")
        if section == "Success Response":
            assert block.context.op, f"doc line {block.line + 1}: success response outside an API"
            examples.append(ResponseExample("success", block.context.op, section, body, block.line, 200))
        elif section == "Error Format":
            examples.append(ResponseExample("template", None, block.title, body, block.line))
        elif section in ("Error Responses", "Error Response Examples"):
            assert isinstance(body, dict) and "code" in body, f"doc line {block.line + 1}: no code"
            assert body["code"] in codes, f"doc line {block.line + 1}: code {body['code']} not in table"
            examples.append(
                ResponseExample("error", block.context.op, block.title, body, block.line, codes[body["code"]])
            )
        else:
            raise AssertionError(f"doc line {block.line + 1}: JSON block under unknown heading {section!r}")
    return examples, code_blocks


@dataclass
class Curl:
    line: int
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    form: list[tuple[str, str]] = field(default_factory=list)
    data: str | None = None


def curl_commands() -> list[Curl]:
    lines = doc_lines()
    out, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("curl "):
            i += 1
            continue
        start, parts = i, [lines[i]]
        while parts[-1].endswith("\\"):
            parts[-1] = parts[-1][:-1]
            i += 1
            parts.append(lines[i])
        # -d '{...}' spans lines without backslashes: keep reading until quotes balance
        command = "\n".join(parts)
        while True:
            try:
                tokens = shlex.split(command)
                break
            except ValueError:
                i += 1
                command += "\n" + lines[i]
        i += 1
        it = iter(tokens[1:])
        curl = Curl(start, "GET", "")
        for token in it:
            if token == "-X":
                curl.method = next(it)
            elif token == "-H":
                name, _, value = next(it).partition(":")
                curl.headers[name.strip()] = value.strip()
            elif token == "-F":
                name, _, value = next(it).partition("=")
                curl.form.append((name, value))
            elif token in ("-d", "--data", "--data-raw"):
                curl.data = next(it)
            elif token.startswith("http"):
                curl.url = token
            else:
                raise AssertionError(f"doc line {start + 1}: unexpected curl token {token!r}")
        if curl.data is not None and curl.method == "GET":
            curl.method = "POST"
        out.append(curl)
    return out


FILE_PLACEHOLDER = "<binary contents of {}>"


def multipart_object(fields: list[tuple[str, str]]) -> tuple[dict, set[str]]:
    """cURL -F fields -> the multipart object; '@path' values become placeholder strings."""
    obj, files = {}, set()
    for name, value in fields:
        assert name not in obj, f"field {name} given twice"
        if value.startswith("@"):
            obj[name] = FILE_PLACEHOLDER.format(value[1:])
            files.add(name)
        else:
            obj[name] = value
    return obj, files


# Request examples strict mode reports, each with why (the docs' own mistakes; nothing else).
STRICT_ALLOWED: dict[tuple[str, str, str], str] = {}


def assert_strict(label: str, what: str, body=None, *, form: bool = False, query=None) -> None:
    """What a client copying the example sends passes the emulators' strict request check."""
    from tests.strict.docs import strict_violations

    method, path = label.split(" ", 1)
    found = strict_violations("voiceclone", method, path, body, form=form, query=query)
    unexplained = [(w, m) for w, m in found if (label, w, m) not in STRICT_ALLOWED]
    assert unexplained == [], f"{what}: strict mode reports {unexplained}"


def check_multipart(obj: dict, files: set[str], what: str) -> None:
    schema_ptr = request_schema_ptr("POST /api/v1/voice-clone", "multipart/form-data")
    assert_valid(obj, schema_ptr, what)
    from tests.strict.docs import FILE

    assert_strict("POST /api/v1/voice-clone", what, {k: FILE if k in files else v for k, v in obj.items()}, form=True)
    props = resolve_schema(at(schema_ptr)).get("properties", {})
    for name in obj:
        prop = resolve_schema(props.get(name, {}))
        is_binary = prop.get("format") == "binary" or "contentMediaType" in prop
        assert is_binary == (name in files), (
            f"{what}: field {name} is {'a file' if name in files else 'text'} in the doc, "
            f"but {'binary' if is_binary else 'not binary'} in the contract"
        )
    if "tags" in obj:  # documented as a JSON array or a comma-separated string
        tags = obj["tags"]
        if tags.lstrip().startswith("["):
            parsed = json.loads(tags)
            assert isinstance(parsed, list) and all(isinstance(t, str) for t in parsed), what
        else:
            assert all(t.strip() for t in tags.split(",")), what


def coerce(value: str):
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def check_query(op_label: str, query: list[tuple[str, str]], what: str) -> None:
    params = parameter_ptrs(op_label)
    assert query, f"{what}: empty query"
    for name, raw in query:
        assert ("query", name) in params, f"{what}: query parameter {name!r} is not in the contract"
        assert_valid(coerce(raw), params[("query", name)] + "/schema", f"{what} ({name}={raw})")
    assert_strict(op_label, what, query=dict(query))


def next_api_path(after_line: int) -> str:
    for line in doc_lines()[after_line:]:
        found = re.search(r"(/api/v1/[\w\-/{}$]+)", line)
        if found:
            return found.group(1)
    raise AssertionError(f"no API URL after doc line {after_line + 1}")


def js_literal_to_json(text: str) -> str:
    """Enough of JS object/array literal -> JSON for the doc's samples (quoted keys, '...')."""
    text = re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m.group(1)), text)
    text = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r'\1"\2":', text)
    return re.sub(r",(\s*[}\]])", r"\1", text)


# ---------------------------------------------------------------------------------------------
# Tests: the contract itself
# ---------------------------------------------------------------------------------------------


def test_contract_is_openapi_31_with_valid_schemas():
    spec = contract()
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] == "Voice Clone & TTS API"
    for name, schema in spec["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    # every local $ref resolves
    def walk(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                at(node["$ref"][1:])
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")
    walk(spec, "")


def test_schemathesis_loads_contract():
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_path(str(CONTRACT_PATH))
    labels = sorted(result.ok().label for result in schema.get_all_operations())
    assert labels == sorted(operations())
    assert set(api_operations()) == {
        "POST /api/v1/voice-clone", "GET /api/v1/voices", "POST /api/v1/tts",
        "GET /api/v1/tts/{speechId}", "GET /api/v1/credits",
    }


def test_contract_embedded_examples_are_valid():
    """The contract's own `example`/`examples` (taken from the doc) match their schemas."""
    checked = 0
    for label, (path, method, op) in operations().items():
        for (_, name), ptr in parameter_ptrs(label).items():
            param = at(ptr)
            if "example" in param:
                assert_valid(param["example"], ptr + "/schema", f"{label} parameter {name} example")
                checked += 1
        media_ptrs = []
        if "requestBody" in op:
            body_ptr, body = follow(pointer("paths", path, method, "requestBody"))
            media_ptrs += [body_ptr + pointer("content", m) for m in body["content"]]
        for status in op["responses"]:
            resp_ptr, resp = follow(pointer("paths", path, method, "responses", status))
            media_ptrs += [resp_ptr + pointer("content", m) for m in resp.get("content", {})]
        for media_ptr in media_ptrs:
            media = at(media_ptr)
            values = [media["example"]] if "example" in media else []
            values += [ex["value"] for ex in media.get("examples", {}).values()]
            for value in values:
                assert_valid(value, media_ptr + "/schema", f"{label} example at {media_ptr}")
                checked += 1
    for name, schema in contract()["components"]["schemas"].items():
        for value in schema.get("examples", []):
            assert_valid(value, pointer("components", "schemas", name), f"schema {name} example")
            checked += 1
    assert checked >= 20, checked


def test_every_api_operation_is_secured_and_lists_documented_errors():
    spec = contract()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        **spec["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer",
    }
    not_found = {"POST /api/v1/tts", "GET /api/v1/tts/{speechId}"}
    credits = {"POST /api/v1/voice-clone", "POST /api/v1/tts"}
    for label, (_, _, op) in api_operations().items():
        assert op.get("security", spec.get("security")) == [{"bearerAuth": []}], label
        responses = op["responses"]
        for status in ("200", "400", "401", "429", "500"):
            assert status in responses, f"{label} lacks {status}"
        assert ("404" in responses) == (label in not_found), label
        expected_codes = {
            "400": {"INVALID_PARAMETERS"},
            "401": {"UNAUTHORIZED"},
            "404": {"NOT_FOUND"},
            "429": {"RATE_LIMITED"} | ({"USAGE_LIMIT_EXCEEDED"} if label in credits else set()),
            "500": {"INTERNAL_ERROR"},
        }
        for status, codes in expected_codes.items():
            if status in responses:
                allowed = codes_allowed(at(response_schema_ptr(label, status)))
                assert codes <= allowed, f"{label} {status} admits {allowed}, needs {codes}"
        if label not in credits:
            assert "USAGE_LIMIT_EXCEEDED" not in codes_allowed(at(response_schema_ptr(label, 429)))


def test_every_response_declares_rate_limit_headers():
    for label in operations():
        path, method, op = operations()[label]
        for status in op["responses"]:
            _, resp = follow(pointer("paths", path, method, "responses", status))
            headers = {name: resolve_schema(h) for name, h in resp.get("headers", {}).items()}
            for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                assert name in headers, f"{label} {status} lacks {name}"
                assert headers[name]["schema"]["type"] == "integer", (label, status, name)
            if status == "429":
                assert headers["Retry-After"]["schema"]["type"] == "integer", label


# ---------------------------------------------------------------------------------------------
# Tests: response examples
# ---------------------------------------------------------------------------------------------


def test_response_examples_found_and_classified():
    examples, code_blocks = response_examples()
    found = [(e.kind, e.op, e.title, e.status) for e in examples]
    assert found == EXPECTED_RESPONSE_EXAMPLES
    assert code_blocks == EXPECTED_CODE_BLOCKS
    for ex in examples:
        if ex.op:
            assert ex.op in operations(), f"doc section {ex.op} has no contract operation"


def _ids(example: ResponseExample) -> str:
    return f"{example.op or 'general'}-{example.title}-L{example.line + 1}"


_EXAMPLES = response_examples()[0] if DOC_PATH.is_file() else []


@pytest.mark.parametrize("example", [e for e in _EXAMPLES if e.kind == "success"], ids=_ids)
def test_success_example_validates(example: ResponseExample):
    assert_valid(example.body, response_schema_ptr(example.op, 200), f"{example.op} success example")


@pytest.mark.parametrize("example", [e for e in _EXAMPLES if e.kind == "error"], ids=_ids)
def test_error_example_validates(example: ResponseExample):
    code = example.body["code"]
    if example.op:
        targets = [example.op]
    else:  # general examples: every API operation whose response for that status admits the code
        targets = [
            label
            for label in api_operations()
            if response_ptr(label, example.status)
            and code in codes_allowed(at(response_schema_ptr(label, example.status)))
        ]
        assert targets, f"no operation answers {example.status} with code {code}"
    for label in targets:
        schema_ptr = response_schema_ptr(label, example.status)
        assert code in codes_allowed(at(schema_ptr)), f"{label} {example.status} does not admit {code}"
        assert_valid(example.body, schema_ptr, f"{label} {example.status} example {example.title!r}")


def test_error_format_template_matches_error_shape():
    (template,) = [e for e in _EXAMPLES if e.kind == "template"]
    error_ptr = pointer("components", "schemas", "Error")
    error_schema = at(error_ptr)
    assert set(template.body) == set(error_schema["required"])
    # "ERROR_CODE" is a placeholder: the only failure allowed is the code enum
    errors = list(validator_at(error_ptr).iter_errors(template.body))
    assert [(list(e.path), e.validator) for e in errors] == [(["code"], "enum")]
    shape = copy.deepcopy(error_schema)
    shape["properties"]["code"].pop("enum")
    assert not list(Draft202012Validator(shape).iter_errors(template.body))


def test_common_error_codes_table_matches_contract():
    table = error_code_table()
    assert table == EXPECTED_ERROR_CODES
    enum = set(at(pointer("components", "schemas", "Error"))["properties"]["code"]["enum"])
    for code, status in table.items():
        assert code in enum, f"{code} missing from Error.code enum"
        users = [
            label
            for label in api_operations()
            if response_ptr(label, status)
            and "application/json" in at(response_ptr(label, status)).get("content", {})
            and code in codes_allowed(at(response_schema_ptr(label, status)))
        ]
        assert users, f"no operation answers {status} with code {code}"


# ---------------------------------------------------------------------------------------------
# Tests: request examples
# ---------------------------------------------------------------------------------------------


def test_curl_examples_found():
    found = [
        (c.method, match_operation(c.method, urlsplit(c.url).path)[0].split(" ", 1)[1],
         c.data is not None, len(c.form), bool(urlsplit(c.url).query))
        for c in curl_commands()
    ]
    assert found == EXPECTED_CURL


_CURLS = curl_commands() if DOC_PATH.is_file() else []


@pytest.mark.parametrize("curl", _CURLS, ids=[f"{c.method}-{urlsplit(c.url).path}-L{c.line + 1}" for c in _CURLS])
def test_curl_example_validates(curl: Curl):
    url = urlsplit(curl.url)
    label, path_params = match_operation(curl.method, url.path)
    what = f"cURL at doc line {curl.line + 1}"
    op = operations()[label][2]
    if op.get("security", contract().get("security")):
        assert re.fullmatch(r"Bearer \S+", curl.headers.get("Authorization", "")), what
    params = parameter_ptrs(label)
    for name, value in path_params.items():
        assert_valid(coerce(value), params[("path", name)] + "/schema", f"{what} path {name}")
    if url.query:
        check_query(label, parse_qsl(url.query, keep_blank_values=True), what)
    if curl.data is not None:
        media = curl.headers.get("Content-Type", "application/x-www-form-urlencoded")
        assert media == "application/json", what
        assert_valid(json.loads(curl.data), request_schema_ptr(label, media), f"{what} -d body")
        assert_strict(label, what, json.loads(curl.data))
    if curl.form:
        obj, files = multipart_object(curl.form)
        request_schema_ptr(label, "multipart/form-data")
        check_multipart(obj, files, f"{what} -F fields")
    if "requestBody" in op and op["requestBody"].get("required"):
        assert curl.data is not None or curl.form, f"{what}: {label} needs a body"


def voices_query_strings() -> list[tuple[int, str]]:
    """Every `/api/v1/voices?...` in the doc, `${name}` filled from the sample's defaults."""
    text = doc_text()
    out = []
    for found in re.finditer(r"/api/v1/voices\?([^\s\"'`]+)", text):
        query = found.group(1)

        def fill(m, before=text[: found.start()]):
            defaults = re.findall(rf"\b{m.group(1)}\s*=\s*(\d+|'[^']*'|\"[^\"]*\")", before)
            assert defaults, f"no default for ${{{m.group(1)}}}"
            return defaults[-1].strip("'\"")

        query = re.sub(r"\$\{(\w+)\}", fill, query)
        out.append((text.count("\n", 0, found.start()) + 1, query))
    return out


def test_voices_query_string_examples_validate():
    examples = voices_query_strings()
    assert len(examples) == EXPECTED_VOICES_QUERY_STRINGS
    for line, query in examples:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        check_query("GET /api/v1/voices", pairs, f"voices query at doc line {line}")
    # the JS template really carries every documented knob
    names = {name for _, q in examples for name, _ in parse_qsl(q)}
    assert names == {"page", "limit", "status", "sortBy", "sortOrder"}


def test_python_get_voices_call_validates():
    calls = [line for line in doc_lines() if re.match(r"^get_voices\(.*\)$", line)]
    assert len(calls) == EXPECTED_PYTHON_VOICES_CALLS
    for line in calls:
        call = ast.parse(line, mode="eval").body
        query = [(kw.arg, str(ast.literal_eval(kw.value))) for kw in call.keywords]
        check_query("GET /api/v1/voices", query, f"Python call {line}")


def test_python_body_examples_validate():
    lines = doc_lines()
    text = "\n".join(lines)
    ctx = contexts()
    counts: dict[str, int] = {}
    for i, line in enumerate(lines):
        if line != "data = {":
            continue
        start = text.index("{", sum(len(x) + 1 for x in lines[:i]))
        body = ast.literal_eval(text[start : _match_braces(text, start) + 1])
        label = ctx[i].op or f"POST {next_api_path(i)}"
        counts[label] = counts.get(label, 0) + 1
        what = f"Python data dict at doc line {i + 1}"
        if label == "POST /api/v1/voice-clone":
            # files = {'voice': open(...)} just above: those become file fields
            files = set(re.findall(r"'(\w+)': open\(", "\n".join(lines[max(0, i - 6) : i])))
            assert files == {"voice"}, what
            fields = {name: FILE_PLACEHOLDER.format("file") for name in files} | body
            check_multipart(fields, files, what)
        else:
            assert_valid(body, request_schema_ptr(label, "application/json"), what)
            assert_strict(label, what, body)
    assert counts == EXPECTED_PYTHON_BODIES


def test_js_formdata_examples_validate():
    lines = doc_lines()
    groups, i = [], 0
    while i < len(lines):
        if lines[i].startswith("formData.append("):
            start = i
            while i < len(lines) and lines[i].startswith("formData.append("):
                i += 1
            groups.append((start, lines[start:i]))
        i += 1
    assert len(groups) == EXPECTED_JS_FORMDATA
    for start, group in groups:
        assert next_api_path(start).endswith("/api/v1/voice-clone"), f"doc line {start + 1}"
        fields, files = {}, set()
        for line in group:
            m = re.match(r"^formData\.append\('(\w+)', (.*)\);(\s*//.*)?$", line)
            assert m, f"unparsed: {line}"
            name, expr = m.group(1), m.group(2)
            if expr.startswith("'"):
                fields[name] = ast.literal_eval(expr)
            elif expr.startswith("JSON.stringify("):
                fields[name] = json.dumps(json.loads(js_literal_to_json(expr[len("JSON.stringify(") : -1])))
            else:  # a File / stream
                fields[name] = FILE_PLACEHOLDER.format(expr)
                files.add(name)
        check_multipart(fields, files, f"JS FormData at doc line {start + 1}")


def test_js_json_body_examples_validate():
    lines = doc_lines()
    text = "\n".join(lines)
    found = 0
    for i, line in enumerate(lines):
        if line != "body: JSON.stringify({":
            continue
        start = text.index("{", sum(len(x) + 1 for x in lines[:i]))
        body = json.loads(js_literal_to_json(text[start : _match_braces(text, start) + 1]))
        label = contexts()[i].op or f"POST {next_api_path(i)}"
        assert_valid(body, request_schema_ptr(label, "application/json"), f"JS body at doc line {i + 1}")
        assert_strict(label, f"JS body at doc line {i + 1}", body)
        found += 1
    assert found == EXPECTED_JS_JSON_BODIES


# ---------------------------------------------------------------------------------------------
# Tests: the doc's tables and headings
# ---------------------------------------------------------------------------------------------


def test_documented_endpoints_exist():
    headings = [line for line in doc_lines() if OP_HEADING.match(line)]
    assert headings == [
        "POST /api/v1/voice-clone", "GET /api/v1/voices", "POST /api/v1/tts",
        "GET /api/v1/tts/{speechId}", "GET /api/v1/credits",
    ]
    assert set(headings) == set(api_operations())


def _table_rows(heading: str, op: str) -> list[list[str]]:
    lines, ctx = doc_lines(), contexts()
    for i, line in enumerate(lines):
        if line == heading and ctx[i].op == op:
            rows = []
            for row in lines[i + 1 :]:
                if not row.endswith("|"):
                    break
                cells = [c.strip() for c in row.rstrip("|").split("|")]
                if cells[0] in ("Parameter", "Field", "Status") or set(cells[0]) <= {"-"}:
                    continue
                rows.append(cells)
            return rows
    raise AssertionError(f"no {heading!r} table under {op}")


@pytest.mark.parametrize(
    "op, heading, where",
    [
        ("POST /api/v1/voice-clone", "Request Parameters", "multipart/form-data"),
        ("POST /api/v1/tts", "Request Parameters", "application/json"),
        ("GET /api/v1/voices", "Query Parameters", "query"),
        ("GET /api/v1/tts/{speechId}", "URL Parameters", "path"),
    ],
)
def test_parameter_tables_match_contract(op: str, heading: str, where: str):
    rows = _table_rows(heading, op)
    assert rows, f"empty {heading} table under {op}"
    documented = {cells[0]: (cells[2] == "Yes", cells[3]) for cells in rows}
    if where in ("query", "path"):
        params = {name: at(ptr) for (loc, name), ptr in parameter_ptrs(op).items() if loc == where}
        schemas = {name: resolve_schema(p["schema"]) for name, p in params.items()}
        required = {name for name, p in params.items() if p.get("required")}
    else:
        body = resolve_schema(at(request_schema_ptr(op, where)))
        schemas = {name: resolve_schema(s) for name, s in body["properties"].items()}
        required = set(body.get("required", []))
    assert set(documented) == set(schemas), f"{op}: doc {sorted(documented)} vs contract {sorted(schemas)}"
    for name, (is_required, description) in documented.items():
        schema = schemas[name]
        assert (name in required) == is_required, f"{op} {name}: required mismatch"
        if "enum" in schema and ":" in description:
            listed = description.split(":", 1)[1].split("(")[0]
            values = [v.strip() for v in listed.split(",") if v.strip()]
            assert values == schema["enum"], f"{op} {name}: doc {values} vs contract {schema['enum']}"
        default = re.search(r"default: ?(\w+)", description)
        if default:
            assert schema.get("default") == coerce(default.group(1)), f"{op} {name}: default"
        for word, key in (("min", "minimum"), ("max", "maximum")):
            bound = re.search(rf"\b{word}: ?(\d+)", description)
            if bound:
                assert schema.get(key) == int(bound.group(1)), f"{op} {name}: {key}"


@pytest.mark.parametrize("op", ["GET /api/v1/voices", "GET /api/v1/credits"])
def test_response_field_tables_match_contract(op: str):
    rows = _table_rows("Response Fields", op)
    assert rows
    root = resolve_schema(at(response_schema_ptr(op, 200)))
    json_types = {"array": {"array"}, "string": {"string"}, "boolean": {"boolean"},
                  "number": {"number", "integer"}}
    for name, doc_type, *_ in rows:
        schema = root
        for part in name.split("."):
            is_array = part.endswith("[]")
            schema = resolve_schema(schema["properties"][part.removesuffix("[]")])
            if is_array:
                schema = resolve_schema(schema["items"])
        types = schema.get("type")
        types = {types} if isinstance(types, str) else set(types or [])
        if not types and "enum" in schema:
            types = {"string"}
        assert types & json_types[doc_type], f"{op} {name}: doc {doc_type} vs contract {types}"


def test_speech_status_values_table_matches_contract():
    rows = _table_rows("Status Values", "GET /api/v1/tts/{speechId}")
    statuses = [cells[0] for cells in rows]
    detail = resolve_schema(at(response_schema_ptr("GET /api/v1/tts/{speechId}", 200)))
    speech = resolve_schema(detail["properties"]["speech"])
    assert statuses == resolve_schema(speech["properties"]["status"])["enum"]
    # "audioUrl will be null" while PROCESSING
    assert "null" in speech["properties"]["audioUrl"]["type"]
