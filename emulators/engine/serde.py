"""Dataclass state <-> JSON-native data, so a store snapshots and restores exactly.

State is held in typed dataclasses. `codec(cls)` compiles, once per class, a dump function
(record -> plain dicts/lists, a deep copy) and a load function (plain data -> record, checking
every type on the way: a restored state is untrusted input). Compiled code matters: every write
to a record dumps it (the before-image of a unit of work) and every commit dumps it again.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, Callable, NamedTuple, TypeVar, Union

T = TypeVar("T")

Dump = Callable[[Any], Any]
Load = Callable[[Any], Any]


class Codec(NamedTuple):
    dump: Dump
    load: Load


def to_json(value: Any) -> Any:
    """Any state value (dataclass, dict, list, scalar) as JSON-native data (a deep copy)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return codec(type(value)).dump(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(cls: Any, data: Any) -> Any:
    """Rebuilds a value of type `cls` from `to_json` output. ValueError (or TypeError) on a
    mismatch."""
    return codec(cls).load(data)


# -- compiling --------------------------------------------------------------------------------------
_PRIMITIVES = (str, int, bool)


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON-native data (dicts, lists, scalars)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # the common case (a job's states and durations), before any dataclass test
    if kind is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_copy_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return codec(type(value)).dump(value)
    if isinstance(value, dict):  # a Table or another mapping
        return {str(k): _copy_json(v) for k, v in value.items()}
    return value


def _load_any(data: Any) -> Any:
    return data


def _is_plain(cls: Any) -> bool:
    """True when dumping values of `cls` needs no conversion (immutable JSON scalars)."""
    return cls in (str, int, float, bool, type(None))


@cache
def codec(cls: Any) -> Codec:
    origin = typing.get_origin(cls)
    if cls is Any or cls is object:
        return Codec(_copy_json, _load_any)
    if origin in (Union, types.UnionType):
        return _union_codec(typing.get_args(cls))
    if origin in (list, tuple):
        args = typing.get_args(cls)
        item = args[0] if args else Any
        return _sequence_codec(item, tuple if origin is tuple else list)
    if origin is dict or cls is dict:
        args = typing.get_args(cls)
        return _dict_codec(args[1] if args else Any)
    if cls is list:
        return _sequence_codec(Any, list)
    if origin is typing.Literal:
        allowed = typing.get_args(cls)

        def load_literal(data: Any) -> Any:
            if data not in allowed:
                raise ValueError(f"{data!r} is not one of {allowed}")
            return data
        return Codec(_identity, load_literal)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        return _dataclass_codec(cls)
    if cls is float:
        return Codec(_identity, _load_float)
    if cls in _PRIMITIVES:
        return Codec(_identity, _exact_loader(cls))
    return Codec(_copy_json, _load_any)


def _identity(value: Any) -> Any:
    return value


def _load_float(data: Any) -> Any:
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise ValueError(f"expected a number, got {data!r}")
    if not math.isfinite(data):
        raise ValueError(f"expected a finite number, got {data!r}")
    return data  # an int stays an int, so a restored state prints as it was given


def _exact_loader(cls: type) -> Load:
    def load(data: Any) -> Any:
        if type(data) is not cls:
            raise ValueError(f"expected {cls.__name__}, got {data!r}")
        return data
    return load


def _union_codec(args: tuple[Any, ...]) -> Codec:
    variants = [a for a in args if a is not type(None)]
    optional = len(variants) < len(args)
    if len(variants) == 1:
        inner = codec(variants[0])
        if not optional:
            return inner

        def dump_optional(value: Any) -> Any:
            return None if value is None else inner.dump(value)

        def load_optional(data: Any) -> Any:
            return None if data is None else inner.load(data)
        return Codec(dump_optional, load_optional)
    codecs = [codec(v) for v in variants]

    def load_union(data: Any) -> Any:
        if data is None and optional:
            return None
        errors = []
        for variant in codecs:
            try:
                return variant.load(data)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError(f"no variant of {args} fits {data!r}: {errors}")
    return Codec(_copy_json, load_union)


_PRIMITIVE_OK: dict[Any, Callable[[Any], bool]] = {
    str: lambda v: type(v) is str,
    int: lambda v: type(v) is int,
    bool: lambda v: type(v) is bool,
    float: lambda v: type(v) is int or (type(v) is float and math.isfinite(v)),
}


def _sequence_codec(item: Any, kind: type) -> Codec:
    inner = codec(item)
    plain = _is_plain(item)
    ok = _PRIMITIVE_OK.get(item)

    def dump(value: Any) -> Any:
        return list(value) if plain else [inner.dump(v) for v in value]

    def load(data: Any) -> Any:
        if not isinstance(data, list):
            raise ValueError(f"expected a list, got {type(data).__name__}")
        if ok is not None:  # a list of primitives: checked, not rebuilt item by item
            if not all(map(ok, data)):
                raise ValueError(f"expected a list of {item.__name__}, got {data!r}")
            return list(data) if kind is list else tuple(data)
        items = [inner.load(v) for v in data]
        return items if kind is list else tuple(items)
    return Codec(dump, load)


def _dict_codec(value_type: Any) -> Codec:
    inner = codec(value_type)
    plain = _is_plain(value_type)
    ok = _PRIMITIVE_OK.get(value_type)

    def dump(value: Any) -> Any:
        if plain:
            return {str(k): v for k, v in value.items()}
        return {str(k): inner.dump(v) for k, v in value.items()}

    def load(data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        if ok is not None:
            if not all(map(ok, data.values())):
                raise ValueError(f"expected values of type {value_type.__name__}, got {data!r}")
            return dict(data)
        return {k: inner.load(v) for k, v in data.items()}
    return Codec(dump, load)


_compiling: set[Any] = set()  # classes being compiled: a field of their own type resolves lazily
_SHORT_MAX = 24  # owners, kinds, content types, states: the strings every record repeats
_shorts: dict[str, str] = {}


def _short(text: Any) -> Any:
    """One object for each short string loaded (a loaded state would otherwise hold a copy of
    "test-token" per record); long ones (ids, texts) are unique anyway."""
    if text is None or len(text) > _SHORT_MAX:
        return text
    return _shorts.setdefault(text, text)


def forget_shared_strings() -> None:
    """After a load: the table of shared strings is only needed while loading."""
    _shorts.clear()


def _lazy_dump(ftype: Any) -> Callable[[Any], Any]:
    """A field of the class being compiled (a record that holds one of its own kind): its codec
    exists only once the compilation is done, so it is looked up on use."""
    return lambda value: codec(ftype).dump(value)


def _lazy_load(ftype: Any) -> Callable[[Any], Any]:
    return lambda value: codec(ftype).load(value)


def _field_code(name: str, ftype: Any, i: int, env: dict[str, Any]) -> tuple[str, list[str]]:
    """(the dump expression of field `name`, the load statements that set kw[name] from v)."""
    optional = False
    inner = ftype
    if typing.get_origin(ftype) in (Union, types.UnionType):
        args = [a for a in typing.get_args(ftype) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(ftype)) == 2:
            optional, inner = True, args[0]
    check = {str: "type(v) is str", int: "type(v) is int", bool: "type(v) is bool",
             float: "(type(v) is float and _finite(v)) or type(v) is int"}.get(inner)
    if check is not None:  # a primitive: checked inline, dumped as it is
        test = f"v is None or {check}" if optional else check
        keep = "_short(v)" if inner is str else "v"
        return (f"o.{name}", [f"    if not ({test}):",
                              f"        raise ValueError('{name}: expected {getattr(inner, '__name__', inner)}"
                              f"{' or null' if optional else ''}, got %r' % (v,))",
                              f"    kw[{name!r}] = {keep}"])
    if ftype in _compiling or inner in _compiling:
        env[f"d{i}"], env[f"l{i}"] = _lazy_dump(ftype), _lazy_load(ftype)
    else:
        sub = codec(ftype)
        env[f"d{i}"], env[f"l{i}"] = sub.dump, sub.load
    return f"d{i}(o.{name})", [f"    kw[{name!r}] = l{i}(v)"]


def _dataclass_codec(cls: type) -> Codec:
    """Generated straight-line code: one dict display to dump; to load, one check per field
    (inline for primitives) and one constructor call. Loading 100k jobs from a state file spends
    most of its time here."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    env: dict[str, Any] = {"cls": cls, "ValueError": ValueError, "_finite": math.isfinite, "_short": _short}
    _compiling.add(cls)
    try:
        dump_items, load_lines = [], []
        for i, f in enumerate(fields):
            dump_expr, lines = _field_code(f.name, hints[f.name], i, env)
            dump_items.append(f"{f.name!r}: {dump_expr}")
            load_lines.append(f"    v = data.get({f.name!r}, _MISSING)")
            load_lines.append("    if v is not _MISSING:")
            load_lines.extend("    " + line for line in lines)
    finally:
        _compiling.discard(cls)
    env["_MISSING"] = _MISSING
    source = [f"def dump(o):\n    return {{{', '.join(dump_items)}}}\n",
              "def load(data):",
              "    if type(data) is not dict:",
              f"        raise ValueError('expected an object for {cls.__name__}')",
              "    kw = {}",
              *load_lines,
              "    return cls(**kw)"]
    exec("\n".join(source), env)  # noqa: S102 - code built from our own field names only
    return Codec(env["dump"], env["load"])


_MISSING = object()


def fields_of(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


def hints_of(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
