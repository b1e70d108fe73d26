"""The two ways the kie emulator answers: `documented` (kie.md / kie-extra.md, the default) and
`live` (what the live service was recorded doing, kie-live.md).

The backend builds every answer in its documented form; `live` is a transformation of it, one
function per answer, so the differences are all in this one place:

| answer | documented | live |
|---|---|---|
| any error | HTTP status = `code` | HTTP 200, the code only in the body |
| credit balance | whole credits (the docs' `"data": 100`) | the exact balance (`60.62`) |
| createTask | `{"taskId"}` | `{"taskId", "recordId"}` (the same id) |
| recordInfo before the end | `state` waiting/queuing/generating, `resultJson: null`, `updateTime` | `state: "waiting"` throughout, `resultJson: ""`, no `updateTime` |
| recordInfo `param` | the createTask body as a JSON string | `{"input": "<input as a JSON string, keys sorted>", "model": ...}` |
| `costTime` | milliseconds | seconds |
| upload `data` | as documented | plus `"success": true`; `filePath` = `kieai/<user id>/<uploadPath>/<fileName>` |
"""
from __future__ import annotations

import json
from typing import Any, Literal

Profile = Literal["documented", "live"]
PROFILES: tuple[Profile, ...] = ("documented", "live")
FINAL_STATES = ("success", "fail")


def _compact(value: Any, *, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)


def credits(cents: int, profile: Profile) -> int | float:
    """The balance kept in hundredths of a credit, as `data` of GET /api/v1/chat/credit."""
    if profile == "live":
        return cents // 100 if cents % 100 == 0 else cents / 100
    return cents // 100


def create_task(task_id: str, profile: Profile) -> dict[str, str]:
    if profile == "live":
        return {"taskId": task_id, "recordId": task_id}
    return {"taskId": task_id}


def live_param(param: str) -> str:
    """The live `param`: the body with `input` itself encoded as a JSON string (keys sorted)."""
    try:
        body = json.loads(param)
    except ValueError:
        return param
    if not isinstance(body, dict):
        return param
    if "input" in body:
        body["input"] = _compact(body["input"], sort_keys=True)
    return _compact(body, sort_keys=True)


def task_record(record: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """recordInfo's `data` (and a callback's) from its documented form."""
    if profile == "documented":
        return record
    live = dict(record)
    done = record["state"] in FINAL_STATES
    live["param"] = live_param(record["param"])
    if not done:
        live["state"] = "waiting"  # the recording never saw queuing or generating
        live.pop("updateTime", None)
    if live["resultJson"] is None:
        live["resultJson"] = ""
    if record["costTime"] is not None:
        live["costTime"] = int(round(record["costTime"] / 1000))
    return live


def upload_data(data: dict[str, Any], user_id: int, profile: Profile) -> dict[str, Any]:
    """The `data` of an upload answer from its documented form."""
    if profile == "documented":
        return data
    return {**data, "filePath": f"kieai/{user_id}/{data['filePath']}", "success": True}
