"""Request fields read the way the provider's Java JSON binding reads them: a JSON number or
boolean bound to a String field is its text (noted in the journal); an Integer field takes a
number with no fraction or a string of digits, and refuses a fraction rather than truncate it."""
from __future__ import annotations

import pytest

from tests.kreado.conftest import Api

# JSON forms the docs do not give (numbers for Strings, strings for integers), sent on purpose
pytestmark = pytest.mark.emulator(strict=False)


def _notes(api: Api) -> list[str]:
    return api.em.control.journal()[-1]["notes"]


@pytest.mark.parametrize("resize, text", [(1.5, "1.5"), (2, "2"), (0.75, "0.75"), (1.25, "1.25")])
def test_resize_as_a_json_number_is_its_text(api: Api, resize: float, text: str) -> None:
    r = api.system_task(avatar=4192, digitalHuman={"digitalHumanId": 4192, "resize": resize})
    assert r["code"] == "200", r
    assert _notes(api) == [f"digitalHuman.resize sent as the JSON {type(resize).__name__} {resize}: taken as the "
                           f"string {text!r}, as a Java JSON binding does for a String field"]
    r = api.system_task(background={"type": 303, "backgroundElements": [
        {"elementType": 330, "fileUrl": "https://example.com/bg.png", "resize": resize}]})
    assert r["code"] == "200", r
    assert _notes(api) == [f"background.backgroundElements[0].resize sent as the JSON {type(resize).__name__} "
                           f"{resize}: taken as the string {text!r}, as a Java JSON binding does for a String field"]


def test_resize_keeps_its_documented_rule_whatever_its_json_type(api: Api) -> None:
    """"Supports up to two decimal places": as a number or as a string alike."""
    for resize in (1.555, "1.555", 0, "0", -1, 1e300, [1.5], {"v": 1.5}):
        assert api.system_task(digitalHuman={"digitalHumanId": 9, "resize": resize})["code"] == "10002", resize
    assert api.system_task(digitalHuman={"digitalHumanId": 9, "resize": "1.50"})["code"] == "200"
    assert _notes(api) == []  # a string is what the docs ask for: nothing to note


def test_other_string_fields_take_numbers_as_their_text(api: Api, kr) -> None:
    r = api.system_task(taskName=20241201)
    assert r["code"] == "200"
    assert _notes(api) == ["taskName sent as the JSON int 20241201: taken as the string '20241201', "
                           "as a Java JSON binding does for a String field"]
    listed = api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 1})["data"][0]
    assert listed["taskName"] == "20241201"
    # the docs' languageId is a string of 19 digits; sent as a JSON number it is the same id
    r = api.tts(languageId=1767068435675340832)
    assert r["code"] == "200" and len(_notes(api)) == 1
    # objects and arrays are not text: refused
    assert api.system_task(taskName=["t"])["code"] == "10002"
    assert api.system_task(taskName={"t": 1})["code"] == "10002"
    # NaN and Infinity are not JSON (Python's parser takes them, the provider's does not)
    headers = {**api.headers(), "Content-Type": "application/json"}
    for raw in (b"NaN", b"Infinity", b"-Infinity"):
        api.next_second()
        body = (b'{"taskName": ' + raw + b', "videoRatio": 1, "digitalHuman": {"digitalHumanId": 9}, '
                b'"audio": {"audioUrl": "https://example.com/a.mp3"}}')
        r = api.http.post("/apis/open/video/v3/submitSystemLipTask", headers=headers, content=body)
        assert r.json()["code"] == "10002", raw


def test_integer_fields_take_whole_numbers_in_any_json_form(api: Api) -> None:
    for ratio in (2, 2.0, "2", " 2 ", 2e0):
        assert api.system_task(videoRatio=ratio)["code"] == "200", ratio
    for ratio in (1.5, 2.5, "2.0", "two", True, None, float("nan")):
        body_ratio = ratio if ratio == ratio else "NaN"  # (NaN is sent as a string: JSON has no NaN)
        assert api.system_task(videoRatio=body_ratio)["code"] == "10002", ratio
