"""Fixture files (`fixtures/<id>/*.yaml`): parsed once per process, a fresh copy per seed.

A reset re-seeds an emulator from its fixtures; parsing YAML each time cost KreadoAI 120 ms
per reset. The parsed document is kept as compact JSON text (re-parsed by the C decoder in
microseconds, which also hands every seed its own copy to change) and parsed again only when
the file changes.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
_cache: dict[Path, tuple[tuple[int, int], str]] = {}
_lock = threading.Lock()


def load(path: Path) -> Any:
    """The YAML document at `path` as JSON-native data, a fresh copy each call. Values YAML has
    and JSON has not (dates) come back as strings."""
    path = Path(path)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(path)
    if cached is None or cached[0] != stamp:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        with _lock:
            _cache[path] = (stamp, text)
        cached = (stamp, text)
    return json.loads(cached[1])
