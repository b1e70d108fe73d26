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


def _sequence_codec(item: Any, kind: type) -> Codec:
    inner = codec(item)
    plain = _is_plain(item)

    def dump(value: Any) -> Any:
        return list(value) if plain else [inner.dump(v) for v in value]

    def load(data: Any) -> Any:
        if not isinstance(data, list):
            raise ValueError(f"expected a list, got {type(data).__name__}")
        items = [inner.load(v) for v in data]
        return items if kind is list else tuple(items)
    return Codec(dump, load)


def _dict_codec(value_type: Any) -> Codec:
    inner = codec(value_type)
    plain = _is_plain(value_type)

    def dump(value: Any) -> Any:
        if plain:
            return {str(k): v for k, v in value.items()}
        return {str(k): inner.dump(v) for k, v in value.items()}

    def load(data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        return {k: inner.load(v) for k, v in data.items()}
    return Codec(dump, load)


def _dataclass_codec(cls: type) -> Codec:
    """Generated straight-line code: one dict display to dump, one constructor call to load."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    env: dict[str, Any] = {"cls": cls, "ValueError": ValueError, "dict": dict}
    dump_items = []
    for i, f in enumerate(fields):
        ftype = hints[f.name]
        if _is_plain(ftype) or ftype in (int, float, str, bool):
            dump_items.append(f"{f.name!r}: o.{f.name}")
        else:
            env[f"d{i}"] = _lazy_dump(ftype)
            dump_items.append(f"{f.name!r}: d{i}(o.{f.name})")
        env[f"l{i}"] = _lazy_load(ftype)
    source = [f"def dump(o):\n    return {{{', '.join(dump_items)}}}\n",
              "def load(data):",
              "    if type(data) is not dict:",
              f"        raise ValueError('expected an object for {cls.__name__}')",
              "    kw = {}"]
    for i, f in enumerate(fields):
        source.append(f"    if {f.name!r} in data: kw[{f.name!r}] = l{i}(data[{f.name!r}])")
    source.append("    return cls(**kw)")
    exec("\n".join(source), env)  # noqa: S102 - code built from our own field names only
    return Codec(env["dump"], env["load"])


def _lazy_dump(ftype: Any) -> Dump:
    """Resolved on first use, so that classes referring to each other compile."""
    resolved: list[Dump] = []

    def dump(value: Any) -> Any:
        if not resolved:
            resolved.append(codec(ftype).dump)
        return resolved[0](value)
    return dump


def _lazy_load(ftype: Any) -> Load:
    resolved: list[Load] = []

    def load(data: Any) -> Any:
        if not resolved:
            resolved.append(codec(ftype).load)
        return resolved[0](data)
    return load


def fields_of(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


def hints_of(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
