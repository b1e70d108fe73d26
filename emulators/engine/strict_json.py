"""JSON as RFC 8259 defines it, for the control API (Python's json module is laxer)."""
from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson


class NotStrictJSON(ValueError):
    """A control-API body that is not plain JSON: a readable reason for a 400."""


MAX_JSON_DEPTH = 64


def _no_constants(name: str) -> Any:
    raise NotStrictJSON(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJSON(f"the number {text[:40]} is out of range")
    return value


def strict_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH, *, overflow: bool = False) -> Any:
    """JSON as RFC 8259 defines it, for the control API: no NaN/Infinity (Python's json takes
    them), every number finite, at most `max_depth` levels of arrays/objects (so nothing that
    walks it later can run out of stack). Raises NotStrictJSON.

    `overflow=True` lets a number too large for a double through as infinity, as JavaScript's
    and Java's parsers do (the providers' own validation then refuses it by name)."""
    if type(raw) is bytes and raw.count(b"[") + raw.count(b"{") <= max_depth and not _LONG_NUMBER.search(raw):
        # The common case, in C: orjson refuses what RFC 8259 does (NaN, lone surrogates, numbers
        # beyond a double), and fewer brackets than the limit bound the depth. Whatever it refuses
        # goes the long way below, which names the problem as before.
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        data = json.loads(raw, parse_constant=_no_constants, parse_float=float if overflow else _finite)
    except NotStrictJSON:
        raise
    except RecursionError:
        raise NotStrictJSON(f"nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NotStrictJSON("body must be JSON (UTF-8)") from None
    except ValueError:  # an integer of more than 4300 digits
        raise NotStrictJSON("a number has too many digits") from None
    problem = _tree_problem(data, max_depth, finite=not overflow)
    if problem:
        raise NotStrictJSON(problem)
    return data


# 19 digits in a row: an integer orjson would turn into a float past 64 bits, or a long
# fraction; rare enough to leave to json, which keeps integers exact.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def check_tree(data: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """The checks of `strict_json` on data decoded some other way (MessagePack): NotStrictJSON."""
    problem = _tree_problem(data, max_depth, finite=True)
    if problem:
        raise NotStrictJSON(problem)


def _tree_problem(data: Any, limit: int, finite: bool) -> str | None:
    """Too deep, or a string that is no text (a lone UTF-16 surrogate escape, which no answer
    could encode). Iterative, so that checking a deep document cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
            continue
        if isinstance(node, float):
            if finite and not math.isfinite(node):
                return "a number is not finite"
            continue
        if isinstance(node, dict):
            children: Any = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return f"nested deeper than {limit} levels"
        stack.extend((child, depth + 1) for child in children)
    return None
