"""How the state file writes: one transaction per turn of the event loop, each record written
once per transaction as it was last, rows in the order the live tables grew, a WAL that stays
small under sustained writes, and version-2 files carried over."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from emulators.engine.db import VERSION, Database
from emulators.engine.store import ABSENT, until_saved


def _rows(path: Path) -> list[tuple[str, str, bytes]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT tbl, key, data FROM records ORDER BY id").fetchall()


def _loaded(path: Path, prefix: str = "p") -> list[tuple[str, str, Any]]:
    db = Database(path).open()
    try:
        return list(db.rows(prefix))
    finally:
        db.close()


def test_units_of_one_loop_turn_are_one_transaction_with_each_record_as_last_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.db"
    db = Database(path).open()
    commits: list[int] = []
    real_commit = db._commit

    def counting(conn: sqlite3.Connection, queued: list[tuple[str, Any]]) -> None:
        commits.append(len(queued))
        real_commit(conn, queued)

    monkeypatch.setattr(db, "_commit", counting)

    async def requests() -> None:
        futures = [db.write([("p:accounts", "alice", {"credits": 100 - n}), ("p:jobs", f"job-{n}", {"n": n})])
                   for n in range(10)]
        assert len({id(f) for f in futures}) == 1  # one batch, one future
        assert not futures[0].done()  # nothing is committed before the turn's handlers have run
        await until_saved(futures[-1])

    asyncio.run(requests())
    db.close()
    assert commits == [10]
    rows = _rows(path)
    assert [r[1] for r in rows] == ["alice"] + [f"job-{n}" for n in range(10)]
    assert rows[0][2] == b'{"credits":91}'  # the last of ten writes of alice, written once


def test_a_record_deleted_and_written_again_in_one_batch_moves_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = Database(path).open()
    db.write([("p:t", "a", 1), ("p:t", "b", 2), ("p:t", "c", 3)])  # no loop: committed at once

    async def batch() -> None:
        db.write([("p:t", "a", ABSENT)])
        db.write([("p:t", "d", 4)])
        await until_saved(db.write([("p:t", "a", 5), ("p:t", "c", ABSENT)]))

    asyncio.run(batch())
    db.close()
    # a live dict after the same steps: {"b": 2, "d": 4, "a": 5}
    assert _loaded(path) == [("t", "b", 2), ("t", "d", 4), ("t", "a", 5)]
    db = Database(path).open()
    list(db.rows("p"))
    db.write([("p:t", "b", 20), ("p:t", "e", 6)])  # known rows are updated in place, new ones added
    db.close()
    assert _loaded(path) == [("t", "b", 20), ("t", "d", 4), ("t", "a", 5), ("t", "e", 6)]


def test_a_failed_transaction_leaves_no_row_and_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = Database(path).open()
    db.write([("p:t", "a", 1)])
    failed = db.write([("p:t", "a", 10), ("p:t", "new", 2), ("p:t", "bad", object())])  # cannot be encoded
    assert isinstance(failed.exception(), TypeError)
    db.write([("p:t", "new", 3)])  # written once, as a new row: the failed batch left no row id behind
    db.close()
    assert _loaded(path) == [("t", "a", 1), ("t", "new", 3)]


def test_the_wal_stays_small_under_sustained_writes(tmp_path: Path) -> None:
    """A checkpoint on another connection never caught up with a writer that never paused,
    and the WAL grew by every page written (730 MB in 10 s of createTask)."""
    path = tmp_path / "s.db"
    db = Database(path).open()
    blob = "x" * 3000  # about a page per record
    for n in range(6000):
        db.write([("p:t", f"k{n}", blob)])
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size < 8 * 2**20, wal.stat().st_size  # 6,000 pages written: 24 MB unbounded
    db.close()
    assert len(_loaded(path)) == 6000


def test_a_version_2_file_is_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:  # what version 2 wrote
        conn.executescript("""
            CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE records (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, key TEXT NOT NULL,
                                  data TEXT NOT NULL, UNIQUE (tbl, key));
            INSERT INTO meta VALUES ('format', 'provider-emulators state'), ('version', '2');
            INSERT INTO records (tbl, key, data) VALUES ('p:t', 'a', '1'), ('p:t', 'b', '2');
        """)
    db = Database(path).open()
    assert list(db.rows("p")) == [("t", "a", 1), ("t", "b", 2)]
    db.write([("p:t", "a", 10), ("p:t", "c", 3)])
    db.close()
    assert _loaded(path) == [("t", "a", 10), ("t", "b", 2), ("t", "c", 3)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name = 'version'").fetchone() == (str(VERSION),)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'").fetchone() == (0,)


def test_number_keys_read_back_as_text_still_find_their_rows(tmp_path: Path) -> None:
    """A ledger's keys are numbers in the live table and text in the file."""
    path = tmp_path / "s.db"
    db = Database(path).open()
    db.write([("p:ledger", 1, "one"), ("p:ledger", 2, "two"), ("p:ledger", 3, "three")])
    db.close()
    db = Database(path).open()
    assert [key for _, key, _ in db.rows("p")] == ["1", "2", "3"]
    db.write([("p:ledger", 2, "TWO"), ("p:ledger", 3, ABSENT), ("p:ledger", 4, "four")])
    db.write([("p:ledger", 2, "Two")])
    db.close()
    assert _loaded(path) == [("ledger", "1", "one"), ("ledger", "2", "Two"), ("ledger", "4", "four")]
