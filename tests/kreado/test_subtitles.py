"""Subtitle/watermark removal: submission, result under both paths, queue cap, billing."""
from __future__ import annotations

import re

import pytest

from emulators.media.probe import probe
from tests.kreado.conftest import BAD, Api

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
RECTS = {"customRectAreaList": [{"lt_x": 0, "lt_y": 0, "rb_x": 400, "rb_y": 200}],
         "rectAreaList": [{"lt_x": 0, "lt_y": 941.212, "rb_x": 1068.84, "rb_y": 1346.41}]}


def test_subtitle_task_success_path(api: Api, kr) -> None:
    r = api.subtitle_task(**RECTS)
    assert r["code"] == "200"
    job = r["data"]["jobId"]
    assert api.balance() == "99998.60"  # 7 s at 0.20 K-coin per second
    first = api.ok("/subtitle_removal/v3/taskResult", {"jobId": job})
    assert first["status"] == 1 and first["targetVideoUrl"] is None and first["processTime"] is None
    assert first["jobId"] == job and first["taskName"] == "sub" and first["duration"] == 7
    assert ISO.match(first["createTime"]) and first["completeTime"] is None
    kr.control.advance(6)
    assert api.ok("/subtitle_removal/v3/detail", {"jobId": str(job)})["status"] == 2
    kr.control.advance(20)
    done = api.ok("/subtitle_removal/v3/detail", {"jobId": str(job)})
    assert done["status"] == 3 and done["processTime"] == 17  # 10 s + 1 s per video second
    assert ISO.match(done["completeTime"]) and done["completeTime"] == done["successTime"]
    assert done == {**api.ok("/subtitle_removal/v3/taskResult", {"jobId": job}), "processTime": 17}
    info = probe(api.http.get(done["targetVideoUrl"]).content)
    assert info.format == "mp4" and abs(info.duration - 7) < 0.5


def test_subtitle_failure_and_timeout_refund(api: Api, kr) -> None:
    job = api.subtitle_task(taskName="EMULATOR_FAIL")["data"]["jobId"]
    late = api.subtitle_task(srcFileUrl="https://example.com/EMULATOR_TIMEOUT.mp4")["data"]["jobId"]
    assert api.balance() == "99995.60"  # 7 s + 15 s (the default for an unlisted URL)
    kr.control.advance(60)
    res = api.ok("/subtitle_removal/v3/taskResult", {"jobId": job})
    assert res["status"] == 4 and res["targetVideoUrl"] is None and res["completeTime"] is None
    assert api.ok("/subtitle_removal/v3/taskResult", {"jobId": late})["status"] == 5
    assert api.balance() == "100000.00"


@pytest.mark.emulator(strict=False)  # values the provider refuses, on purpose
def test_subtitle_rules(api: Api) -> None:
    assert api.subtitle_task(BAD + "video-250mb.mp4")["code"] == "10007"  # 200 MB cap here
    assert api.subtitle_task(BAD + "video-too-short.mp4")["code"] == "10008"
    assert api.subtitle_task(taskName="x" * 101)["code"] == "10002"
    assert api.subtitle_task(rectAreaList=[{"lt_x": 10, "lt_y": 0, "rb_x": 5, "rb_y": 9}])["code"] == "10002"
    assert api.subtitle_task(rectAreaList=[{"lt_x": 0, "lt_y": 0, "rb_x": 5}])["code"] == "10002"
    assert api.subtitle_task(rectAreaList="all")["code"] == "10002"
    assert api.post("/subtitle_removal/v3/taskResult", {"jobId": 1988133674407751682})["code"] == "10009"
    assert api.balance() == "100000.00"


def test_at_most_four_queued_subtitle_tasks(api: Api, kr) -> None:
    for _ in range(4):
        assert api.subtitle_task()["code"] == "200"
    over = api.subtitle_task()
    assert over["code"] == "10019"
    assert over["message"] == "There are too many tasks queued. Please submit the task later."
    assert api.balance() == "99994.40"  # the refused 5th was not billed
    kr.control.advance(60)  # the queue drains
    assert api.subtitle_task()["code"] == "200"
