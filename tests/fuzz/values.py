"""Hypothesis strategies of odd values: text with lone surrogates, control characters and NUL,
huge, negative, fractional and non-finite numbers, wrong types, very long and empty strings."""
from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.wire import RawJSON

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ODD_CHARS = st.characters(categories=["Cc", "Cs", "Cf", "Zs", "Zl", "Zp", "Co", "Mn", "Nd", "Lo", "So"])
LONG_LENGTHS = [256, 1025, 4097, 5001, 10_001, 20_001, 100_001]

SPECIAL_TEXT = [
    "", " ", "\t", "\x00", "a\x00b", "\r\n", "\x1b[31m", "\x7f", "\u0085", "\u2028", "\ufeff", "\u202e",
    "\ud800", "a\udfffb", "\udbff\udfff"[0], "𝄞", "١٢٣", "ｔｅｓｔ", "İ", "ß" * 3, "null", "None",
    "true", "0", "-1", "1e400", "NaN", "Infinity", "0x10", "1_000", " 42 ", "+7", "EMULATOR_FAIL",
    "EMULATOR_TIMEOUT", "http://", "https://", "https://[::1", "https://a:99999/x.mp4", "ftp://x/y.mp3",
    "http://testserver/files/nope.mp3", "http://testserver/files/../../etc/passwd",
    "http://127.0.0.1:1/x.mp3", "https://example.com/a b.mp4", "https://exa\u00admple.com/x.mp3",
    "https://example.com/\ud800.mp3", "file:///etc/passwd", "data:text/plain;base64,", "../../etc/passwd",
    "/", "//", ".", "..", "%00", "%ED%A0%80", "${jndi:ldap://x/a}", "<script>alert(1)</script>",
    "' OR 1=1 --", "\\", '"', "{}", "[]", "1,2,3", "[\"a\",", "[\"\\ud800\"]", "#", "?", "&=",
]


def long_text() -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(LONG_LENGTHS), st.sampled_from(["x", "é", "\x00", "9", " ", "𝄞", "a "])).map(
        lambda nc: (nc[1] * nc[0])[: nc[0]])


def with_surrogate() -> st.SearchStrategy[str]:
    return st.tuples(st.text(max_size=6), SURROGATE, st.text(max_size=6)).map("".join)


def odd_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(SPECIAL_TEXT),
        st.text(ODD_CHARS, max_size=24),
        with_surrogate(),
        long_text(),
        st.text(max_size=12),
    )


SPECIAL_NUMBERS: list[Any] = [
    0, -1, 1, 2, -0.0, 0.5, 1.5, -1.5, 0.1, 2**31, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1, 2**63,
    2**64, -(2**63) - 1, 10**18, 10**19, 10**30, 10**400, -(10**400), 1e308, -1e308, 5e-324, 1e-300,
    math.nan, math.inf, -math.inf,
]


def odd_number() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(SPECIAL_NUMBERS),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
    )


RAW_TOKENS = ["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 5000, "0." + "0" * 5000 + "1",
              '"\\ud800"', '"x\\udc00"', '"\\u0000"', "1E+99999", "-0", "[" * 600 + "]" * 600]


def odd_scalar() -> st.SearchStrategy[Any]:
    return st.one_of(odd_text(), odd_number(), st.sampled_from([None, True, False]),
                     st.sampled_from(RAW_TOKENS).map(RawJSON))


def odd_key() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["", " ", "\x00", "__proto__", "constructor", "token", "\ud800", "a" * 5000]),
                     st.text(ODD_CHARS, max_size=8))


def odd_json() -> st.SearchStrategy[Any]:
    """Any JSON-ish value: a scalar, or small containers of odd scalars, or deep nesting."""
    containers = st.recursive(
        odd_scalar(),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_key(), inner, max_size=3)),
        max_leaves=6,
    )
    deep = st.sampled_from([2, 50, 200, 600]).map(lambda n: _nest(n))
    return st.one_of(odd_scalar(), containers, deep, st.just([]), st.just({}))


def _nest(n: int) -> Any:
    """`n` levels of objects and arrays around "x" (as JSON text when deep: no recursion here)."""
    if n <= 50:
        value: Any = "x"
        for i in range(n):
            value = [value] if i % 2 else {"a": value}
        return value
    opens = "".join("[" if i % 2 else '{"a":' for i in reversed(range(n)))
    closes = "".join("]" if i % 2 else "}" for i in range(n))
    return RawJSON(opens + '"x"' + closes)


def like(value: Any) -> st.SearchStrategy[Any]:
    """An odd value, biased towards the type of `value` (near-valid: the right type, a wrong value)."""
    if isinstance(value, bool):
        same = st.one_of(st.sampled_from([0, 1, "true", "false", None]), odd_number())
    elif isinstance(value, (int, float)):
        same = st.one_of(odd_number(), st.sampled_from([str(value), f" {value}", f"{value}.0", f"{value}e0"]))
    elif isinstance(value, str):
        same = st.one_of(odd_text(), st.sampled_from([value + "\x00", value.upper(), " " + value, value + value,
                                                      value + "\ud800", value[:-1]]))
    elif isinstance(value, list):
        same = st.one_of(st.lists(odd_scalar(), max_size=5), st.just(value * 200), st.just([value]))
    elif isinstance(value, dict):
        same = st.one_of(st.dictionaries(odd_key(), odd_scalar(), max_size=3), st.just({}))
    else:
        same = odd_scalar()
    return st.one_of(same, same, odd_json())


def odd_bytes() -> st.SearchStrategy[bytes]:
    """Bytes for multipart values, file names and query values: invalid UTF-8 included."""
    return st.one_of(
        st.sampled_from([b"", b"\x00", b"\xed\xa0\x80", b"a\xed\xb0\x80b", b"\xff\xfe", b"\xc0\xaf", b"\x80",
                         b"\r\n", b'"', b"\\", b"x" * 70_000, b"\xe2\x80\xae", b"%00", b"1e400", b"NaN",
                         b"-1", b"99999999999999999999999", b"EMULATOR_FAIL"]),
        st.binary(max_size=40),
        odd_text().map(lambda s: s.encode("utf-8", "surrogatepass")),
    )
