"""No input, however malformed, gets an internal error: every documented request example with
each of its fields (top level and nested) replaced by odd values still gets a documented answer."""
from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

from tests.kreado.conftest import Api
from tests.kreado.test_contract_examples import examples

pytestmark = pytest.mark.emulator(strict=False)  # odd input on purpose

ODD = [None, "", " ", "x", "٣", -1, 0, 1.5, 2.0, True, 10**30, 2**63, 1e308, [], {}, [None], {"a": 1},
       "https://例子.com/a.mp4", "EMULATOR_FAIL", [[[[[[[[]]]]]]]], "[" * 1000]


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:1]):
            yield (*prefix, i)
            yield from _paths(item, (*prefix, i))


def _replace(body: Any, path: tuple, value: Any) -> Any:
    out = copy.deepcopy(body)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def test_odd_values_in_every_field_get_documented_answers(api: Api, kr) -> None:
    limits = {name: 10**6 for name in kr.emulator.backend.state.settings.limits["per_second"]}
    kr.control.set_account("test-token", limits=limits, videoQueueLimit=10**6, subtitleQueueLimit=10**6)
    seen: dict[str, int] = {}
    for request in examples()[0]:
        body = request["body"]
        if body is None:
            continue
        for path in _paths(body):
            for value in ODD:
                r = api.raw(request["path"][len("/apis/open"):], _replace(body, path, value))
                assert r.status_code == 200, (request["path"], path, value, r.text)
                code = r.json()["code"]
                assert code not in ("10001", "10999"), (request["path"], path, value, r.text)
                seen[code] = seen.get(code, 0) + 1
    assert seen["10002"] > 100 and seen["200"] > 50  # both refusals and acceptances were reached
