"""Files the emulator hands out URLs for: uploads kept as blobs, results made from recipes.

A provider's CDN is played by the emulator itself: every URL it returns points at
`/files/{id}` on its own port. Uploaded bytes are stored content-addressed on disk (state keeps
only metadata, so snapshots stay small); generated results (speech, video, images) are kept as
a recipe and rendered on first download, then cached.
"""
from __future__ import annotations

import atexit
import hashlib
import heapq
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import orjson

from emulators.engine import sharing
from emulators.engine.ids import hex_id
from emulators.media.sniff import MIME_TYPES


@dataclass(slots=True)
class FileRecord:
    id: str  # includes the extension: "f_abc123.mp3"
    content_type: str
    created_at: float
    owner: str | None = None
    name: str | None = None  # the uploader's file name, if any
    size: int | None = None
    sha256: str | None = None  # stored bytes (uploads)
    # Generated content, as compact JSON text ('{"kind":"speech",...}'): a string costs a third
    # of the dict it holds, and there is one per job result. Held packed (see Packed) when
    # made by `generated`; reading it always gives the text.
    recipe_json: str | None = None
    expires_at: float | None = None

    @property
    def recipe(self) -> dict[str, Any] | None:
        """The recipe of generated content (a fresh dict), None for uploaded bytes."""
        text = self.recipe_json
        return None if text is None else json.loads(text)

    @classmethod
    def generated(cls, id: str, content_type: str, created_at: float, owner: str | None,
                  recipe: dict[str, Any], expires_at: float | None, pack: bool = True) -> FileRecord:
        """The record of a file made from `recipe`, its text held packed when that is smaller
        (`pack`: worth it for the one-per-job results, not for a few hundred seeded files)."""
        record = cls(id=id, content_type=content_type, created_at=created_at, owner=owner, expires_at=expires_at)
        _recipe_slot.__set__(record, pack_recipe(recipe) if pack else recipe_text(recipe))
        return record


# The text of a recipe as the texts between the occurrences of one of its values and that
# value, in turn: the value is the recipe's own string object (a job id used as a seed, which
# its job already holds) and the texts between are shared by every recipe of that shape. A few
# references instead of a string of 100-200 bytes per result file.
Packed = tuple[str, ...]
_PACK_MIN = 12  # shorter values are not worth a tuple


def pack_recipe(recipe: dict[str, Any]) -> str | Packed:
    """The recipe's text, packed around its longest string value when that value is written
    as it is (no escapes) and the texts around it are short enough to be shared."""
    text = recipe_text(recipe)
    value = max((v for v in recipe.values() if type(v) is str and len(v) >= _PACK_MIN), key=len, default=None)
    if value is None:
        return text
    if not value.isprintable() or '"' in value or "\\" in value:  # JSON would escape something
        return text
    quoted = f'"{value}"'
    between = text.split(quoted)
    if len(between) < 2 or max(map(len, between)) >= sharing.TEXT_MAX:
        return text
    last = len(between) - 1
    packed: list[str] = []
    for i, piece in enumerate(between):
        shared = sharing.text(('"' if i else "") + piece + ('"' if i < last else ""))
        assert shared is not None
        packed.append(shared)
        if i < last:
            packed.append(value)
    return tuple(packed)


_recipe_slot = FileRecord.__dict__["recipe_json"]  # the slot itself, which may hold a Packed


def _recipe_text(record: FileRecord) -> str | None:
    held = _recipe_slot.__get__(record, FileRecord)
    return "".join(held) if type(held) is tuple else held


def _set_recipe_text(record: FileRecord, text: str | None) -> None:
    _recipe_slot.__set__(record, text)


# Every reader of `recipe_json` (the store's dumps, equality, repr) sees the text.
FileRecord.recipe_json = property(_recipe_text, _set_recipe_text)  # type: ignore[assignment, method-assign]


class Expiries:
    """When files stop being served, earliest first: file ids grouped by their expiry time.
    The results of the jobs one tick settles expire together, so a file costs one slot in its
    group's list rather than a (time, id) tuple of its own in a heap."""

    __slots__ = ("times", "_groups")

    def __init__(self, pairs: Iterable[tuple[float, str]] = ()) -> None:
        self.times: list[float] = []  # a heap of the distinct times (peek: times[0])
        self._groups: dict[float, list[str]] = {}
        for at, file_id in pairs:
            self.push(at, file_id)

    def push(self, at: float, file_id: str) -> None:
        group = self._groups.get(at)
        if group is None:
            self._groups[at] = [file_id]
            heapq.heappush(self.times, at)
        else:
            group.append(file_id)

    def due(self, now: float) -> Iterator[str]:
        """Takes out the ids whose time is `now` or earlier (a record may have changed its
        expiry since: the caller checks)."""
        times, groups = self.times, self._groups
        while times and times[0] <= now:
            yield from groups.pop(heapq.heappop(times))


def recipe_text(recipe: dict[str, Any]) -> str:
    """Compact JSON, non-ASCII kept (orjson: seeding makes hundreds of these on every reset)."""
    return orjson.dumps(recipe).decode()


Renderer = Callable[[dict[str, Any]], bytes]


class BlobStore:
    """Content-addressed bytes on disk."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:  # a temporary store lives as long as the process
            root = Path(tempfile.mkdtemp(prefix="emulators-blobs-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()

    def path(self, digest: str) -> Path:
        """Where a blob lives; ValueError for anything but a SHA-256 hex digest, so that no
        record (a restored state's included) can point outside the store."""
        if not is_digest(digest):
            raise ValueError("a blob reference is 64 lowercase hex characters")
        return self.root / digest[:2] / digest

    def contains(self, path: Path) -> bool:
        """Whether `path`, links resolved, is a file inside the store."""
        try:
            return path.resolve().is_relative_to(self._real_root) and path.is_file()
        except OSError:
            return False

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp" + secrets.token_hex(4))
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def put_file(self, src: BinaryIO) -> tuple[str, int]:
        """Copies an open file in chunks (never whole in memory); returns (digest, size)."""
        hasher = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self.root, suffix=".part")
        size = 0
        with os.fdopen(fd, "wb") as out:
            src.seek(0)
            while chunk := src.read(1 << 20):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        digest = hasher.hexdigest()
        path = self.path(digest)
        path.parent.mkdir(exist_ok=True)
        os.replace(tmp_name, path)
        return digest, size

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_HEX = frozenset("0123456789abcdef")


def is_digest(text: object) -> bool:
    return isinstance(text, str) and len(text) == 64 and _HEX.issuperset(text)


def new_file_id(ext: str) -> str:
    return f"f_{hex_id(10)}.{ext}"


def content_type_for(ext: str) -> str:
    return MIME_TYPES.get(ext, "application/octet-stream")
