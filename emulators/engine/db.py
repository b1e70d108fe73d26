"""`--state-file PATH`: every emulator's state in one SQLite database, written through.

Each record of each table of each emulator is one row (`tbl` = "<provider>:<table>", `key`,
`data` = the record as JSON). A unit of work's dirty set is queued, and its response is sent
once it is committed (a response that only reads waits for what is already queued: nothing is
shown that is not saved). So a `kill -9` loses nothing that was acknowledged, and a save costs
the size of the change, never of the whole state.

Group commit on the event loop: the first unit queued in a turn of the loop schedules one
commit for after the handlers that are ready in that turn; it writes all of them in one
transaction (a record changed by several units written once, as it was last), and every unit
of it waits on that one batch's future. A writer thread did this off the loop before, but
handing each batch to it and back (the GIL passed between two threads, a wake-up each way)
cost more than SQLite's part, which is about 15 us per kie createTask. With the row ids kept in
memory (see `_rowids`), a createTask with the state file went from 0.40 of its in-memory
throughput to 0.62-0.77. Without a running loop (start-up, a test's thread) a write commits at
once.

WAL mode with `synchronous=NORMAL`: a commit survives the death of the process (not of the
machine) without an fsync per request. The writing connection checkpoints the WAL every 1,000
pages; a checkpoint on another connection never catches up with a writer that never pauses,
and the WAL then grows without end (730 MB in 10 s of createTask at full speed).

Uploaded bytes live beside the database in `<PATH>.blobs/`, content-addressed; at start, blobs
that no record references and unfinished upload fragments are removed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from emulators.engine.store import ABSENT, Row, Saved

FORMAT = "provider-emulators state"
# Version 1 was a JSON document (provider-emulators 0.1). Version 2 had a unique index on
# (tbl, key); version 3 has none (see Database._rowids) and is migrated to from 2 on open.
VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,             -- insertion order: tables load in the order they grew
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL
);
"""
_INSERT = "INSERT INTO records (id, tbl, key, data) VALUES (?, ?, ?, ?)"
_UPDATE = "UPDATE records SET data = ? WHERE id = ?"
_DELETE = "DELETE FROM records WHERE id = ?"


log = logging.getLogger("emulators")


