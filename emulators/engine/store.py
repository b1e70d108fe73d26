"""An emulator's state as tables of records, changed through one unit of work at a time.

Each state root (the engine's `EngineState`, a provider's `State`) is a dataclass. Its dict
fields become `Table`s; its other fields are single values ("fields" of the root). Every write
goes through the store:

- inserting, replacing or deleting a record (`table[key] = r`, `del table[key]`, `table.pop`) is
  seen by the table itself;
- changing a record in place needs `table.touch(key)` first (it returns the record);
- setting a field of a root (`state.seq += 1`) is seen by `StateRoot.__setattr__`.

The first write of a record in a unit keeps its before-image (a dump). So a unit can be rolled
back (a request that failed after it changed something leaves no trace), committed to the
persistence sink (only what changed: the dirty set, written through before the response is
sent), and shown to snapshot cursors (a streamed `GET /_emulator/state` sees the state as it
was when it started, however long the stream takes).

Units are per asyncio task / thread (a context variable), so concurrent requests each have
their own. Writes outside any unit (white-box tests, forgotten paths) land in an ambient unit
that the next commit takes along; audit mode (tests) checks after every unit that each change
of the whole state was declared, which finds a forgotten `touch`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import typing
from concurrent.futures import Future
from contextvars import ContextVar, Token
from typing import Any, Callable, Iterable, Iterator, Protocol

from emulators.engine.serde import Codec, codec


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # a record that does not exist (before an insert, after a delete)

Key = tuple[str, Any]  # (table name, record key)
Row = tuple[str, Any, Any]  # (table name, key, dumped value or ABSENT)


class AuditError(AssertionError):
    """A change of state that no unit declared (a write without `touch`)."""


class Saved(Future):  # type: ignore[type-arg]
    """A sink's future that many answers wait on (every unit of one group commit): each event
    loop gets one waiter for it, woken with one call, instead of one wrapped future and one
    cross-thread call per answer."""

    def __init__(self) -> None:
        super().__init__()
        self._loop_waiters: dict[asyncio.AbstractEventLoop, _SharedWaiter] = {}

    def waiter(self) -> asyncio.Future[None]:
        """What the running loop awaits (only that loop's thread adds its entry)."""
        loop = asyncio.get_running_loop()
        waiter = self._loop_waiters.get(loop)
        if waiter is None:
            waiter = self._loop_waiters[loop] = _SharedWaiter(loop=loop)
            self.add_done_callback(functools.partial(_wake, loop, waiter))
        return waiter


class _SharedWaiter(asyncio.Future):  # type: ignore[type-arg]
    """Awaited by several tasks: one task's cancellation must not cancel it for the others
    (that task still ends cancelled, once the wait is over)."""

    def cancel(self, msg: Any = None) -> bool:
        return False


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], saved: Future[None]) -> None:
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if here is loop:  # done on the waiter's own loop (the usual case): no cross-thread call
        _settle(waiter, saved)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(_settle, waiter, saved)


def _settle(waiter: asyncio.Future[None], saved: Future[None]) -> None:
    if waiter.done():
        return
    exc = saved.exception()
    if exc is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(exc)


async def until_saved(saved: Future[None]) -> None:
    """Waits, on the running loop, until a sink's future is done (raises what it raised)."""
    if isinstance(saved, Saved):
        await saved.waiter()
    else:
        await asyncio.wrap_future(saved)


class Sink(Protocol):
    def write(self, rows: list[Row]) -> Future[None]: ...  # done once the rows are saved

    def replace(self, prefix: str, rows: Iterable[Row]) -> Future[None]: ...

    def pending(self) -> Future[None] | None: ...  # the last write not yet saved


class Index:
    """The keys of a table's records grouped by a field of theirs (an owner, a task number), in
    insertion order, kept as records come and go (rollbacks and restores included). What a
    request looks up is indexed, so that no request's cost grows with the records stored. The
    grouping field must not change in place."""

    __slots__ = ("by", "groups")

    def __init__(self, by: Callable[[Any], Any]) -> None:
        self.by = by
        # group -> its one record key, or an ordered set of them (a dict) once there are two:
        # an index by a field that is unique per record (a task number) then costs no dict per
        # record. Record keys are hashable, so never a dict themselves.
        self.groups: dict[Any, Any] = {}

    def get(self, group: Any) -> dict[Any, None]:
        """The record keys of `group`, oldest first (iterate `reversed()` for newest first)."""
        keys = self.groups.get(group, ABSENT)
        if keys is ABSENT:
            return {}
        return keys if type(keys) is dict else {keys: None}

    def _add(self, key: Any, record: Any) -> None:
        group = self.by(record)
        groups = self.groups
        keys = groups.get(group, ABSENT)
        if keys is ABSENT:
            groups[group] = key
        elif type(keys) is dict:
            keys[key] = None
        elif keys != key:
            groups[group] = {keys: None, key: None}

    def _remove(self, key: Any, record: Any) -> None:
        group = self.by(record)
        groups = self.groups
        keys = groups.get(group, ABSENT)
        if keys is ABSENT:
            return
        if type(keys) is not dict:
            if keys == key:
                del groups[group]
            return
        keys.pop(key, None)
        if len(keys) == 1:
            groups[group] = next(iter(keys))
        elif not keys:
            del groups[group]


