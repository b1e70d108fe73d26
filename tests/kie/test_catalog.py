"""The model catalogue against kie-live.md's tables: every allowed value is accepted, values
outside them are refused, required inputs are required, URL lists are counted and checked,
and every price of the pricing table is what the account is charged."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulators.media.image import make_image
from emulators.media.probe import probe
from emulators.media.video import make_video
from tests.kie.conftest import IMAGE_TIMINGS, VIDEO_TIMINGS, Api

REPO = Path(__file__).resolve().parents[2]
LIVE_MD = (REPO.parent / "shared" / "providers" / "kie-live.md").read_text()
CATALOG = yaml.safe_load((REPO / "fixtures" / "kie" / "models.yaml").read_text())
IMAGE = "https://example.com/a.png"
VIDEO = "https://example.com/v.mp4"


def _table(title: str) -> list[list[str]]:
    section = LIVE_MD.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def _options(cell: str) -> dict[str, dict[str, Any]]:
    """`name` values; `name` values (required); ... -> {name: {"values"|"range"|"bool", "required"}}."""
    found: dict[str, dict[str, Any]] = {}
    for part in re.split(r";\s+(?=`)", cell):
        name = re.match(r"`(\w+)`", part).group(1)
        rest = part[len(name) + 2:].strip()
        option: dict[str, Any] = {"required": "(required)" in rest or "live refused an omitted" in rest}
        rest = rest.replace("(required)", "").strip()
        if rest.startswith("bool"):
            option["bool"] = True
        elif m := re.match(r"(\d+)-(\d+) s", rest):
            option["range"] = (int(m.group(1)), int(m.group(2)))
        elif m := re.match(r"(\d+) or (\d+)", rest):
            option["values"] = [int(m.group(1)), int(m.group(2))]
        elif rest.startswith("list of") or rest == "string":
            option["free"] = True
        else:
            option["values"] = [v.split(" (")[0].strip() for v in rest.split(",")]
        found[name] = option
    return found


MODEL_ROWS = {re.match(r"`(.+?)`", row[0]).group(1): row for row in _table("Model inputs (verified from the live model pages)")}


def test_the_table_has_the_models_of_the_catalogue() -> None:
    assert list(MODEL_ROWS) == ["nano-banana-2", "nano-banana-pro", "kling-3.0/video", "kling-3.0/motion-control",
                                "kling-2.6/text-to-video", "kling-2.6/image-to-video"]
    assert set(MODEL_ROWS) <= set(CATALOG["models"])


def _valid_input(model: str) -> dict[str, Any]:
    """Every required input with an accepted value."""
    return {
        "nano-banana-2": {"prompt": "p"}, "nano-banana-pro": {"prompt": "p"},
        "kling-3.0/video": {"prompt": "p", "mode": "std", "duration": 3, "sound": False},
        "kling-3.0/motion-control": {"input_urls": [IMAGE], "video_urls": [VIDEO]},
        "kling-2.6/text-to-video": {"prompt": "p", "sound": False, "aspect_ratio": "1:1", "duration": 5},
        "kling-2.6/image-to-video": {"prompt": "p", "image_urls": [IMAGE], "sound": False, "duration": 5},
    }[model]


OPTION_CASES = [(model, name, option) for model, row in MODEL_ROWS.items()
                for name, option in _options(row[2]).items()]


@pytest.mark.parametrize("model,name,option", OPTION_CASES, ids=[f"{m}:{n}" for m, n, _ in OPTION_CASES])
def test_every_option_of_the_table(api: Api, model: str, name: str, option: dict[str, Any]) -> None:
    base = _valid_input(model)
    spec = CATALOG["models"][model]["inputs"][name]
    accepted: list[Any] = []
    refused: list[Any] = []
    if option.get("bool"):
        accepted, refused = [True, False], ["yes", 1]
    elif "range" in option:
        low, high = option["range"]
        accepted, refused = list(range(low, high + 1)), [low - 1, high + 1, 4.5, "ten"]
    elif "values" in option:
        accepted = option["values"]
        refused = ["bogus", 7] if isinstance(accepted[0], str) else [7, 0]
    else:
        accepted, refused = ([[{"prompt": "shot one", "duration": 3}]], ["not a list"]) if name == "multi_prompt" \
            else (["studio"], [7])
    for value in accepted:
        r = api.create(model, **{**base, name: value})
        assert r.json()["code"] == 200, (name, value, r.text)
    for value in refused:
        r = api.create(model, **{**base, name: value})
        assert r.status_code == 422 and name in r.json()["msg"], (name, value, r.text)
    if option["required"]:
        assert spec.get("required"), name
        missing = {k: v for k, v in base.items() if k != name}
        r = api.create(model, **missing)
        assert r.json() == {"code": 422, "msg": f"{name} cannot be empty", "data": None}
    else:
        assert not spec.get("required"), name


@pytest.mark.parametrize("model", list(MODEL_ROWS))
def test_prompt_rules(api: Api, model: str) -> None:
    cell = MODEL_ROWS[model][3]
    limit = int(re.search(r"<= ([\d,]+) chars", cell).group(1).replace(",", ""))
    base = {k: v for k, v in _valid_input(model).items() if k != "prompt"}
    assert api.create(model, **base, prompt="x" * limit).json()["code"] == 200
    r = api.create(model, **base, prompt="x" * (limit + 1))
    assert r.status_code == 422 and str(limit) in r.json()["msg"]
    r = api.create(model, **base)
    assert (r.json()["code"] == 422) == cell.startswith("required"), r.text


def test_nano_banana_takes_jpeg_too(api: Api) -> None:
    for fmt in ("jpg", "jpeg", "png"):
        api.create_ok("nano-banana-2", prompt="p", output_format=fmt)
    assert api.create("nano-banana-2", prompt="p", output_format="gif").status_code == 422


@pytest.mark.parametrize("model,field,most", [("nano-banana-2", "image_input", 14), ("nano-banana-pro", "image_input", 8),
                                              ("kling-3.0/video", "image_urls", 2)])
def test_url_counts(api: Api, model: str, field: str, most: int) -> None:
    base = _valid_input(model)
    for count in (0, 1, most):
        api.create_ok(model, **base, **{field: [IMAGE] * count})
    r = api.create(model, **base, **{field: [IMAGE] * (most + 1)})
    assert r.status_code == 422 and field in r.json()["msg"] and str(most) in r.json()["msg"]
    for bad in ("http://a/b.png", ["not a url"], ["ftp://a/b.png"], [7]):
        r = api.create(model, **base, **{field: bad})
        assert r.status_code == 422 and field in r.json()["msg"], bad


def test_exactly_one_url_where_the_table_says_one(api: Api) -> None:
    for model, field in (("kling-2.6/image-to-video", "image_urls"), ("kling-3.0/motion-control", "input_urls"),
                         ("kling-3.0/motion-control", "video_urls")):
        base = _valid_input(model)
        url = base[field][0]
        r = api.create(model, **{**base, field: [url, url]})
        assert r.status_code == 422 and "exactly 1" in r.json()["msg"], (model, field)
        r = api.create(model, **{**base, field: []})
        assert r.json()["msg"] == f"{field} cannot be empty"


def test_outside_urls_are_judged_by_their_extension(api: Api) -> None:
    api.create_ok("nano-banana-2", prompt="p", image_input=["https://example.com/a.webp", "https://example.com/x"])
    r = api.create("nano-banana-2", prompt="p", image_input=["https://example.com/a.gif"])
    assert r.status_code == 422 and "image_input[0]" in r.json()["msg"] and "gif" in r.json()["msg"]
    r = api.create("kling-3.0/video", **_valid_input("kling-3.0/video"), image_urls=["https://e.com/a.webp"])
    assert r.status_code == 422  # Kling 3.0 frames: jpeg/jpg/png only
    r = api.create("kling-3.0/motion-control", input_urls=[IMAGE], video_urls=["https://e.com/v.webm"])
    assert r.status_code == 422 and "video_urls[0]" in r.json()["msg"]


# -- files the emulator serves are checked by their content ---------------------------------------

def _upload(api: Api, data: bytes, name: str) -> str:
    r = api.post("/api/file-stream-upload", files={"file": (name, data, "application/octet-stream")},
                 data={"uploadPath": "inputs", "fileName": name})
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["downloadUrl"])


def test_motion_control_checks_and_prices_its_files(api: Api) -> None:
    image = _upload(api, make_image(400, 600, fmt="jpeg", seed="m"), "dancer.jpg")
    video = _upload(api, make_video(4.0, 320, 320, seed="m"), "moves.mp4")
    short = _upload(api, make_video(2.0, 320, 320, seed="s"), "short.mp4")
    small = _upload(api, make_image(200, 200, fmt="png", seed="s"), "small.png")
    wide = _upload(api, make_image(900, 300, fmt="png", seed="w"), "wide.png")
    webp = _upload(api, make_image(400, 400, fmt="webp", seed="w"), "pic.webp")
    for inputs, needle in (({"input_urls": [small], "video_urls": [video]}, "300 px"),
                           ({"input_urls": [wide], "video_urls": [video]}, "aspect"),
                           ({"input_urls": [webp], "video_urls": [video]}, "webp"),
                           ({"input_urls": [image], "video_urls": [short]}, "3-30 s"),
                           ({"input_urls": [image], "video_urls": [image]}, "jpeg")):
        r = api.create("kling-3.0/motion-control", **inputs)
        assert r.status_code == 422 and needle in r.json()["msg"], (inputs, r.text)
    before = api.credits()
    task_id = api.create_ok("kling-3.0/motion-control", input_urls=[image], video_urls=[video], mode="1080p")
    assert before - api.credits() == 4 * 27  # per second of the driving video
    api.em.control.advance(sum(VIDEO_TIMINGS))
    (url,) = api.result_urls(task_id)
    info = probe(api.download(url).content)
    assert info is not None and info.has_video and abs(info.duration - 4.0) < 0.5


def test_size_limits_of_the_emulators_own_files(api: Api) -> None:
    # a 10 MB limit (Kling frames), measured on the stored file
    big = make_image(64, 64, fmt="png", seed="b") + b"\0" * (10 * 1024 * 1024)
    url = _upload(api, big, "big.png")
    r = api.create("kling-2.6/image-to-video", **{**_valid_input("kling-2.6/image-to-video"), "image_urls": [url]})
    assert r.status_code == 422 and "10 MB" in r.json()["msg"]
    api.create_ok("nano-banana-2", prompt="p", image_input=[url])  # nano banana takes 30 MB


# -- edits and image sizes ----------------------------------------------------------------------

def _result_size(api: Api, task_id: str) -> tuple[int, int]:
    api.em.control.advance(sum(IMAGE_TIMINGS))
    (url,) = api.result_urls(task_id)
    info = probe(api.download(url).content)
    assert info is not None
    return info.width, info.height


def test_an_edit_keeps_its_images_shape(api: Api) -> None:
    portrait = _upload(api, make_image(600, 800, fmt="png", seed="e"), "portrait.png")
    task_id = api.create_ok("nano-banana-2", prompt="make it blue", image_input=[portrait])
    assert _result_size(api, task_id) == (864, 1152)  # 3:4, the nearest size
    task_id = api.create_ok("nano-banana-2", prompt="make it wide", image_input=[portrait], aspect_ratio="16:9")
    assert _result_size(api, task_id) == (1344, 768)
    task_id = api.create_ok("nano-banana-2", prompt="no input")
    assert _result_size(api, task_id) == (1024, 1024)


def test_resolution_scales_the_result(api: Api) -> None:
    task_id = api.create_ok("nano-banana-pro", prompt="p", aspect_ratio="4:5", resolution="2K")
    assert _result_size(api, task_id) == (1792, 2304)
    task_id = api.create_ok("nano-banana-2", prompt="p", aspect_ratio="8:1", resolution="4K")
    assert _result_size(api, task_id) == (4096, 512)  # the longer side stops at 4096


# -- prices --------------------------------------------------------------------------------------

def _price_cases() -> list[tuple[str, dict[str, Any], float]]:
    rows = {row[0]: row[1] for row in _table("Prices (credits, from the live pricing page, 2026-03-26)")}
    cases: list[tuple[str, dict[str, Any], float]] = []
    for resolutions, credits in re.findall(r"([\dK/]+): (\d+)", rows["nano-banana-2"]):
        cases += [("nano-banana-2", {"prompt": "p", "resolution": r}, int(credits)) for r in resolutions.split("/")]
    for resolutions, credits in re.findall(r"([\dK/]+): (\d+)", rows["nano-banana-pro"]):
        cases += [("nano-banana-pro", {"prompt": "p", "resolution": r}, int(credits)) for r in resolutions.split("/")]
    for mode, silent, loud in re.findall(r"\((std|pro)\) (\d+) without(?: sound)?, (\d+) with", rows["kling-3.0/video"]):
        for duration in (3, 15):
            base = {"prompt": "p", "mode": mode, "duration": duration}
            cases.append(("kling-3.0/video", {**base, "sound": False}, duration * int(silent)))
            cases.append(("kling-3.0/video", {**base, "sound": True}, duration * int(loud)))
    for row_name in ("kling-2.6/text-to-video, image-to-video",):
        text = rows[row_name]
        five_silent, five_loud, ten_silent = map(int, re.search(
            r"5 s: (\d+) without sound, (\d+) with; 10 s: (\d+) without sound", text).groups())
        for model in ("kling-2.6/text-to-video", "kling-2.6/image-to-video"):
            base = _valid_input(model)
            cases += [(model, {**base, "duration": 5, "sound": False}, five_silent),
                      (model, {**base, "duration": 5, "sound": True}, five_loud),
                      (model, {**base, "duration": 10, "sound": False}, ten_silent)]
    motion = dict(re.findall(r"(720p|1080p) (\d+)", rows["kling-3.0/motion-control"]))
    for mode, per_second in motion.items():  # an outside driving video counts as 5 s
        cases.append(("kling-3.0/motion-control", {**_valid_input("kling-3.0/motion-control"), "mode": mode},
                      5 * int(per_second)))
    return cases


PRICE_CASES = _price_cases()


def test_every_row_of_the_pricing_table_is_covered() -> None:
    assert len(PRICE_CASES) == 3 + 3 + 8 + 6 + 2


@pytest.mark.parametrize("model,inputs,price", PRICE_CASES)
def test_prices_of_the_live_pricing_page(api: Api, model: str, inputs: dict[str, Any], price: float) -> None:
    before = api.credits()
    api.create_ok(model, **inputs)
    assert before - api.credits() == price


def test_ten_seconds_with_sound_is_twice_five(api: Api) -> None:
    """Not on the live page: the emulator's decision (docs/kie.md)."""
    api.create_ok("kling-2.6/text-to-video", **{**_valid_input("kling-2.6/text-to-video"), "duration": 10, "sound": True})
    assert api.credits() == 100000 - 220


def test_default_resolution_is_1k(api: Api) -> None:
    api.create_ok("nano-banana-2", prompt="p")
    api.create_ok("nano-banana-pro", prompt="p")
    assert api.credits() == 100000 - 8 - 18
