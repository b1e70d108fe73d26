"""KreadoAI as a state machine: textToSpeech, lip-sync tasks (own video, system and custom
avatars), subtitle removal, photo avatar and instant clone uploads by three tokens, on a clock that crosses task
phases and the one-second windows of every endpoint. See machinery.py for the checks every
provider shares; here besides:
- a task is charged its price in K-coin cents (TTS: 1.00 per started 20 characters; lip-sync:
  0.10 per started second of audio; subtitle removal: 0.20 per started second of video), or
  refused with 10017 and nothing taken; `user/v3/getInfo` shows the ledger's balance; a task
  that ends 4 (failed) or 5 (timeout) gives it back;
- per-endpoint per-second limits, with the documented cooldown: a refused request starts a
  one-second cooldown that every retry in it starts again;
- the queue caps (8 video tasks, 4 subtitle tasks waiting or in progress) answer 10019;
- a token lists only its own videos and custom avatars (once their upload succeeded); another
  token's video task (by taskId or jobId), TTS audio (by audioId) or custom avatar is 10009 /
  10020.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from emulators.media.audio import speech_duration
from emulators.providers.kreado.models import TIMEOUT_MARKER
from tests.stateful.machinery import INDEX, EmulatorMachine, Harness, RateRule, pick, run_machine

P = "/apis/open"
DOC_VIDEO = ("https://aigc-cdn.kreadoai.com/digitalhuman/upload_simple_clone_video/2024/11/"
             "ea634216760c4d87a0709a7d00eddc9e.mp4")  # media.yaml: 20 s
DOC_AUDIO = "https://aigc-cdn.kreadoai.com/digitalhuman/audio/2024/11/2b150387595c4efba35db553740cb47a.mp3"  # 16 s
DOC_SUBTITLE_VIDEO = "https://aigc-cdn.kreadoai.com/web_static/image/videoSubtitleRemove/sy.mp4"  # 7 s
DOC_PHOTO = "https://cdn.pixabay.com/video/2021/06/24/78732-567321517_medium.jpg"
CLONE_VIDEO = ("https://aigc-cdn.kreadoai.com/digitalhuman/upload_simple_clone_video/2024/12/"
               "a3389d0323cb4f948a9d68f71062efeb.mp4")  # media.yaml: 30 s, 1080x1920
MANDARIN = "1767068435675340832"
SYSTEM_AVATAR = 9
TEXTS = ("你好", "Hello there, this is a test of the machine.", "x" * 61)
ACCOUNTS = {"alice": "30.00", "bob": "4.50", "carol": "12.00"}
MARKERS = ("", "EMULATOR_FAIL", TIMEOUT_MARKER)


class KreadoMachine(EmulatorMachine):
    failure_states = (4, 5)
    drop_keys = frozenset({"requestId"})
    audit_reads = False  # see test_kreado_machine

    def setup(self) -> None:
        self.m.extra.update(audios=[], avatars={})  # [audioUrl, fileId, owner, seconds]; avatar id -> [owner, job id]
        self.names = {e.path: e.name for e in self.em.provider.endpoints}
        self.limits = self.em.backend.state.settings.limits
        for token, balance in ACCOUNTS.items():  # members for longer than any run's clock travels
            self.seed_account(token, {"balance": balance, "vipExpireTime": "2099-01-01 00:00:00"})

    def auth(self, token: str | None) -> dict[str, str]:
        return {"apiToken": token} if token else {}

    def pools_of(self, view: dict[str, Any]) -> dict[str, int]:
        whole, cents = view["balance"].split(".")
        return {"kcoin": int(whole) * 100 + int(cents)}

    def top_up_fields(self, token: str, amount: int) -> dict[str, Any] | None:
        return {"balance": f"{amount // 100}.{amount % 100:02d}"}

    def rate_rule(self, token: str, method: str, path: str) -> RateRule | None:
        name = self.names[path]
        return RateRule(name, self.limits["per_second"][name], 1.0, extend_on_reject=True)

    def is_rate_limited(self, r: httpx.Response) -> bool:
        return r.status_code == 200 and r.json()["code"] == "429"

    def post(self, token: str, path: str, body: dict[str, Any], read: bool = False) -> httpx.Response:
        r = self.call(token, "POST", P + path, json=body, read=read)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"code", "message", "data", "requestId"}, r.text
        return r

    POLLS = {"video": "/video/v3/getLipVideoResult", "subtitle": "/subtitle_removal/v3/taskResult",
             "photo": "/avatar/v3/getUploadCustomAvatar", "clone": "/video/v3/getUploadCloneVideoStatus"}

    def poll(self, job_id: str, token: str) -> httpx.Response:
        return self.post(token, self.POLLS[self.m.jobs[job_id].kind], {"jobId": int(job_id)}, read=True)

    def status_of(self, r: httpx.Response) -> Any:
        assert r.json()["code"] == "200", r.text
        return r.json()["data"]["status"]

    def is_not_found(self, r: httpx.Response) -> bool:
        return r.json()["code"] == "10009"

    def poll_ok(self, r: httpx.Response) -> bool:
        return r.json()["code"] == "200"

    def cents(self, token: str) -> int:
        return self.expected_pools(token)["kcoin"]

    def queued(self, token: str, kind: str) -> int:
        now = self.h.now()
        return sum(1 for job_id, note in self.m.jobs.items() if note.owner == token and note.kind == kind
                   and self.em.state.jobs[job_id].state_at(now) in (1, 2))

    def expect_charge(self, r: httpx.Response, token: str, before: int, price: int, ledger_len: int,
                      queue: tuple[str, int] | None = None) -> str | None:
        """The outcome of a paid submission: refused (queue full, too poor: nothing taken) or
        charged exactly `price`; the new job id, if any."""
        code = r.json()["code"]
        if self.is_rate_limited(r):
            assert len(self.em.state.ledger) == ledger_len
            return None
        if queue is not None and self.queued(token, queue[0]) >= queue[1]:
            assert code == "10019", r.text
            assert len(self.em.state.ledger) == ledger_len
            return None
        if price > before:
            assert code == "10017", r.text
            assert len(self.em.state.ledger) == ledger_len
            return None
        assert code == "200", r.text
        if price:
            charge = list(self.em.state.ledger.values())[-1]
            assert (charge.kind, charge.token, charge.parts) == ("charge", token, {"kcoin": price})
        else:
            assert len(self.em.state.ledger) == ledger_len
        data = r.json()["data"]
        job_id = str(data["jobId"]) if "jobId" in data else None
        if job_id is not None and price:
            assert list(self.em.state.ledger.values())[-1].ref == job_id
        return job_id

    # -- rules ---------------------------------------------------------------------------------------
    @rule(token=st.sampled_from(sorted(ACCOUNTS)), content=st.sampled_from(TEXTS))
    def text_to_speech(self, token: str, content: str) -> None:
        price = math.ceil(len(content) / 20) * 100
        before, ledger_len = self.cents(token), len(self.em.state.ledger)
        r = self.post(token, "/voice/v3/textToSpeech", {"languageId": MANDARIN, "content": content,
                                                         "voiceId": "zhida", "voiceSource": 3, "voiceClone": 0})
        self.expect_charge(r, token, before, price, ledger_len)
        if r.json()["code"] == "200":
            tts = r.json()["data"]["textToSpeech"]
            assert tts["paymentMoney"] == price // 100
            self.m.extra["audios"].append([tts["audioUrl"], tts["fileId"], token, speech_duration(content)])

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), n=st.integers(2, 5))
    def subtitle_burst(self, token: str, n: int) -> None:
        """Concurrent submissions: one per second passes the limit, then the queue cap and the
        balance decide."""
        balance, queued = self.cents(token), self.queued(token, "subtitle")
        body = {"json": {"taskName": "burst", "srcFileUrl": DOC_SUBTITLE_VIDEO}}
        responses = self.call_many(token, "POST", P + "/subtitle_removal/v3/submitTask", [body] * n)
        codes = [r.json()["code"] for r in responses]
        assert set(codes) <= {"200", "429", "10017", "10019"}, codes
        paid = [r for r in responses if r.json()["code"] == "200"]
        if queued < self.limits["subtitle_queue"]:
            self.check_burst(responses, paid, balance, 140)
        else:
            assert not paid
        for r in paid:
            self.created_job(str(r.json()["data"]["jobId"]), token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), audio=INDEX, by_id=st.booleans(), marker=st.sampled_from(MARKERS))
    def submit_lip_task(self, token: str, audio: int, by_id: bool, marker: str) -> None:
        """Audio from outside, or a TTS file (anyone's URL; by audioId only one's own)."""
        url, file_id, owner, seconds = pick([[DOC_AUDIO, None, None, 16.0], *self.m.extra["audios"]], audio)
        body: dict[str, Any] = {"taskName": f"lip {marker}", "videoUrl": DOC_VIDEO, "audioUrl": url}
        if by_id and file_id is not None:
            body["audioId"] = file_id
        before, ledger_len = self.cents(token), len(self.em.state.ledger)
        r = self.post(token, "/video/v3/submitLipTask", body)
        if "audioId" in body and owner != token and not self.is_rate_limited(r):
            assert r.json()["code"] == "10009", r.text
            return
        job_id = self.expect_charge(r, token, before, math.ceil(seconds) * 10, ledger_len,
                                    ("video", self.limits["video_queue"]))
        if job_id is not None:
            self.created_job(job_id, token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), avatar=INDEX, marker=st.sampled_from(MARKERS))
    def submit_system_lip_task(self, token: str, avatar: int, marker: str) -> None:
        avatar_id = pick([SYSTEM_AVATAR, *sorted(self.m.extra["avatars"])], avatar)
        body = {"taskName": f"sys {marker}", "videoRatio": 2, "digitalHuman": {"digitalHumanId": avatar_id},
                "audio": {"audioUrl": DOC_AUDIO}}
        before, ledger_len = self.cents(token), len(self.em.state.ledger)
        r = self.post(token, "/video/v3/submitSystemLipTask", body)
        if avatar_id != SYSTEM_AVATAR and not self.is_rate_limited(r):
            owner, job_id = self.m.extra["avatars"][avatar_id]
            if owner != token or self.em.state.jobs[job_id].state_at(self.h.now()) != 3:
                assert r.json()["code"] == "10020", r.text
                assert len(self.em.state.ledger) == ledger_len
                return
        job_id = self.expect_charge(r, token, before, 160, ledger_len, ("video", self.limits["video_queue"]))
        if job_id is not None:
            self.created_job(job_id, token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), marker=st.sampled_from(MARKERS))
    def submit_subtitle_task(self, token: str, marker: str) -> None:
        before, ledger_len = self.cents(token), len(self.em.state.ledger)
        r = self.post(token, "/subtitle_removal/v3/submitTask", {"taskName": f"sub {marker}",
                                                                 "srcFileUrl": DOC_SUBTITLE_VIDEO})
        job_id = self.expect_charge(r, token, before, 140, ledger_len, ("subtitle", self.limits["subtitle_queue"]))
        if job_id is not None:
            self.created_job(job_id, token)

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), clone=st.booleans(), fail=st.booleans())
    def upload_avatar(self, token: str, clone: bool, fail: bool) -> None:
        """A photo avatar or an instant clone (free): an avatar of the token's once it succeeded."""
        marker = "?EMULATOR_FAIL" if fail else ""
        if clone:
            r = self.post(token, "/video/v3/uploadCloneVideo", {"videoUrl": CLONE_VIDEO + marker})
        else:
            r = self.post(token, "/avatar/v3/uploadAvatar", {"fileUrl": DOC_PHOTO + marker})
        job_id = self.expect_charge(r, token, self.cents(token), 0, len(self.em.state.ledger))
        if job_id is not None:
            self.created_job(job_id, token)
            avatar = self.em.backend.state.uploads[job_id].digitalHumanId
            self.m.extra["avatars"][avatar] = [token, job_id]

    @rule(token=st.sampled_from(sorted(ACCOUNTS)))
    def list_videos(self, token: str) -> None:
        r = self.post(token, "/video/v3/list", {"pageIndex": 1, "pageSize": 500}, read=True)
        if self.is_rate_limited(r):
            return
        assert r.json()["code"] == "200", r.text
        listed = {t["taskId"] for t in r.json()["data"]["data"]}
        own = {task.taskId for job_id, task in self.em.backend.state.videos.items() if self.m.jobs[job_id].owner == token}
        assert listed == own

    @rule(token=st.sampled_from(sorted(ACCOUNTS)), clone=st.booleans())
    def list_custom_avatars(self, token: str, clone: bool) -> None:
        r = self.post(token, "/avatar/v3/list", {"cloneDigitalHuman": int(clone), "supportTypeId": 101 if clone else 100,
                                                  "pageIndex": 1, "pageSize": 500}, read=True)
        if self.is_rate_limited(r):
            return
        assert r.json()["code"] == "200", r.text
        listed = {a["digitalHumanId"] for a in r.json()["data"]["data"]}
        now = self.h.now()
        for avatar_id, (owner, job_id) in self.m.extra["avatars"].items():
            if (self.m.jobs[job_id].kind == "clone") != clone:
                continue
            usable = owner == token and self.em.state.jobs[job_id].state_at(now) == 3
            assert (avatar_id in listed) == usable, f"{token} lists {avatar_id} of {owner}: {usable}"

    @precondition(lambda self: bool(self.em.backend.state.videos))
    @rule(token=st.sampled_from(sorted(ACCOUNTS)), index=INDEX)
    def video_detail(self, token: str, index: int) -> None:
        """A video task by its (small, sequential) taskId: only its owner finds it."""
        job_id = pick(sorted(self.em.backend.state.videos), index)
        task_id = self.em.backend.state.videos[job_id].taskId
        r = self.post(token, "/video/v3/detail", {"taskId": task_id}, read=True)
        if self.is_rate_limited(r):
            return
        if self.m.jobs[job_id].owner == token:
            assert r.json()["code"] == "200" and r.json()["data"]["taskId"] == task_id, r.text
            self.observe(job_id, r.json()["data"]["status"])
        else:
            assert r.json()["code"] == "10009", r.text

    @rule(token=st.sampled_from(sorted(ACCOUNTS)))
    def read_balance(self, token: str) -> None:
        r = self.call(token, "GET", P + "/user/v3/getInfo", read=True)
        if self.is_rate_limited(r):
            return
        assert r.json()["code"] == "200", r.text
        cents = self.cents(token)
        assert r.json()["data"]["balance"] == f"{cents // 100}.{cents % 100:02d}"


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness("kreado")
    yield h
    h.close()


def test_kreado_machine(harness: Harness) -> None:
    # Fewer, shorter runs, and the machine's reads unaudited: kreado's seeded catalogue makes
    # its state (every audited unit of work, every snapshot) about 30 times larger than the
    # other providers'. Submissions, uploads, the clock and forced states are still audited.
    run_machine(KreadoMachine.bind(harness), max_examples=15)