class Table(dict):  # type: ignore[type-arg]
    """A dict of records whose writes go through the store. Reads are plain dict reads."""

    __slots__ = ("name", "store", "codec", "restore", "indexes")

    def __init__(self, name: str, store: Store, value_codec: Codec, restore: Callable[[Any, Any], None] | None,
                 items: Any = ()) -> None:
        dict.__init__(self, items)
        self.name = name
        self.store = store
        self.codec = value_codec
        self.restore = restore  # copies a loaded record's fields into the live one (identity kept)
        self.indexes: list[Index] = []

    def index(self, by: Callable[[Any], Any]) -> Index:
        """A new index of this table's records by `by(record)`, built from what is there now."""
        index = Index(by)
        for key, record in dict.items(self):
            index._add(key, record)
        self.indexes.append(index)
        return index

    def __setitem__(self, key: Any, value: Any) -> None:
        self.store.changing(self, key)
        if self.indexes:
            self._unindex(key)
            for index in self.indexes:
                index._add(key, value)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self.store.changing(self, key)
        if self.indexes:
            self._unindex(key)
        dict.__delitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self.store.changing(self, key)
            if self.indexes:
                self._unindex(key)
            return dict.pop(self, key)
        if default:
            return default[0]
        raise KeyError(key)

    def _unindex(self, key: Any) -> None:
        old = dict.get(self, key, ABSENT)
        if old is not ABSENT:
            for index in self.indexes:
                index._remove(key, old)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def popitem(self) -> tuple[Any, Any]:
        key = next(reversed(self))
        return key, self.pop(key)

    def touch(self, key: Any) -> Any:
        """The record at `key`, declared as about to change in place (KeyError when absent)."""
        value = dict.__getitem__(self, key)
        self.store.changing(self, key)
        return value

    # dumps of one record, for the sink and for snapshots
    def dump(self, key: Any) -> Any:
        value = dict.get(self, key, ABSENT)
        return ABSENT if value is ABSENT else self.codec.dump(value)

    def undo(self, key: Any, live: Any, before: Any) -> None:
        if self.indexes:
            self._unindex(key)
        if before is ABSENT:
            dict.pop(self, key, None)
            return
        restored = self.codec.load(before)
        if self.restore is not None and live is not ABSENT and type(live) is type(restored):
            self.restore(live, restored)
            restored = live
        dict.__setitem__(self, key, restored)
        for index in self.indexes:
            index._add(key, restored)


class Fields:
    """The single-value fields of a state root, seen as a table keyed by field name."""

    __slots__ = ("name", "root", "codecs", "store")

    def __init__(self, name: str, root: Any, codecs: dict[str, Codec], store: Store) -> None:
        self.name = name
        self.root = root
        self.codecs = codecs
        self.store = store

    def dump(self, key: str) -> Any:
        return self.codecs[key].dump(getattr(self.root, key))

    def undo(self, key: str, live: Any, before: Any) -> None:
        object.__setattr__(self.root, key, self.codecs[key].load(before))

    def items(self) -> Iterator[tuple[str, Any]]:
        for key in self.codecs:
            yield key, getattr(self.root, key)


class StateRoot:
    """Base of a state dataclass: setting one of its fields goes through the store."""

    def __setattr__(self, name: str, value: Any) -> None:
        fields: Fields | None = self.__dict__.get("_fields")
        if fields is not None and name in fields.codecs:
            fields.store.changing(fields, name)
        object.__setattr__(self, name, value)


