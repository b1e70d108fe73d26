"""Near-valid requests: a valid request of one endpoint with one thing changed (a field's value,
a missing or duplicated or unknown field, the encoding, the content type, the token, a file,
a file name, the multipart framing, a query or path parameter). Each strategy yields a `Wire`."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import msgpack
from hypothesis import strategies as st

from tests.fuzz.values import like, odd_bytes, odd_json, odd_key, odd_scalar, odd_text
from tests.fuzz.wire import (
    BOUNDARY,
    DupKeys,
    Part,
    Wire,
    json_body,
    msgpack_body,
    multipart_body,
    multipart_type,
    query_string,
    utf8,
)
from urllib.parse import quote_from_bytes

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class Spec:
    """One endpoint and a valid request of it."""

    method: str
    path: str  # starlette syntax; {name} filled from `params`
    body: str = "none"  # "json" | "multipart" | "none"
    json: Any = None  # the valid JSON body (an object)
    parts: Callable[[], list[Part]] | None = None  # the valid multipart parts
    query: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    encodings: tuple[str, ...] = ("json",)  # kitta: ("json", "msgpack")
    examples: int = 30
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or f"{self.method} {self.path}"


@dataclass(frozen=True)
class Auth:
    """How a provider's clients send their token, and which tokens are worth trying."""

    header: Callable[[bytes], list[Header]]
    tokens: tuple[str, ...]  # seeded tokens besides test-token (poor, expired, disabled, ...)


def bearer(token: bytes) -> list[Header]:
    return [(b"authorization", b"Bearer " + token)]


JSON_TYPES = [b"application/json", b"application/json; charset=utf-8", b"application/json; charset=utf-16",
              b"text/plain", b"", b"application/x-www-form-urlencoded", b"multipart/form-data",
              b"multipart/form-data; boundary=", b"application/msgpack", b"application/x-msgpack",
              b"application/vnd.api+json", b"application/json\x7f", b"\xff\xfe/\xff", b"*/*",
              b"APPLICATION/JSON", b"application/json;;;", b"application/json; boundary=x"]
RAW_BODIES = [b"", b" ", b"{", b"}", b"[]", b"null", b"0", b'"x"', b"1e400", b"NaN", b"\xff\xfe{}", b"\xef\xbb\xbf{}",
              b"\x00", b"{}" * 3, b'{"a":1}garbage', b"[" * 100_000, b"{" * 5000, b'{"a":' + b"1" * 5000 + b"}",
              '{"text":"é"}'.encode("utf-16"), b'{"\xed\xa0\x80":1}', b'{"a":"\xed\xa0\x80"}',
              b'{"a":"\\ud800"}', b'{"a":NaN}', b'{"a":-Infinity}', b"\x93\xa1a\x01\xc0", b"\x80\x81\x82",
              b"\xc1", b"\xdf\x00\x00\x00\x01\xa1a\xd9\x05", b"a=1&b=2", b"--" + BOUNDARY.encode() + b"--\r\n"]
ODD_HEADER_VALUES = [b"", b" ", b"\xff", b"\xed\xa0\x80", b"x" * 9000, b"\t", b"a\x7fb", b"%00", b"\xc3\xa9"]


