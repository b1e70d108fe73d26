"""Every example in the KreadoAI docs validates against contracts/kreado.yaml, and replays.

kreado.md (../shared/providers/ beside the repo) holds fenced ```bash cURL examples and ```json
response examples; each response follows the request of its endpoint. Two examples are not
valid JSON as printed, and are repaired in one documented way each (pinned below, so a doc
change shows up): the textToSpeech request has a trailing comma, the getInfo response lacks
its closing brace.
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
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from emulators.providers.kreado.exceptions import MESSAGES
from tests.kreado.conftest import Api

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = REPO_ROOT.parent / "shared" / "providers" / "kreado.md"
CONTRACT_PATH = REPO_ROOT / "contracts" / "kreado.yaml"
URI = "urn:provider-emulators:contracts:kreado"
BASE = "https://api.kreadoai.com"

EXPECTED_REQUESTS = [  # (path, has a JSON body), in doc order
    ("/apis/open/user/v3/getInfo", False),  # section 2, authentication
    ("/apis/open/avatar/v3/list", True),
    ("/apis/open/avatar/v3/uploadAvatar", True),
    ("/apis/open/avatar/v3/getUploadCustomAvatar", True),
    ("/apis/open/video/v3/submitLipTask", True),
    ("/apis/open/video/v3/submitSystemLipTask", True),
    ("/apis/open/video/v3/getLipVideoResult", True),
    ("/apis/open/video/v3/list", True),
    ("/apis/open/video/v3/detail", True),
    ("/apis/open/video/v3/emoList", True),
    ("/apis/open/video/v3/uploadCloneVideo", True),
    ("/apis/open/video/v3/getUploadCloneVideoStatus", True),
    ("/apis/open/user/v3/getInfo", False),
    ("/apis/open/voice/v3/getVoiceLanguage", False),
    ("/apis/open/voice/v3/getVoiceList", True),
    ("/apis/open/voice/v3/textToSpeech", True),
    ("/apis/open/subtitle_removal/v3/submitTask", True),
    ("/apis/open/subtitle_removal/v3/detail", True),
]
REPAIRED = {"request": ["/apis/open/voice/v3/textToSpeech"], "response": ["/apis/open/user/v3/getInfo"]}


@lru_cache(maxsize=None)
def doc() -> str:
    if not DOC_PATH.is_file():
        pytest.fail(f"provider doc not found at {DOC_PATH} (the repo must sit beside ../shared)")
    return DOC_PATH.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def registry() -> Registry:
    return Registry().with_resource(URI, DRAFT202012.create_resource(contract()))


def check(instance: Any, schema: dict[str, Any], what: str) -> None:
    """Validates against a schema of the contract (its local refs resolved in the contract)."""
    resolved = json.loads(json.dumps(schema).replace('"#/components', f'"{URI}#/components'))
    errors = list(Draft202012Validator(resolved, registry=registry()).iter_errors(instance))
    assert not errors, f"{what}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _loads(text: str, repair: str) -> tuple[Any, bool]:
    try:
        return json.loads(text), False
    except json.JSONDecodeError:
        fixed = re.sub(r",(\s*})", r"\1", text) if repair == "comma" else text.rstrip() + "\n}"
        return json.loads(fixed), True


@lru_cache(maxsize=None)
def examples() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(requests, responses) found in the doc, each with the endpoint path it belongs to."""
    requests: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    for lang, body in re.findall(r"```(bash|json)\n(.*?)```", doc(), flags=re.S):
        if lang == "bash":
            url = re.search(r"https://api\.kreadoai\.com(/apis/open/[A-Za-z0-9_/]+)", body)
            assert url, body
            data = re.search(r"--data '(.*)'", body, flags=re.S)
            raw = data.group(1) if data else ""
            parsed, repaired = _loads(raw, "comma") if raw.strip() else (None, False)
            requests.append({"path": url.group(1), "body": parsed, "raw": raw, "repaired": repaired,
                             "method": "GET" if "--request GET" in body else None})
        else:
            assert requests, "a response example before any request"
            parsed, repaired = _loads(body, "brace")
            responses.append({"path": requests[-1]["path"], "body": parsed, "repaired": repaired})
    return requests, responses