class Unit:
    """The writes of one request (or one control call, one tick): before-images in order."""

    __slots__ = ("store", "changes", "token", "depth", "log_start", "base", "generation", "thread", "closed",
                 "now", "audited")

    def __init__(self, store: Store) -> None:
        self.store = store
        # (table name, key) -> (table, key, live record or ABSENT, before-image or ABSENT)
        self.changes: dict[Key, tuple[Any, Any, Any, Any]] = {}
        self.token: Token[Unit | None] | None = None
        self.depth = 0
        self.log_start = 0
        self.base: dict[Key, Any] | None = None  # audit mode: the whole state at the start
        self.generation = store.generation  # a wholesale replacement (reset, restore) ends it
        # A context copied into a task or thread (call_soon_threadsafe, run_in_executor) carries
        # the unit along: only the thread that opened it, while it is open, may write into it.
        self.thread = threading.get_ident()
        self.closed = False
        self.now: float | None = None  # the time of the request it belongs to, if any
        self.audited = False  # audit mode counts it among the open units

    def live(self) -> bool:
        return not self.closed and self.thread == threading.get_ident()

    def mark(self) -> int:
        """A savepoint: `rollback_to(mark)` undoes what was written after it."""
        return len(self.changes)

    def rollback_to(self, mark: int = 0) -> None:
        if self.generation != self.store.generation:
            self.changes.clear()
            return
        entries = list(self.changes.items())[mark:]
        for k, (table, key, live, before) in reversed(entries):
            table.undo(key, live, before)
            del self.changes[k]


_current: ContextVar[Unit | None] = ContextVar("emulators_unit", default=None)


def current_unit() -> Unit | None:
    """The unit open in this context and thread, if any."""
    unit = _current.get()
    return unit if unit is not None and unit.live() else None


class Store:
    """The tables and fields of one emulator, and where their changes go."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix  # the provider id: several emulators can share one sink
        self.tables: dict[str, Any] = {}  # name -> Table | Fields, in snapshot order
        self.roots: dict[str, Any] = {}  # root name -> state dataclass
        self.sink: Sink | None = None
        self.cursors: list[SnapshotCursor] = []
        self.audit = False
        self.loading = False  # seeding and restoring: nothing to track
        self._ambient: Unit | None = None
        self._log: list[frozenset[Key]] = []  # audit mode: keys committed, in order
        self._audited_open = 0  # audit mode: units open (the log is kept only while some are)
        self.generation = 0  # bumped when the whole state is replaced

    # -- binding state -------------------------------------------------------------------------
    def bind(self, name: str, root: Any) -> None:
        """Makes `root`'s dict fields tables named `name.field` and tracks its other fields."""
        scalars: dict[str, Codec] = {}
        for field_name, is_table, field_codec, restorer in _layout(type(root)):
            if is_table:
                table = Table(f"{name}.{field_name}", self, field_codec, restorer, getattr(root, field_name))
                object.__setattr__(root, field_name, table)
                self.tables[table.name] = table
            else:
                scalars[field_name] = field_codec
        if scalars:
            fields = Fields(f"{name}.$", root, scalars, self)
            if isinstance(root, StateRoot):
                object.__setattr__(root, "_fields", fields)
            self.tables[fields.name] = fields
        self.roots[name] = root

    def unbind(self) -> None:
        """Forgets the bound state (a reset or restore replaces it wholesale): units still open
        have nothing left to commit or roll back."""
        self.generation += 1
        unit = _current.get()
        if unit is not None and unit.store is self:
            unit.changes.clear()
            unit.base = None
        for root in self.roots.values():
            root.__dict__.pop("_fields", None)
        self.tables.clear()
        self.roots.clear()
        self._ambient = None

    # -- units -----------------------------------------------------------------------------------
    def begin(self) -> Unit:
        """Opens a unit for the current context, or joins the one already open."""
        unit = _current.get()
        if unit is not None and unit.store is self and unit.live():
            unit.depth += 1
            return unit
        unit = Unit(self)
        unit.token = _current.set(unit)
        if self.audit:
            unit.log_start = len(self._log)
            unit.base = self.dump_all()
            unit.audited = True
            self._audited_open += 1
        return unit

    def commit(self, unit: Unit) -> Future[None] | None:
        """Ends a unit: its changes go to the sink and the snapshot cursors. A joined unit
        commits with the outermost one. Returns the sink's future for the changes (None when
        nothing was written): an answer that reports them waits for it."""
        if unit.depth:
            unit.depth -= 1
            return None
        saved = None
        try:
            if unit.generation != self.generation:  # the state was replaced meanwhile
                unit.changes.clear()
                unit.base = None
            if self._ambient is not None:  # writes made outside any unit ride along
                ambient, self._ambient = self._ambient, None
                for k, change in ambient.changes.items():
                    unit.changes.setdefault(k, change)
            if unit.changes:
                saved = self._publish(unit.changes.values())
            if unit.base is not None:
                self._audit(unit)
        finally:
            self._close(unit)
        return saved

    def saved(self) -> Future[None] | None:
        """What an answer must wait for before it is sent: the last change handed to the sink
        and not yet saved (None without a sink, or when everything is saved)."""
        return self.sink.pending() if self.sink is not None else None

    def abort(self, unit: Unit) -> None:
        """Ends a unit undoing everything it wrote."""
        if unit.depth:
            unit.depth -= 1
            unit.rollback_to(0)
            return
        try:
            unit.rollback_to(0)
        finally:
            self._close(unit)

    def _close(self, unit: Unit) -> None:
        unit.closed = True
        if unit.audited:
            unit.audited = False
            self._audited_open -= 1
            if not self._audited_open:
                self._log.clear()  # no open unit can ask about earlier commits any more
        if unit.token is not None:
            try:
                _current.reset(unit.token)
            except ValueError:  # ended in another context (a thread handed over): just clear
                _current.set(None)
            unit.token = None

    def unit(self) -> _UnitContext:
        """`with store.unit():` commits on success, rolls back on an exception."""
        return _UnitContext(self)

    def changing(self, table: Any, key: Any) -> None:
        """Called before `table[key]` changes: keeps its before-image once per unit."""
        if self.loading:
            return
        unit = _current.get()
        if unit is None or unit.store is not self or not unit.live():
            unit = self._ambient
            if unit is None:
                unit = self._ambient = Unit(self)
        k = (table.name, key)
        if k in unit.changes:
            return
        if isinstance(table, Table):
            live = dict.get(table, key, ABSENT)
            before = ABSENT if live is ABSENT else table.codec.dump(live)
        else:
            live, before = None, table.dump(key)
        unit.changes[k] = (table, key, live, before)

    def flush(self) -> None:
        """Commits writes made outside any unit (the ticker calls it)."""
        if self._ambient is not None:
            unit = Unit(self)
            unit.token = _current.set(unit)
            self.commit(unit)

    def _publish(self, changes: Iterable[tuple[Any, Any, Any, Any]]) -> Future[None] | None:
        changes = list(changes)
        for cursor in self.cursors:
            for table, key, _, before in changes:
                cursor.preserve(table.name, key, before)
        if self.audit:
            self._log.append(frozenset((table.name, key) for table, key, _, _ in changes))
        if self.sink is not None:
            return self.sink.write([(f"{self.prefix}:{table.name}", key, table.dump(key))
                                    for table, key, _, _ in changes])
        return None

    # -- whole state ---------------------------------------------------------------------------
    def rows(self) -> Iterator[Row]:
        """Every record, dumped (for a full write to the sink)."""
        for name, table in self.tables.items():
            for key, _ in list(table.items()):
                yield f"{self.prefix}:{name}", key, table.dump(key)

    def dump_all(self) -> dict[Key, Any]:
        return {(name, key): table.dump(key) for name, table in self.tables.items()
                for key, _ in list(table.items())}

    def _audit(self, unit: Unit) -> None:
        assert unit.base is not None
        now = self.dump_all()
        declared = set(unit.changes)
        for keys in self._log[unit.log_start:]:
            declared |= keys
        undeclared = [k for k in set(now) | set(unit.base)
                      if k not in declared and now.get(k, ABSENT) != unit.base.get(k, ABSENT)]
        if undeclared:
            raise AuditError(f"state changed without touch(): {sorted(map(str, undeclared))[:10]}")