class StateFileError(Exception):
    """The state file cannot be used; the message names it and says what to do (one line)."""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.blob_dir = path.with_name(path.name + ".blobs")
        self._lock = threading.RLock()  # the connection (whoever commits, and start-up reads)
        self._conn: sqlite3.Connection | None = None
        # Queued (kind, payload) in order, kind "write" (rows) or "replace"; the future of the
        # batch they will be committed in (None while nothing is queued), and the event loops
        # that have a commit of it scheduled
        self._queued = threading.Lock()
        self._queue: list[tuple[str, Any]] = []
        self._batch: Saved | None = None
        self._batch_loops: list[asyncio.AbstractEventLoop] = []
        self._tail: Saved | None = None  # the future of the last thing queued
        # The row of each record: "<provider>:<table>" -> key (as text) -> row id. An index on
        # (tbl, key) in the file did the same, but job and task ids are random, so each new
        # record dirtied a page of it at a random place: 2.5 pages written per createTask
        # instead of 0.5, and three quarters of the commit's time. About 50 bytes a record
        # (100k kie jobs: 924 B per job with the state file, 670 B without).
        self._rowids: dict[str, dict[str, int]] = {}
        self._next_id = 1

    # -- opening ---------------------------------------------------------------------------------
    def open(self) -> Database:
        path = self.path
        if path.exists():
            _check_header(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._check(conn)  # before anything is written: a refused file stays as it was
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=1000")  # pages; run by the writer, see above
            conn.executescript(_SCHEMA)
            if not conn.execute("SELECT 1 FROM meta").fetchone():
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))])
            self._migrate(conn)
            self._next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM records").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"{path}: damaged or not a SQLite database ({exc}); move it away and "
                                 "start afresh, or restore a copy") from None
        self._conn = conn
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        return self

    def _check(self, conn: sqlite3.Connection) -> None:
        path = self.path
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise sqlite3.DatabaseError(ok)
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not existing:
            return  # a new file
        if "meta" not in existing or "records" not in existing:
            raise StateFileError(f"{path}: a SQLite database that is not an emulators state file; "
                                 "give --state-file a new path")
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise StateFileError(f"{path}: not an emulators state file; give --state-file a new path")
        if meta.get("version") not in (str(VERSION), "2"):  # 2: migrated by _migrate
            raise StateFileError(
                f"{path}: state file version {meta.get('version')} is not this version's ({VERSION}); "
                "move it away (or use the release that wrote it) and start afresh")

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Version 2 -> 3: the same rows in a table without the unique index (one transaction)."""
        if conn.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()[0] != "2":
            return
        conn.execute("BEGIN")
        try:
            conn.execute("CREATE TABLE records_v3 (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, key TEXT NOT NULL, "
                         "data TEXT NOT NULL)")
            conn.execute("INSERT INTO records_v3 SELECT id, tbl, key, data FROM records")
            conn.execute("DROP TABLE records")
            conn.execute("ALTER TABLE records_v3 RENAME TO records")
            conn.execute("UPDATE meta SET value = ? WHERE name = 'version'", (str(VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Writes what is queued, then closes."""
        self.flush()
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass
                self._conn.close()
                self._conn = None

    # -- the sink of a store -----------------------------------------------------------------------
    def write(self, rows: list[Row]) -> Future[None]:
        """Queues one unit of work's changes; the future is done once they are committed."""
        return self._enqueue("write", rows)

    def replace(self, prefix: str, rows: Iterable[Row]) -> Future[None]:
        """Queues every record of one emulator at once (after a reset or a restore)."""
        return self._enqueue("replace", (prefix, list(rows)))

    def pending(self) -> Future[None] | None:
        """The last queued change while it is not yet committed (a reader waits for it)."""
        tail = self._tail
        return tail if tail is not None and not tail.done() else None

    def flush(self, timeout: float | None = None) -> None:
        """Commits everything queued so far, here and now (raises what the commit raised)."""
        self.commit_queued()
        tail = self._tail
        if tail is not None:
            tail.result(timeout)

    def _enqueue(self, kind: str, payload: Any) -> Saved:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._queued:
            if self._conn is None:
                raise RuntimeError("the state file is closed")
            self._queue.append((kind, payload))
            batch = self._batch
            if batch is None:
                batch = self._batch = self._tail = Saved()
                self._batch_loops = []
            schedule = loop is not None and loop not in self._batch_loops
            if schedule:
                self._batch_loops.append(loop)  # type: ignore[arg-type]
        if loop is None:
            self.commit_queued()  # no loop to run a group commit: now
        elif schedule:  # after the handlers that are ready in this turn of the loop
            loop.call_soon(self.commit_queued)
        return batch

    def commit_queued(self) -> None:
        """Commits everything queued, in one transaction, and completes its batch's future
        (whoever gets here first takes everything; the others find nothing left)."""
        with self._lock:
            with self._queued:
                queued, self._queue = self._queue, []
                batch, self._batch = self._batch, None
            if batch is None:
                return
            try:
                self._commit(self._connection(), queued)
            except Exception as exc:
                log.exception("writing the state file %s", self.path)
                batch.set_exception(exc)
                return
        batch.set_result(None)

    def _commit(self, conn: sqlite3.Connection, queued: list[tuple[str, Any]]) -> None:
        """One transaction. A record written by several units of the batch is written once, as
        the last of them left it (in a busy emulator, an account and its rate window are
        written by every request). A new record gets the next row id, so inserts fill the
        file's last page. On failure the row ids are as before."""
        rowids, next_id = self._rowids, self._next_id
        undo: list[tuple[dict[str, int], str, int | None]] = []  # (table's ids, key, id before)
        last: dict[tuple[str, Any], Any] = {}  # (table, key) -> the record as last written
        # Deleted in the batch: deleted first, so that a record deleted and written again gets
        # a new row at the end, where the live table has it too (tables load in row order).
        deleted: set[tuple[str, Any]] = set()

        def forget(ids: dict[str, int], key: str) -> int | None:
            row_id = ids.pop(key, None)
            undo.append((ids, key, row_id))
            return row_id

        def write_last() -> None:
            nonlocal next_id
            drop = []
            for tbl, key in deleted:
                row_id = forget(rowids.setdefault(tbl, {}), _key(key))
                if row_id is not None:
                    drop.append((row_id,))
            if drop:
                conn.executemany(_DELETE, drop)
            inserts, updates = [], []
            for (tbl, key), data in last.items():
                ids = rowids.get(tbl)
                if ids is None:
                    ids = rowids[tbl] = {}
                text = _key(key)
                row_id = ids.get(text)
                if row_id is None:
                    undo.append((ids, text, None))
                    ids[text] = next_id
                    inserts.append((next_id, tbl, text, _encode(data)))
                    next_id += 1
                else:
                    updates.append((_encode(data), row_id))
            if inserts:
                conn.executemany(_INSERT, inserts)
            if updates:
                conn.executemany(_UPDATE, updates)
            last.clear()
            deleted.clear()

        conn.execute("BEGIN")
        try:
            for kind, payload in queued:
                if kind == "replace":
                    write_last()  # what came before the replacement, in order
                    prefix, rows = payload
                    conn.execute("DELETE FROM records WHERE tbl >= ? AND tbl < ?", (prefix + ":", prefix + ";"))
                    for tbl in [t for t in rowids if t.startswith(prefix + ":")]:
                        for key in list(rowids[tbl]):
                            forget(rowids[tbl], key)
                    for tbl, key, data in rows:
                        if data is not ABSENT:
                            last[tbl, key] = data
                    write_last()
                    continue
                for tbl, key, data in payload:
                    if data is ABSENT:
                        deleted.add((tbl, key))
                        last.pop((tbl, key), None)
                    else:
                        last[tbl, key] = data
            write_last()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            for ids, key, row_id in reversed(undo):
                if row_id is None:
                    ids.pop(key, None)
                else:
                    ids[key] = row_id
            raise
        self._next_id = next_id

    def has(self, prefix: str) -> bool:
        with self._lock:
            row = self._connection().execute(
                "SELECT 1 FROM records WHERE tbl >= ? AND tbl < ? LIMIT 1", (prefix + ":", prefix + ";")).fetchone()
        return row is not None

    def rows(self, prefix: str) -> Iterator[tuple[str, str, Any]]:
        """(table name without the prefix, key, decoded record) in insertion order, streamed
        (100k jobs are loaded without holding every row at once)."""
        cut = len(prefix) + 1
        last = 0
        while True:
            with self._lock:  # taken per batch: a reader that stops half-way holds nothing
                batch = self._connection().execute(
                    "SELECT id, tbl, key, data FROM records WHERE tbl >= ? AND tbl < ? AND id > ? "
                    "ORDER BY id LIMIT 2000", (prefix + ":", prefix + ";", last)).fetchall()
            if not batch:
                return
            for row_id, tbl, key, data in batch:
                try:
                    value = orjson.loads(data)
                except ValueError:
                    raise StateFileError(f"{self.path}: a record of {tbl} is damaged; move the file away "
                                         "and start afresh, or restore a copy") from None
                ids = self._rowids.get(tbl)
                if ids is None:
                    ids = self._rowids[tbl] = {}
                ids[key] = row_id
                yield tbl[cut:], key, value
                last = row_id

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the state file is closed")
        return self._conn

    # -- attaching emulators ---------------------------------------------------------------------
    def attach(self, emulators: Iterable[Any]) -> None:
        """Loads each emulator's state from the file (or writes its seed there, the first time),
        then writes every later change through."""
        for em in emulators:
            prefix = em.provider.id
            if self.has(prefix):
                try:
                    em.load_rows(self.rows(prefix))
                except (ValueError, TypeError, KeyError) as exc:
                    raise StateFileError(f"{self.path}: the {prefix} state does not fit this version ({exc}); "
                                         "move the file away and start afresh") from None
            else:
                self.replace(prefix, em.store.rows()).result()
            em.store.sink = self
        self.clean_blobs(self.referenced_blobs())

    def referenced_blobs(self) -> set[str]:
        """The blobs a file record of any provider in the file points at."""
        with self._lock:
            found = self._connection().execute(
                "SELECT data FROM records WHERE tbl LIKE '%:engine.files'").fetchall()
        digests = set()
        for (data,) in found:
            try:
                digest = orjson.loads(data).get("sha256")
            except (ValueError, AttributeError):
                continue
            if isinstance(digest, str):
                digests.add(digest)
        return digests

    # -- blobs -----------------------------------------------------------------------------------
    def clean_blobs(self, referenced: set[str]) -> int:
        """Removes upload fragments and blobs no record references; returns how many."""
        removed = 0
        for path in self.blob_dir.rglob("*"):
            if not path.is_file():
                continue
            if path.suffix == ".part" or ".tmp" in path.name or path.name not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _encode(data: Any) -> bytes:
    """A record as JSON (orjson: several times the speed of json on 100k-job files)."""
    try:
        return orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits, say
        return json.dumps(data).encode()


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(key)


def _check_header(path: Path) -> None:
    """Tells an empty file or a JSON document (0.1's state files) from a SQLite database."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise StateFileError(f"{path}: the state file is empty (an interrupted copy?); delete it to start "
                             "afresh, or restore a copy")
    if head.lstrip()[:1] == b"{":
        raise StateFileError(f"{path}: a JSON state file from an older version; move it away to start "
                             "afresh (its content can still be restored with PUT /_emulator/state, "
                             "one provider at a time)")
