"""`--state-file`: a SQLite database written through before every response.

`kill -9` in the middle of concurrent paid requests and uploads, twenty times over: everything
acknowledged is there after the restart, nothing is counted twice, the database opens cleanly.
Broken state files give one line naming the file and what to do (exit 2), never a traceback.
"""
from __future__ import annotations

import io
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.media.audio import synthesize
from tests.processes import free_port, serve, stop, wait_until_healthy

AUTH = {"Authorization": "Bearer test-token"}
VOICE = "clsys00000000000000000001"
SEEDED = 150_000  # test-token: 100,000 regular + 50,000 permanent credits
CLONE_PRICE = 1000
SAMPLE = synthesize("a short sample of a voice to clone", "wav")


class Server:
    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = serve("voiceclone", "--port", str(self.port), "--state-file", str(state), "--quiet")
        wait_until_healthy(self.base + "/_emulator/health", self.proc)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=10)


class Load:
    """Clients that make speeches and clone voices until told to stop, keeping what was
    acknowledged (a 200 whose body arrived)."""

    def __init__(self, base: str, workers: int = 4) -> None:
        self.base = base
        self.speeches: list[str] = []
        self.voices: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(workers)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=10)

    def _work(self, n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=self.base, headers=AUTH, timeout=5) as client:
            while not self.stopping.is_set():
                try:
                    if rng.random() < 0.2:
                        r = client.post("/api/v1/voice-clone", files={"voice": ("v.wav", io.BytesIO(SAMPLE), "audio/wav")},
                                        data={"title": f"voice {n}"})
                        if r.status_code == 200:
                            self.voices.append(r.json()["voiceId"])
                    else:
                        r = client.post("/api/v1/tts", json={"text": "x" * rng.randint(1, 40), "voiceId": VOICE})
                        if r.status_code == 200:
                            self.speeches.append(r.json()["speechId"])
                except httpx.HTTPError:  # the server died under us: whatever was not answered is not ours
                    return


def _check_consistent(base: str, speeches: list[str], voices: list[str]) -> None:
    state = httpx.get(base + "/_emulator/state").json()
    stored_speeches = state["backend"]["speeches"]
    stored_voices = {k: v for k, v in state["backend"]["voices"].items() if v["owner"] == "test-token"}
    missing = [s for s in speeches if s not in stored_speeches] + [v for v in voices if v not in stored_voices]
    assert not missing, f"acknowledged but lost: {missing[:5]}"
    charges = [e for e in state["engine"]["ledger"].values() if e["kind"] == "charge"]
    refs = [e["ref"] for e in charges]
    assert len(refs) == len(set(refs)), "a charge was counted twice"
    assert set(refs) == set(stored_speeches) | set(stored_voices), "every charge is a stored job and back"
    spent = sum(s["creditsUsed"] for s in stored_speeches.values()) + CLONE_PRICE * len(stored_voices)
    credits = httpx.get(base + "/api/v1/credits", headers=AUTH).json()["credits"]
    assert credits == SEEDED - spent
    for voice in voices[-3:]:  # uploads: the bytes are served again
        audio = stored_voices[voice]["audioFile"]
        assert httpx.get(f"{base}/files/{audio}").content == SAMPLE


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    speeches: list[str] = []
    voices: list[str] = []
    rng = random.Random(7)
    for cycle in range(20):
        server = Server(state)
        if cycle == 0:  # the load, not the rate limit, is the point here
            httpx.put(server.base + "/_emulator/accounts/test-token", json={"rateLimit": 10**9})
        _check_consistent(server.base, speeches, voices)
        with Load(server.base) as load:
            time.sleep(rng.uniform(0.15, 0.5))
            # A slow, busy machine may not have answered anything yet: give the load a few
            # acknowledgements per cycle (or 10 s), so that every kill lands among real writes.
            deadline = time.monotonic() + 10
            while len(load.speeches) + len(load.voices) < 6 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill()  # mid-load: requests are in flight
        speeches += load.speeches
        voices += load.voices
        with sqlite3.connect(state) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(speeches) > 100 and voices, "the load really ran"
    server = Server(state)
    try:
        _check_consistent(server.base, speeches, voices)
    finally:
        server.kill()


