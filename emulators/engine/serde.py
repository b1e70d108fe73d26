"""Dataclass state <-> JSON-native data, so a store snapshots and restores exactly.

State is held in typed dataclasses; this turns them into plain dicts/lists (for
`GET /_emulator/state` and the state file) and back, guided by the type hints.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union

T = TypeVar("T")


def to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in _fields(type(value))}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(cls: Any, data: Any) -> Any:
    """Rebuild a value of type `cls` from `to_json` output. Raises ValueError on a mismatch."""
    origin = typing.get_origin(cls)
    if cls is Any or cls is object:
        return data
    if origin in (Union, types.UnionType):
        args = typing.get_args(cls)
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return from_json(arg, data)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError(f"no variant of {cls} fits {data!r}: {errors}")
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise ValueError(f"expected a list, got {type(data).__name__}")
        (item,) = typing.get_args(cls)[:1] or (Any,)
        items = [from_json(item, v) for v in data]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        _, val = typing.get_args(cls) or (str, Any)
        return {k: from_json(val, v) for k, v in data.items()}
    if origin is typing.Literal:
        if data not in typing.get_args(cls):
            raise ValueError(f"{data!r} is not one of {typing.get_args(cls)}")
        return data
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {cls.__name__}")
        hints = _hints(cls)
        kwargs = {f.name: from_json(hints[f.name], data[f.name]) for f in _fields(cls) if f.name in data}
        return cls(**kwargs)
    if cls is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError(f"expected a number, got {data!r}")
        return data  # an int stays an int, so a restored state prints as it was given
    if cls in (int, str, bool):
        if type(data) is not cls:
            raise ValueError(f"expected {cls.__name__}, got {data!r}")
        return data
    return data


@cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