# -- JSON bodies -----------------------------------------------------------------------------------------
def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside a JSON value (objects' keys and arrays' indices)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*prefix, k))
            out.extend(json_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((*prefix, i))
            out.extend(json_paths(v, (*prefix, i)))
    return out


def get_at(value: Any, path: Sequence[Any]) -> Any:
    for key in path:
        value = value[key]
    return value


def set_at(value: Any, path: Sequence[Any], new: Any) -> None:
    get_at(value, path[:-1])[path[-1]] = new


def delete_at(value: Any, path: Sequence[Any]) -> None:
    parent = get_at(value, path[:-1])
    del parent[path[-1]]


@st.composite
def json_mutation(draw: st.DrawFn, valid: Any) -> tuple[Any, str]:
    """(body value, what changed); body values may hold RawJSON / DupKeys (see wire.py)."""
    body = copy.deepcopy(valid)
    paths = json_paths(body)
    kind = draw(st.sampled_from(["replace"] * 6 + ["delete", "unknown", "dupkey", "wrap", "multi"]))
    if not paths and kind in ("replace", "delete", "dupkey", "multi"):
        kind = "unknown"
    if kind in ("replace", "multi"):
        notes = []
        for _ in range(draw(st.integers(2, 3)) if kind == "multi" else 1):
            path = draw(st.sampled_from(json_paths(body) or [()]))
            if not path:
                continue
            new = draw(like(get_at(body, path)))
            set_at(body, path, new)
            notes.append(f"{list(path)} = {new!r}"[:200])
        return body, f"{kind} " + "; ".join(notes)
    if kind == "delete":
        path = draw(st.sampled_from(paths))
        delete_at(body, path)
        return body, f"delete {list(path)}"
    if kind == "unknown":
        containers = [()] + [p for p in paths if isinstance(get_at(body, p), dict)]
        where = draw(st.sampled_from(containers))
        key, new = draw(odd_key()), draw(odd_json())
        get_at(body, where)[key] = new
        return body, f"unknown {list(where)}[{key!r}] = {new!r}"[:300]
    if kind == "dupkey":
        top = [p for p in paths if len(p) == 1 and isinstance(body, dict)]
        if not top:
            return body, "valid"
        (key,) = draw(st.sampled_from(top))
        odd = draw(like(body[key]))
        odd_first = draw(st.booleans())
        pairs = []
        for k, v in body.items():
            if k == key:
                pairs.extend([(k, odd), (k, v)] if odd_first else [(k, v), (k, odd)])
            else:
                pairs.append((k, v))
        return DupKeys(pairs), f"duplicate key {key!r} with {odd!r}"[:300]
    # wrap: the body is not an object
    new = draw(st.one_of(st.just([body]), st.just([]), odd_scalar()))
    return new, f"body is {new!r}"[:200]


MSGPACK_ODD: list[Any] = [b"", b"\xff\xfe", b"test-token", msgpack.ExtType(5, b"x"), msgpack.ExtType(127, b"\x00" * 4),
                          msgpack.Timestamp(0), msgpack.Timestamp(2**33), 2**64 - 1, -(2**63), float("nan"),
                          {1: "int key"}, {b"bytes key": 1}, {None: 1}, {True: 1}, {1.5: 1}]


@st.composite
def msgpack_mutation(draw: st.DrawFn, valid: Any) -> tuple[Any, str]:
    """What only MessagePack can carry: bytes, extension types, timestamps, non-string keys."""
    body = copy.deepcopy(valid)
    paths = json_paths(body)
    new = draw(st.sampled_from(MSGPACK_ODD))
    if paths and draw(st.booleans()):
        path = draw(st.sampled_from(paths))
        set_at(body, path, new)
        return body, f"msgpack {list(path)} = {new!r}"
    key = draw(st.sampled_from([1, b"text", None, 2.5, -1]))
    body[key] = new
    return body, f"msgpack key {key!r} = {new!r}"


# -- multipart -----------------------------------------------------------------------------------------
SPOOLED = 1100 * 1024  # past starlette's in-memory limit: the upload is spooled to disk
ODD_FILENAMES = [b"", b" ", b"\x00", b"a\x00.wav", b"\xed\xa0\x80.wav", b"\xff\xfe.mp3", b"../../etc/passwd",
                 b"..", b".", b"/", b"C:\\x\\y.wav", b"a\"b.wav", b"a\\\"b", b"x" * 5000 + b".wav", b"\xe2\x80\xae.wav",
                 b"EMULATOR_FAIL.wav", b"noext", b".wav", b"a.WAV", b"a.wav.exe", b"%ED%A0%80.mp3", b"a;b=c.mp3",
                 b"\x1b[2J.mp3", "日本語.wav".encode()]
PART_TYPES = [b"", b"\xff", b"text/plain", b"application/json", b"audio/wav; charset=\xed\xa0\x80", b"x/y/z",
              b"multipart/form-data; boundary=" + BOUNDARY.encode(), b"image/png", b"audio/mpeg"]


@st.composite
def multipart_mutation(draw: st.DrawFn, valid: list[Part]) -> tuple[bytes, bytes, str]:
    """(content type, body, what changed)."""
    parts = [replace(p) for p in valid]
    kind = draw(st.sampled_from(["value"] * 3 + ["file_data"] * 2 + ["filename"] * 2 + [
        "part_type", "delete", "duplicate", "swap", "unknown", "framing", "name", "star_name", "many"]))
    ctype, note = multipart_type(), kind
    i = draw(st.integers(0, len(parts) - 1)) if parts else 0
    if not parts:
        kind = "unknown"
    if kind == "value":
        texts = [j for j, p in enumerate(parts) if p.filename is None] or [i]
        i = draw(st.sampled_from(texts))
        parts[i] = replace(parts[i], data=draw(odd_bytes()))
        note = f"value of {parts[i].name!r} = {parts[i].data[:80]!r}"
    elif kind == "file_data":
        files = [j for j, p in enumerate(parts) if p.filename is not None] or [i]
        i = draw(st.sampled_from(files))
        data = parts[i].data
        new = draw(st.sampled_from([b"", data[:44], data[:200], data[: len(data) // 2], b"RIFF" + b"\x00" * 40,
                                    b"ID3" + b"\xff" * 60, data[:12] + b"\x00" * 5000, b"\x00" * 1000,
                                    data + b"\x00" * SPOOLED, *SWEEP_FILES])
                   | odd_bytes())
        parts[i] = replace(parts[i], data=new)
        note = f"file data of {parts[i].name!r} = {new[:60]!r} ({len(new)} bytes)"
    elif kind == "filename":
        fn = draw(st.sampled_from(ODD_FILENAMES) | odd_bytes().map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")))
        parts[i] = replace(parts[i], filename=fn)
        note = f"filename of {parts[i].name!r} = {fn[:80]!r}"
    elif kind == "part_type":
        t = draw(st.sampled_from(PART_TYPES))
        parts[i] = replace(parts[i], content_type=t)
        note = f"content type of {parts[i].name!r} = {t!r}"
    elif kind == "delete":
        note = f"no {parts[i].name!r}"
        del parts[i]
    elif kind == "duplicate":
        parts.insert(i, replace(parts[i]))
        note = f"{parts[i].name!r} twice"
    elif kind == "swap":  # a file where text is expected, text where a file is expected
        p = parts[i]
        parts[i] = replace(p, filename=None, content_type=None) if p.filename is not None else \
            replace(p, filename=b"x.txt", content_type=b"text/plain")
        note = f"{p.name!r} swapped file/text"
    elif kind == "unknown":
        name = utf8(draw(odd_key()))
        if draw(st.booleans()):
            parts.append(Part(name, draw(odd_bytes())))
        else:
            parts.append(Part(name, draw(odd_bytes()), draw(st.sampled_from(ODD_FILENAMES)), b"application/octet-stream"))
        note = f"unknown part {name[:40]!r}"
    elif kind == "name":
        name = draw(st.sampled_from([b"", b"\x00", b"\xed\xa0\x80", b'a"b', parts[i].name + b"[]",
                                     parts[i].name + b"[0]", parts[i].name.upper(), parts[i].name + b"\x00"]))
        parts[i] = replace(parts[i], name=name)
        note = f"part name {name!r}"
    elif kind == "star_name":
        parts[i] = replace(parts[i], extra_disposition=draw(st.sampled_from([
            b"; filename*=UTF-8''%ED%A0%80.wav", b"; filename*=UTF-8''%00", b"; filename*=utf-16''%FF%FE",
            b"; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", b"; filename*=", b"; name=\"other\""])))
        note = f"disposition extra {parts[i].extra_disposition!r}"
    elif kind == "many":
        n = draw(st.sampled_from([12, 60, 200]))
        copies = draw(st.sampled_from(["text", "file"]))
        extra = [Part(b"f%d" % k, b"v") if copies == "text" else Part(b"file%d" % k, b"x", b"x.bin", None)
                 for k in range(n)]
        parts.extend(extra)
        note = f"{n} extra {copies} parts"
    else:  # framing
        body = multipart_body(parts)
        choice = draw(st.sampled_from(["no_end", "other_boundary", "no_boundary", "truncated", "urlencoded",
                                       "no_disposition", "garbage", "lf_only", "empty"]))
        note = f"framing: {choice}"
        if choice == "no_end":
            return ctype, multipart_body(parts, final=False), note
        if choice == "other_boundary":
            return multipart_type("other"), body, note
        if choice == "no_boundary":
            return b"multipart/form-data", body, note
        if choice == "truncated":
            return ctype, body[: draw(st.integers(0, max(0, len(body) - 1)))], note
        if choice == "urlencoded":
            text = [p for p in parts if p.filename is None]
            q = query_string([(p.name, p.data) for p in text]) if text else b"a=b"
            return b"application/x-www-form-urlencoded", q, note
        if choice == "no_disposition":
            return ctype, b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/plain\r\n\r\nxx\r\n--" + \
                BOUNDARY.encode() + b"--\r\n", note
        if choice == "garbage":
            return ctype, draw(st.binary(max_size=200)), note
        if choice == "lf_only":
            return ctype, body.replace(b"\r\n", b"\n"), note
        return ctype, b"", note
    return ctype, multipart_body(parts), note


# -- query strings and path parameters ------------------------------------------------------------------
MAX_QUERY_VALUE = 6000  # the whole URL stays under 64 KiB, what clients and servers take
RAW_QUERIES = [b"%", b"%zz", b"%ED%A0%80", b"a", b"=", b"&&&", b"=x", b"%00=%00", b"a=1&a=2", b"+=+",
               b"x" * 20000 + b"=1", b"%C0%AF=1", b";a=1"]


@st.composite
def query_mutation(draw: st.DrawFn, valid: tuple[tuple[str, str], ...]) -> tuple[bytes, str]:
    pairs: list[tuple[Any, Any]] = [(utf8(k), utf8(v)) for k, v in valid]
    kinds = ["replace"] * 4 + ["delete", "dup", "unknown", "raw"] if pairs else ["unknown", "raw"]
    kind = draw(st.sampled_from(kinds))
    if kind == "raw":
        raw = draw(st.sampled_from(RAW_QUERIES))
        if pairs and draw(st.booleans()):
            raw = query_string(pairs) + b"&" + raw
        return raw, f"raw query {raw[:60]!r}"
    if kind == "unknown":
        pairs.append((utf8(draw(odd_key()))[:MAX_QUERY_VALUE], draw(odd_bytes())[:MAX_QUERY_VALUE]))
        return query_string(pairs), f"unknown param {pairs[-1]!r}"[:200]
    i = draw(st.integers(0, len(pairs) - 1))
    if kind == "replace":
        new = draw(odd_bytes())[:MAX_QUERY_VALUE]
        note = f"{pairs[i][0]!r} = {new[:80]!r}"
        pairs[i] = (pairs[i][0], new)
    elif kind == "delete":
        note = f"no {pairs[i][0]!r}"
        del pairs[i]
    else:
        new = draw(odd_bytes())[:MAX_QUERY_VALUE]
        odd_first = draw(st.booleans())
        pairs.insert(i if odd_first else i + 1, (pairs[i][0], new))
        note = f"{pairs[i][0]!r} twice, odd {'first' if odd_first else 'second'}: {new[:60]!r}"
    return query_string(pairs), note


def fill_path(template: str, params: dict[str, bytes]) -> str:
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote_from_bytes(value, safe=""))
    return path


# -- whole requests ---------------------------------------------------------------------------------------
def token_mutation(auth: Auth) -> st.SearchStrategy[tuple[list[Header], str]]:
    tokens = st.one_of(
        st.sampled_from([*auth.tokens, "unknown-token", "TEST-TOKEN", " test-token ", "test-token\t"]).map(utf8),
        st.sampled_from([b"", b" ", b"\xff", b"\xed\xa0\x80", b"test-token\x7f", b"x" * 10000, b"test-token\xc3\xa9"]),
    )

    def build(choice: tuple[str, bytes]) -> tuple[list[Header], str]:
        how, token = choice
        if how == "none":
            return [], "no token"
        if how == "double":
            return auth.header(b"test-token") + auth.header(token), f"two tokens, second {token[:40]!r}"
        if how == "scheme":
            return [(b"authorization", token + b" test-token"), (b"apitoken", b"")], f"scheme {token[:20]!r}"
        return auth.header(token), f"token {token[:40]!r}"

    return st.tuples(st.sampled_from(["token"] * 4 + ["none", "double", "scheme"]), tokens).map(build)


@st.composite
def fuzz_request(draw: st.DrawFn, spec: Spec, auth: Auth) -> Wire:
    """A request of `spec`: valid, or with one thing changed."""
    kinds = ["valid", "token", "header", "method"]
    if spec.body == "json":
        kinds += ["json"] * 10 + ["raw_body"] * 2
    elif spec.body == "multipart":
        kinds += ["multipart"] * 10
    else:
        kinds += ["body_on_get"]
    if spec.query:
        kinds += ["query"] * (6 if spec.body == "none" else 2)
    elif spec.body == "none":
        kinds += ["query"]
    if spec.params:
        kinds += ["param"] * 4
    kind = draw(st.sampled_from(kinds))
    method = spec.method
    params = {k: utf8(v) for k, v in spec.params}
    query = query_string(list(spec.query))
    headers = auth.header(b"test-token")
    note = kind
    ctype: bytes | None = None
    body = b""
    value: Any = spec.json
    encoding = draw(st.sampled_from(spec.encodings)) if spec.body == "json" else ""
    ascii_only = draw(st.booleans())
    parts = spec.parts() if spec.parts is not None else []

    if kind == "json" and encoding == "msgpack" and draw(st.integers(0, 3)) == 0:
        value, note = draw(msgpack_mutation(spec.json))
    elif kind == "json":
        value, note = draw(json_mutation(spec.json))
    elif kind == "multipart":
        ctype, body, note = draw(multipart_mutation(parts))
    elif kind == "query":
        query, note = draw(query_mutation(spec.query))
    elif kind == "param":
        name = draw(st.sampled_from(sorted(params)))
        params[name] = draw(st.one_of(odd_bytes().filter(bool), st.sampled_from([b"..", b"%2F", b"a/b", b"?x=1"])))[:MAX_QUERY_VALUE]
        note = f"path param {name} = {params[name][:80]!r}"
    elif kind == "token":
        headers, note = draw(token_mutation(auth))
    elif kind == "method":
        method = draw(st.sampled_from([m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
                                       if m != spec.method]))
        note = f"method {method}"
    elif kind == "raw_body":
        body = draw(st.sampled_from(RAW_BODIES) | st.binary(max_size=64))
        note = f"raw body {body[:60]!r}"
    elif kind == "body_on_get":
        body = draw(st.sampled_from(RAW_BODIES[:12]) | st.binary(max_size=32))
        ctype = draw(st.sampled_from(JSON_TYPES))
        note = f"body on {method}: {body[:40]!r} as {ctype!r}"

    if spec.body == "json" and kind != "raw_body":
        body = msgpack_body(value) if encoding == "msgpack" else json_body(value, ascii_only=ascii_only)
        note += f" [{encoding}{'' if ascii_only or encoding == 'msgpack' else ', raw UTF-8'}]"
    if spec.body == "json":
        ctype = b"application/msgpack" if encoding == "msgpack" else b"application/json"
    elif spec.body == "multipart" and ctype is None:
        ctype = multipart_type()
        body = multipart_body(parts)
    if kind == "header":
        what = draw(st.sampled_from(["ctype", "extra", "no_ctype"]))
        if what == "ctype":
            ctype = draw(st.sampled_from(JSON_TYPES))
            note = f"content type {ctype!r}"
        elif what == "no_ctype":
            ctype = None
            note = "no content type"
        else:
            name = draw(st.sampled_from([b"x-odd", b"accept", b"accept-language", b"x-request-id", b"origin",
                                         b"idempotency-key", b"x-forwarded-for", b"user-agent", b"cookie"]))
            extra = draw(st.sampled_from(ODD_HEADER_VALUES))
            headers = headers + [(name, extra)]
            note = f"header {name!r}: {extra[:40]!r}"
    if ctype is not None:
        headers = headers + [(b"content-type", ctype)]
    return Wire(method, fill_path(spec.path, params), query, headers, body, note)


def odd_text_bytes() -> st.SearchStrategy[bytes]:
    return odd_text().map(utf8)


# -- the sweep: every field of every endpoint, each with the values most likely to break it ------------
SWEEP_JSON: list[Any] = [10**400, -(2**64), 0.5, "\ud800", None, []]
SWEEP_BYTES: list[bytes] = [b"", b"\xed\xa0\x80", b"-1", b"1e400", b"x" * 70_000]
# File contents that text and document parsers trip on: JSON that is no JSON text, nesting past
# Python's stack, UTF-16 with a lone surrogate, a NUL-filled "text", a zip with nothing inside.
SWEEP_FILES: list[bytes] = [b"", b'["\\ud800"]', b"[" * 5000 + b"]" * 5000, b'{"a": NaN, "b": 1e400}',
                            b"\xff\xfe\x00\xd8a\x00", b"\x00" * 64,
                            b"PK\x05\x06" + b"\x00" * 18, b"%PDF-1.4\n%%EOF"]


def sweep(spec: Spec, auth: Auth) -> list[Wire]:
    """Deterministic cases, one per (field, value): the fields of the JSON body (at any depth),
    the text fields of the multipart body, and the query parameters."""
    headers = auth.header(b"test-token")
    params = {k: utf8(v) for k, v in spec.params}
    path = fill_path(spec.path, params)
    query = query_string(list(spec.query))
    out: list[Wire] = []
    if spec.body == "json":
        for where in json_paths(spec.json):
            for value in SWEEP_JSON:
                body = copy.deepcopy(spec.json)
                set_at(body, where, value)
                for encoding in spec.encodings:
                    raw = msgpack_body(body) if encoding == "msgpack" else json_body(body)
                    ctype = b"application/msgpack" if encoding == "msgpack" else b"application/json"
                    out.append(Wire(spec.method, path, query, [*headers, (b"content-type", ctype)], raw,
                                    f"sweep {list(where)} = {value!r} [{encoding}]"[:200]))
    if spec.body == "multipart" and spec.parts is not None:
        valid = spec.parts()
        for i, part in enumerate(valid):
            for value in SWEEP_FILES if part.filename is not None else SWEEP_BYTES:
                parts = [replace(p) for p in valid]
                parts[i] = replace(part, data=value)
                out.append(Wire(spec.method, path, query, [*headers, (b"content-type", multipart_type())],
                                multipart_body(parts), f"sweep part {part.name!r} = {value[:40]!r} ({len(value)} bytes)"))
    for i, (name, _) in enumerate(spec.query):
        for value in SWEEP_BYTES:
            pairs: list[tuple[Any, Any]] = [(k, v) for k, v in spec.query]
            pairs[i] = (name, value[:MAX_QUERY_VALUE])
            body = json_body(spec.json) if spec.body == "json" else b""
            extra = [(b"content-type", b"application/json")] if spec.body == "json" else []
            out.append(Wire(spec.method, path, query_string(pairs), [*headers, *extra], body,
                            f"sweep query {name} = {value[:40]!r}"))
    return out


def filled(spec: Spec, ids: dict[str, Any]) -> Spec:
    """`spec` with the ids a fixture made put in: "@name" in its body, query or path is ids[name]."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str) and value.startswith("@"):
            return ids[value[1:]]
        return value

    return replace(spec, json=fill(spec.json), query=tuple((k, fill(v)) for k, v in spec.query),
                   params=tuple((k, fill(v)) for k, v in spec.params))
