"""`--state-file PATH`: every emulator's state in one SQLite database, written through.

Each record of each table of each emulator is one row (`tbl` = "<provider>:<table>", `key`,
`data` = the record as JSON). A unit of work's dirty set is written in one transaction before
its response is sent, so a `kill -9` loses nothing that was acknowledged, and the cost of a
save is the size of the change, never of the whole state. WAL mode with `synchronous=NORMAL`:
a commit survives the death of the process (not of the machine) without an fsync per request;
checkpoints run on a thread of their own so that no request waits for one.

Uploaded bytes live beside the database in `<PATH>.blobs/`, content-addressed; at start, blobs
that no record references and unfinished upload fragments are removed.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

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


class StateFileError(Exception):
    """The state file cannot be used; the message names it and says what to do (one line)."""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.blob_dir = path.with_name(path.name + ".blobs")
        self._lock = threading.Lock()  # one connection, written by the loop and by callback threads
        self._conn: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

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
        self._stop.set()
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
    def write(self, rows: list[Row]) -> None:
        """One unit of work's changes, in one transaction."""
        upserts = [(tbl, _key(key), json.dumps(data)) for tbl, key, data in rows if data is not ABSENT]
        deletes = [(tbl, _key(key)) for tbl, key, data in rows if data is ABSENT]
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                if deletes:
                    conn.executemany(_DELETE, deletes)
                if upserts:
                    conn.executemany(_UPSERT, upserts)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def replace(self, prefix: str, rows: Iterable[Row]) -> None:
        """Every record of one emulator at once (after a reset or a restore)."""
        upserts = [(tbl, _key(key), json.dumps(data)) for tbl, key, data in rows if data is not ABSENT]
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                conn.execute("DELETE FROM records WHERE tbl >= ? AND tbl < ?", (prefix + ":", prefix + ";"))
                conn.executemany(_UPSERT, upserts)
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
        """(table name without the prefix, key, decoded record) in insertion order."""
        with self._lock:
            found = self._connection().execute(
                "SELECT tbl, key, data FROM records WHERE tbl >= ? AND tbl < ? ORDER BY id",
                (prefix + ":", prefix + ";")).fetchall()
        cut = len(prefix) + 1
        for tbl, key, data in found:
            try:
                yield tbl[cut:], key, json.loads(data)
            except ValueError:
                raise StateFileError(f"{self.path}: a record of {tbl} is damaged; move the file away "
                                     "and start afresh, or restore a copy") from None

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
                self.replace(prefix, em.store.rows())
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
                digest = json.loads(data).get("sha256")
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