class _UnitContext:
    __slots__ = ("store", "unit")

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Unit:
        self.unit = self.store.begin()
        return self.unit

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            self.store.commit(self.unit)
        else:
            self.store.abort(self.unit)


class SnapshotCursor:
    """Keeps the before-image of every record that changes while a snapshot is being read."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.preserved: dict[Key, Any] = {}

    def __enter__(self) -> SnapshotCursor:
        self.store.cursors.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.store.cursors.remove(self)

    def preserve(self, name: str, key: Any, before: Any) -> None:
        self.preserved.setdefault((name, key), before)

    def value(self, table: Any, key: Any) -> Any:
        """The dump of `table[key]` as it was when the snapshot began."""
        k = (table.name, key)
        if k in self.preserved:
            return self.preserved[k]
        return table.dump(key)


@functools.lru_cache(maxsize=None)
def _layout(cls: type) -> tuple[tuple[str, bool, Codec, Any], ...]:
    """A state root class's fields: (name, is a table, codec, restorer). Worked out once per
    class: type hints are slow to read, and every reset binds fresh roots."""
    hints = typing.get_type_hints(cls)
    layout = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if typing.get_origin(hint) is dict or hint is dict:
            args = typing.get_args(hint)
            value_type = args[1] if args else Any
            layout.append((f.name, True, codec(value_type), _restorer(value_type)))
        else:
            layout.append((f.name, False, codec(hint), None))
    return tuple(layout)


def _restorer(value_type: Any) -> Callable[[Any, Any], None] | None:
    """For dataclass records: copies every field of a loaded copy into the live record."""
    if not (isinstance(value_type, type) and dataclasses.is_dataclass(value_type)):
        return None
    names = [f.name for f in dataclasses.fields(value_type) if f.init]

    def restore(live: Any, loaded: Any) -> None:
        for name in names:
            object.__setattr__(live, name, getattr(loaded, name))
    return restore
