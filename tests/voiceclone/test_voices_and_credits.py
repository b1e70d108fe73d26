"""GET /api/v1/voices (filters, sorting, pagination) and GET /api/v1/credits (pools, rollover)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from emulators.media.audio import make_test_audio
from tests.voiceclone.conftest import Api


@pytest.fixture
def seven_voices(vc, api: Api) -> list[dict]:
    """Seven USER voices of different lengths and titles, plus the four public SYSTEM voices."""
    voices = []
    for i, (title, seconds) in enumerate([("delta", 2), ("Alpha", 5), ("charlie", 1), ("bravo", 4),
                                           ("echo", 3), ("golf", 6), ("foxtrot", 2.5)]):
        r = api.clone(make_test_audio(seconds, "wav"), title=title)
        assert r.status_code == 200
        voices.append(r.json()["voice"])
        vc.control.advance(1)  # distinct createdAt
    return voices


def _list(api: Api, **params) -> dict:
    r = api.get("/api/v1/voices", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_defaults_and_pagination_object(api: Api, seven_voices: list) -> None:
    body = _list(api)
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 11, "totalPages": 1,
                                  "hasNext": False, "hasPrev": False}
    created = [v["createdAt"] for v in body["voices"]]
    assert created == sorted(created, reverse=True)  # createdAt desc by default


def test_pages_walk_the_whole_list(api: Api, seven_voices: list) -> None:
    seen = []
    for page in (1, 2, 3, 4):
        body = _list(api, page=page, limit=3)
        p = body["pagination"]
        assert (p["page"], p["limit"], p["total"], p["totalPages"]) == (page, 3, 11, 4)
        assert p["hasPrev"] is (page > 1) and p["hasNext"] is (page < 4)
        seen += [v["id"] for v in body["voices"]]
    assert len(seen) == len(set(seen)) == 11
    past = _list(api, page=9, limit=3)
    assert past["voices"] == [] and past["pagination"]["hasNext"] is False


@pytest.mark.emulator(strict=False)  # out-of-range parameters, on purpose
@pytest.mark.parametrize(("params", "ok"), [
    ({"limit": 1}, True), ({"limit": 100}, True), ({"limit": 0}, False), ({"limit": 101}, False),
    ({"page": 0}, False), ({"page": "x"}, False), ({"limit": "1.5"}, False), ({"page": -1}, False),
    ({"status": "DONE"}, False), ({"type": "user"}, False), ({"sortBy": "name"}, False),
    ({"sortOrder": "up"}, False),
])
def test_parameter_bounds(api: Api, params: dict, ok: bool) -> None:
    r = api.get("/api/v1/voices", params=params)
    if ok:
        assert r.status_code == 200
        assert len(r.json()["voices"]) <= params["limit"]
    else:
        assert r.status_code == 400 and r.json()["code"] == "INVALID_PARAMETERS"


@pytest.mark.parametrize("field", ["createdAt", "updatedAt", "title", "duration", "popularity"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_field_and_order(api: Api, seven_voices: list, field: str, order: str) -> None:
    voices = _list(api, sortBy=field, sortOrder=order, limit=100)["voices"]
    keys = [v[field].casefold() if field == "title" else v[field] for v in voices]
    assert keys == sorted(keys, reverse=(order == "desc"))
    assert len(voices) == 11


def test_status_and_type_filters(vc, api: Api, seven_voices: list) -> None:
    # the first voices have finished processing (15 s), the last few have not
    processing = _list(api, status="PROCESSING")["voices"]
    assert processing and all(v["status"] == "PROCESSING" and v["type"] == "USER" for v in processing)
    system = _list(api, type="SYSTEM")["voices"]
    assert {v["title"] for v in system} == {"Aria", "Ben", "Mei", "Otto"}  # the private one is hidden
    assert all(v["isPublic"] and v["status"] == "COMPLETED" for v in system)
    vc.control.advance(60)
    assert _list(api, status="PROCESSING")["voices"] == []
    assert _list(api, status="COMPLETED", type="USER")["pagination"]["total"] == 7


def test_other_users_voices_are_invisible(vc, api: Api, seven_voices: list) -> None:
    other = Api(vc, "starter-token")
    assert _list(other, type="USER")["voices"] == []
    assert _list(other)["pagination"]["total"] == 4


def test_credits_shape_and_regular_spent_first(vc, api: Api) -> None:
    vc.control.set_account("test-token", regular=3000, permanent=2000)
    body = api.credits()
    assert body["success"] is True and body["credits"] == 5000
    assert body["breakdown"]["regular"] == 3000 and body["breakdown"]["permanent"] == 2000
    assert api.tts("x" * 2500).status_code == 200
    assert api.credits()["breakdown"] | {"resetAt": None} == {"regular": 500, "permanent": 2000, "resetAt": None}
    assert api.tts("x" * 1000).status_code == 200
    b = api.credits()
    assert (b["credits"], b["breakdown"]["regular"], b["breakdown"]["permanent"]) == (1500, 0, 1500)


def test_reset_at_is_the_first_of_next_month(vc, api: Api) -> None:
    reset_at = datetime.fromisoformat(api.credits()["breakdown"]["resetAt"].replace("Z", "+00:00"))
    now = datetime.fromisoformat(vc.control.clock()["now"].replace("Z", "+00:00"))
    assert reset_at.day == 1 and (reset_at.hour, reset_at.minute, reset_at.second) == (0, 0, 0)
    assert reset_at > now and (reset_at - now).days <= 31
    assert reset_at.tzinfo == timezone.utc


def test_month_rollover_refills_regular_but_not_permanent(vc, api: Api) -> None:
    vc.control.set_account("test-token", regular=3000, permanent=2000, monthlyCredits=3000,
                           resetAt="2030-02-01T00:00:00.000Z")
    api.tts("x" * 4000)
    assert api.credits()["breakdown"]["regular"] == 0
    assert api.credits()["breakdown"]["permanent"] == 1000
    now = datetime.fromisoformat(vc.control.clock()["now"].replace("Z", "+00:00")).timestamp()
    until_reset = datetime(2030, 2, 1, tzinfo=timezone.utc).timestamp() - now
    vc.control.advance(until_reset - 2)
    assert api.credits()["breakdown"]["regular"] == 0  # one second before
    vc.control.advance(3)
    b = api.credits()
    assert b["breakdown"] == {"regular": 3000, "permanent": 1000, "resetAt": "2030-03-01T00:00:00.000Z"}
    assert b["credits"] == 4000


def test_refund_after_rollover_returns_only_permanent(vc, api: Api) -> None:
    vc.control.set_account("test-token", regular=10, permanent=100, monthlyCredits=10)
    speech_id = api.tts("EMULATOR_FAIL" + "y" * 7).json()["speechId"]  # 20 bytes: 10 regular + 10 permanent
    vc.control.advance(40 * 86400)  # past the month end, and the job has failed meanwhile
    assert api.speech(speech_id)["status"] == "FAILED"
    b = api.credits()["breakdown"]
    assert (b["regular"], b["permanent"]) == (10, 100)  # regular refilled; permanent part refunded