def operation(path: str) -> tuple[str, dict[str, Any]]:
    item = contract()["paths"][path]
    methods = [m for m in item if m in ("get", "post")]
    assert len(methods) == 1, path
    return methods[0], item[methods[0]]


def test_the_parser_finds_every_example() -> None:
    requests, responses = examples()
    assert [(r["path"], r["body"] is not None) for r in requests] == EXPECTED_REQUESTS
    assert len(responses) == 17
    assert [r["path"] for r in requests if r["repaired"]] == REPAIRED["request"]
    assert [r["path"] for r in responses if r["repaired"]] == REPAIRED["response"]


def test_request_examples_validate() -> None:
    for request in examples()[0]:
        method, op = operation(request["path"])
        if request["method"]:
            assert request["method"].lower() == method
        if request["body"] is None:
            assert method == "get" and "requestBody" not in op, request["path"]
            continue
        assert method == "post"
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        check(request["body"], schema, f"request example of {request['path']}")


def test_response_examples_validate() -> None:
    for response in examples()[1]:
        _, op = operation(response["path"])
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        check(response["body"], schema, f"response example of {response['path']}")
        assert response["body"]["code"] == "200"


def test_documented_endpoints_are_the_contracts() -> None:
    documented = set(re.findall(r"https://api\.kreadoai\.com(/apis/open/[A-Za-z0-9_/]+)", doc()))
    api_paths = {p for p, item in contract()["paths"].items()
                 if not any(isinstance(o, dict) and o.get("x-emulator") for o in item.values())}
    # the result query is named taskResult in its table and called as detail in its example
    assert documented == api_paths


def test_status_code_table_matches_contract_and_emulator() -> None:
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", doc(), flags=re.M))
    assert len(table) == 27
    assert table == MESSAGES
    error = contract()["components"]["schemas"]["Error"]
    pairs = {b["properties"]["code"]["const"]: b["properties"]["message"]["const"] for b in error["oneOf"]}
    assert pairs == {c: m for c, m in table.items() if c != "200"}


def test_request_examples_replay_against_the_emulator(api: Api) -> None:
    """Sent byte for byte as printed (with the docs' own token, which the emulator seeds):
    submissions are accepted; queries for the docs' ids (which this emulator never issued) say
    10009. The textToSpeech example is not JSON as printed (a trailing comma, which the
    provider's Java JSON parser refuses too): 10002 as printed, accepted once repaired."""
    token = "61FDB6A8A14FE77EE2DF893058572EE3"
    headers = {"apiToken": token, "Content-Type": "application/json"}
    for request in examples()[0]:
        method, _ = operation(request["path"])
        api.next_second()
        if method == "get":
            r = api.http.get(request["path"], headers={"apiToken": token})
        else:
            if request["repaired"]:  # not JSON as printed, on purpose
                with api.em.allow_bad_requests():
                    r = api.http.post(request["path"], content=request["raw"].encode(), headers=headers)
            else:
                r = api.http.post(request["path"], content=request["raw"].encode(), headers=headers)
            if request["repaired"]:
                assert r.status_code == 200 and r.json()["code"] == "10002", (request["path"], r.json())
                api.next_second()
                r = api.http.post(request["path"], json=request["body"], headers=headers)
        assert r.status_code == 200
        code = r.json()["code"]
        lookup = request["path"].endswith(("getUploadCustomAvatar", "getLipVideoResult", "detail",
                                           "getUploadCloneVideoStatus"))
        assert code == ("10009" if lookup else "200"), (request["path"], r.json())


# Request examples strict mode reports, each with why (the docs' own mistakes; nothing else).
STRICT_ALLOWED: dict[tuple[str, str, str], str] = {}


def test_request_examples_pass_the_strict_check() -> None:
    """What a client copying kreado.md's cURL samples sends (repaired where REPAIRED says, the
    rest as printed) passes strict mode."""
    from tests.strict.docs import strict_violations

    for request in examples()[0]:
        method, _ = operation(request["path"])
        found = strict_violations("kreado", method, request["path"], request["body"])
        unexplained = [(w, m) for w, m in found if (request["path"], w, m) not in STRICT_ALLOWED]
        assert unexplained == [], (request["path"], request["body"])
