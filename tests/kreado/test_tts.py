"""textToSpeech: synchronous, validated per voice source, billed, real MP3 audio."""
from __future__ import annotations

import pytest

from emulators.media.probe import probe
from tests.kreado.conftest import MANDARIN, Api

DOC_TEXT = ("Kreado-AI提供超过100位数字人形象，快速生成多语种数字人口播视频。集多项AI功能于一身，"
            "营销创作更快、更好、更简单。帮助客户降低成本，提高营销增收。")


def test_tts_returns_real_mp3_of_the_stated_duration_and_bills_it(api: Api) -> None:
    r = api.tts(DOC_TEXT, voice="zh_male_jingqiangkanye_moon_bigtts", source=4)
    assert r["code"] == "200", r
    tts = r["data"]["textToSpeech"]
    assert r["data"]["taskId"].isdigit()
    assert tts["paymentMoney"] == 4  # 75 characters at 1 K-coin per 20
    assert api.balance() == "99996.00"
    audio = api.http.get(tts["audioUrl"])
    assert audio.headers["content-type"] == "audio/mpeg"
    info = probe(audio.content)
    assert info is not None and info.format == "mp3"
    assert abs(info.duration - tts["duration"]) <= 0.6
    second = api.tts("Short one.")["data"]["textToSpeech"]
    assert second["fileId"] == tts["fileId"] + 1 and second["paymentMoney"] == 1
    assert api.balance() == "99995.00"


def test_tts_without_money_is_refused_and_takes_nothing(api: Api, kr) -> None:
    r = api.tts("Hello", token="poor-token")
    assert r["code"] == "10017"
    assert r["message"] == "Your balance is insufficient. Please recharge and try again."
    kr.control.set_account("poor-token", balance="0.99")
    assert api.tts("Hello", token="poor-token")["code"] == "10017"
    assert api.balance("poor-token") == "0.99"
    kr.control.set_account("poor-token", balance="1.00")
    assert api.tts("Hello", token="poor-token")["code"] == "200"
    assert api.balance("poor-token") == "0.00"


@pytest.mark.parametrize("source, voice, field, good, bad", [
    (3, "zhida", "volume", [0, 100], [-1, 101]),
    (3, "zhida", "prosodyRate", [-500, 500], [-501, 501]),
    (3, "longxiaochun", "prosodyRate", [50, 200], [49, 201]),  # cosyVoice model ranges
    (4, "zh_male_jingqiangkanye_moon_bigtts", "volume", [10, 300], [9, 301]),
    (4, "zh_male_jingqiangkanye_moon_bigtts", "prosodyPitch", [10, 300], [9, 301]),
])
def test_per_source_parameter_ranges(api: Api, source: int, voice: str, field: str, good: list[int],
                                     bad: list[int]) -> None:
    for value in good:
        assert api.tts("Hi", voice=voice, source=source, **{field: value})["code"] == "200", value
    for value in bad:
        assert api.tts("Hi", voice=voice, source=source, **{field: value})["code"] == "10002", value


def _voice(api: Api, source: int) -> str:
    page = api.ok("/voice/v3/getVoiceList", {"pageIndex": 1, "pageSize": 1, "language": "English",
                                             "voiceClone": 0, "voiceSource": source})
    return page["data"][0]["voiceId"]


def test_ranges_of_the_other_sources(api: Api) -> None:
    cases = {5: ("volume", 10, 11), 6: ("volume", -96, -97), 21: ("prosodyPitch", 100, 101),
             1: ("prosodyRate", -100, -101)}
    for source, (field, good, bad) in cases.items():
        voice = _voice(api, source)
        assert api.tts("Hi", voice=voice, source=source, **{field: good})["code"] == "200", source
        assert api.tts("Hi", voice=voice, source=source, **{field: bad})["code"] == "10002", source
    # volume is "Not Set" for Microsoft voices: ignored, whatever it is
    assert api.tts("Hi", voice=_voice(api, 1), source=1, volume=1000)["code"] == "200"


@pytest.mark.emulator(strict=False)  # values the provider refuses, on purpose
def test_tts_validation(api: Api) -> None:
    assert api.tts("Hi", voice="nobody")["code"] == "10009"
    assert api.tts("Hi", voice="zhida", source=4)["code"] == "10009"  # wrong source for that voice
    assert api.tts("Hi", languageId="123")["code"] == "10009"
    assert api.tts("   ")["code"] == "10002"
    assert api.tts("x" * 5001)["code"] == "10002"
    assert api.tts("Hi", source=2)["code"] == "10002"
    assert api.tts("Hi", voiceClone=1)["code"] == "10009"  # no cloned voices exist
    assert api.tts("Hi", styleId="cheerful")["code"] == "10002"  # zhida has no styles
    styled = api.ok("/voice/v3/getVoiceList", {"pageIndex": 1, "pageSize": 1, "language": "Chinese",
                                               "voiceClone": 0, "voiceSource": 1})["data"][0]
    assert styled["voiceStyles"]
    assert api.tts("Hi", voice=styled["voiceId"], source=1, styleId=styled["voiceStyles"][0]["styleId"])["code"] == "200"
    api.next_second()
    assert api.post("/voice/v3/textToSpeech", {"languageId": MANDARIN, "voiceId": "zhida", "voiceSource": 3,
                                               "voiceClone": 0})["code"] == "10002"  # no content
    assert api.balance() != "100000.00"


@pytest.mark.parametrize("content", ["Hi", "Hello there", "好", "Okay, go!"])
def test_short_speech_reported_as_one_second_feeds_a_video(api: Api, kr, content: str) -> None:
    """textToSpeech reports `duration` 1 for speech under a second; that audio meets the 1-600 s
    rule, as the provider counts it (whole seconds, half up): its own output is never refused."""
    tts = api.tts(content)["data"]["textToSpeech"]
    assert tts["duration"] == 1
    real = probe(api.http.get(tts["audioUrl"]).content).duration
    assert 0.4 < real < 1.0  # a sub-second file, as the issue saw (0.82 s)
    r = api.system_task(audio={"audioUrl": tts["audioUrl"], "audioId": tts["fileId"]})
    assert r["code"] == "200", r
    lip = api.lip_task(audio=tts["audioUrl"])
    assert lip["code"] == "200", lip
    kr.control.advance(60)
    video = api.ok("/video/v3/list", {"pageIndex": 1, "pageSize": 1})["data"][0]
    assert video["status"] == 3 and video["audioDuration"] == "00:00:01"
    assert abs(probe(api.http.get(video["videoUrl"]).content).duration - real) < 0.35


def test_audio_length_counts_in_whole_seconds(api: Api, kr) -> None:
    media = kr.emulator.backend.state.media  # what the emulator "downloads" (fixtures/kreado/media.yaml)
    for seconds, code in ((0.4, "10004"), (0.5, "200"), (600.49, "200"), (600.5, "10004")):
        url = f"https://media.emulator.test/audio-{seconds}.mp3"
        with kr.emulator.lock:
            media[url] = {"format": "mp3", "size": 8192, "duration": seconds}
        assert api.system_task(audio_url=url)["code"] == code, seconds
