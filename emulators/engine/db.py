"""`--state-file PATH`: every emulator's state in one SQLite database, written through.

Each record of each table of each emulator is one row (`tbl` = "<provider>:<table>", `key`,
`data` = the record as JSON). A unit of work's dirty set is handed to a writer thread, and its
response is sent once the writer has committed it (a response that only reads waits for what
is already queued: nothing is shown that is not saved). So a `kill -9` loses nothing that was
acknowledged, a save costs the size of the change, never of the whole state, and the event
loop never waits for SQLite: the writer commits whatever units are queued in one transaction
(a group commit), which is what keeps a busy emulator's throughput. WAL mode with
`synchronous=NORMAL`: a commit survives the death of the process (not of the machine) without
an fsync per request; checkpoints run on a thread of their own.

Uploaded bytes live beside the database in `<PATH>.blobs/`, content-addressed; at start, blobs
that no record references and unfinished upload fragments are removed.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from emulators.engine.store import ABSENT, Row

FORMAT = "provider-emulators state"
VERSION = 2  # version 1 was a JSON document (provider-emulators 0.1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,             -- insertion order: tables load in the order they grew
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (tbl, key)
);
"""
_UPSERT = ("INSERT INTO records (tbl, key, data) VALUES (?, ?, ?) "
           "ON CONFLICT (tbl, key) DO UPDATE SET data = excluded.data")
_DELETE = "DELETE FROM records WHERE tbl = ? AND key = ?"


log = logging.getLogger("emulators")


class StateFileError(Exception):
    """The state file cannot be used; the message names it and says what to do (one line)."""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.blob_dir = path.with_name(path.name + ".blobs")
        self._lock = threading.Lock()  # the connection: the writer thread's, and startup reads
        self._conn: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        # The writer: queued (kind, payload, future) in order; kind "write" (rows) or "replace"
        self._queue: list[tuple[str, Any, Future[None]]] = []
        self._queued = threading.Condition()
        self._writer: threading.Thread | None = None
        self._tail: Future[None] | None = None  # the last thing queued

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
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
            conn.executescript(_SCHEMA)
            if not conn.execute("SELECT 1 FROM meta").fetchone():
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))])
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"{path}: damaged or not a SQLite database ({exc}); move it away and "
                                 "start afresh, or restore a copy") from None
        self._conn = conn
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._checkpointer = threading.Thread(target=self._checkpoint_forever, name="state-checkpoint",
                                              daemon=True)
        self._checkpointer.start()
        self._writer = threading.Thread(target=self._write_forever, name="state-writer", daemon=True)
        self._writer.start()
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
        if meta.get("version") != str(VERSION):
            raise StateFileError(
                f"{path}: state file version {meta.get('version')} is not this version's ({VERSION}); "
                "move it away (or use the release that wrote it) and start afresh")

    def close(self) -> None:
        """Writes what is queued, then closes."""
        self.flush()
        self._stop.set()
        with self._queued:
            self._queued.notify_all()
        if self._writer is not None:
            self._writer.join(timeout=30)
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass
                self._conn.close()
                self._conn = None

    def _checkpoint_forever(self) -> None:
        """Copies the WAL into the database now and then, off the event loop (its own
        connection: a checkpoint does not take the writers' lock)."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(2.0):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass
        finally:
            conn.close()

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
        """Waits until everything queued so far is committed (raises what the writer raised)."""
        tail = self._tail
        if tail is not None:
            tail.result(timeout)

    def _enqueue(self, kind: str, payload: Any) -> Future[None]:
        future: Future[None] = Future()
        with self._queued:
            if self._writer is None or not self._writer.is_alive():
                raise RuntimeError("the state file is closed")
            self._queue.append((kind, payload, future))
            self._tail = future
            self._queued.notify()
        return future

    def _write_forever(self) -> None:
        """The writer thread: everything queued meanwhile in one transaction (a group commit);
        each unit's future is done when its transaction is."""
        while True:
            with self._queued:
                while not self._queue and not self._stop.is_set():
                    self._queued.wait()
                batch, self._queue = self._queue, []
            if not batch:
                return  # stopped, nothing left
            try:
                with self._lock:
                    self._commit(self._connection(), batch)
            except BaseException as exc:
                log.exception("writing the state file %s", self.path)
                for _, _, future in batch:
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                continue
            for _, _, future in batch:
                future.set_result(None)

    @staticmethod
    def _commit(conn: sqlite3.Connection, batch: list[tuple[str, Any, Future[None]]]) -> None:
        conn.execute("BEGIN")
        try:
            for kind, payload, _ in batch:
                if kind == "replace":
                    prefix, rows = payload
                    conn.execute("DELETE FROM records WHERE tbl >= ? AND tbl < ?", (prefix + ":", prefix + ";"))
                    conn.executemany(_UPSERT, [(tbl, _key(key), _encode(data)) for tbl, key, data in rows
                                               if data is not ABSENT])
                    continue
                deletes = [(tbl, _key(key)) for tbl, key, data in payload if data is ABSENT]
                if deletes:
                    conn.executemany(_DELETE, deletes)
                conn.executemany(_UPSERT, [(tbl, _key(key), _encode(data)) for tbl, key, data in payload
                                           if data is not ABSENT])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

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