def test_only_the_change_is_written_and_a_restart_reads_it_back(tmp_path: Path) -> None:
    """Rows of the database are records: a request rewrites the rows it changed, no others."""
    state = tmp_path / "state.db"
    server = Server(state)
    try:
        httpx.post(server.base + "/api/v1/tts", headers=AUTH, json={"text": "hello", "voiceId": VOICE})
        with sqlite3.connect(state) as conn:
            before = dict(((t, k), d) for t, k, d in conn.execute("SELECT tbl, key, data FROM records"))
        r = httpx.post(server.base + "/api/v1/tts", headers=AUTH, json={"text": "again", "voiceId": VOICE})
        with sqlite3.connect(state) as conn:
            after = dict(((t, k), d) for t, k, d in conn.execute("SELECT tbl, key, data FROM records"))
    finally:
        stop(server.proc)
    changed = {k for k in after if before.get(k) != after[k]}
    speech = r.json()["speechId"]
    assert changed == {("voiceclone:backend.speeches", speech), ("voiceclone:engine.jobs", speech),
                       ("voiceclone:backend.accounts", "test-token"), ("voiceclone:backend.voices", VOICE),
                       ("voiceclone:engine.ledger", str(int(max(k for t, k in before if t.endswith("ledger"))) + 1)),
                       ("voiceclone:engine.rate_windows", "test-token|*")} | {
        k for k in changed if k[0] == "voiceclone:engine.files"}
    assert len([k for k in changed if k[0] == "voiceclone:engine.files"]) == 1


def _run_serve(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulators.cli", "serve", "voiceclone", "--port",
                           str(free_port()), "--state-file", str(state)], capture_output=True, text=True,
                          timeout=30)


def _checkpoint(state: Path) -> None:
    """Moves the WAL into the file itself, so that its bytes are the whole database."""
    with sqlite3.connect(state) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _valid_database(tmp_path: Path) -> Path:
    state = tmp_path / "good.db"
    server = Server(state)
    httpx.post(server.base + "/api/v1/tts", headers=AUTH, json={"text": "hello", "voiceId": VOICE})
    stop(server.proc)
    return state


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "older JSON version", "other sqlite",
                                    "newer version", "damaged record"])
def test_a_broken_state_file_is_one_line_and_exit_2(tmp_path: Path, damage: str) -> None:
    state = tmp_path / "state.db"
    if damage == "empty":
        state.write_bytes(b"")
    elif damage == "truncated":
        good = _valid_database(tmp_path).read_bytes()
        state.write_bytes(good[: len(good) // 2 + 100])
    elif damage == "garbage":
        state.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(8192)))
    elif damage == "older JSON version":
        state.write_text(json.dumps({"voiceclone": {"provider": "voiceclone"}}))
    elif damage == "other sqlite":
        with sqlite3.connect(state) as conn:
            conn.execute("CREATE TABLE t (x)")
    elif damage == "newer version":
        state = _valid_database(tmp_path)
        with sqlite3.connect(state) as conn:
            conn.execute("UPDATE meta SET value = '99' WHERE name = 'version'")
        _checkpoint(state)
    elif damage == "damaged record":
        state = _valid_database(tmp_path)
        with sqlite3.connect(state) as conn:
            conn.execute("UPDATE records SET data = '{\"token\": 5}' WHERE tbl = 'voiceclone:backend.accounts'")
        _checkpoint(state)
    before = state.read_bytes()
    r = _run_serve(state)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(state) in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert any(word in lines[0] for word in ("move it away", "delete it", "new path", "start afresh"))
    assert state.read_bytes() == before, "a broken state file is never reset silently"


def test_unreferenced_blobs_and_fragments_are_cleaned_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    server = Server(state)
    r = httpx.post(server.base + "/api/v1/voice-clone", headers=AUTH,
                   files={"voice": ("v.wav", io.BytesIO(SAMPLE), "audio/wav")})
    kept = r.json()["voice"]["audioUrl"]
    stop(server.proc)
    blobs = tmp_path / "state.db.blobs"
    orphan = blobs / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"nobody points here")
    fragment = blobs / "tmpupload.part"
    fragment.write_bytes(b"half an upload")
    server = Server(state)
    try:
        assert not orphan.exists() and not fragment.exists()
        assert httpx.get(kept.replace(kept.split("/files/")[0], server.base)).content == SAMPLE
    finally:
        stop(server.proc)
