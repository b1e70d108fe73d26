"""Judging a media URL the way KreadoAI would after downloading it.

The emulator cannot download the internet, so a URL is judged by (a) the real file when it is
one this emulator serves (probed, or read from the recipe it was generated from), (b) its
entry in fixtures/kreado/media.yaml, else (c) its extension with the defaults of settings.yaml.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from emulators.engine.render import speech_text
from emulators.media.audio import speech_duration
from emulators.media.probe import probe
from emulators.providers.kreado.exceptions import KreadoError
from emulators.providers.kreado.models import Media, whole_seconds

AUDIO, VIDEO, IMAGE = "audio", "video", "image"
DOWNLOAD_FAILED = {AUDIO: "10003", VIDEO: "10005", IMAGE: "10006"}

# RFC 3986 characters only: "Special characters like Chinese or other non-standard characters
# are not allowed" in the URL.
_URL = re.compile(r"^https?://[A-Za-z0-9][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_EXTENSIONS = {
    "mp3": (AUDIO, "mp3"), "wav": (AUDIO, "wav"), "m4a": (AUDIO, "m4a"), "aac": (AUDIO, "aac"),
    "ogg": (AUDIO, "ogg"), "flac": (AUDIO, "flac"),
    "mp4": (VIDEO, "mp4"), "mov": (VIDEO, "mov"), "webm": (VIDEO, "webm"), "mkv": (VIDEO, "mkv"),
    "avi": (VIDEO, "avi"), "flv": (VIDEO, "flv"),
    "jpg": (IMAGE, "jpeg"), "jpeg": (IMAGE, "jpeg"), "png": (IMAGE, "png"), "webp": (IMAGE, "webp"),
    "gif": (IMAGE, "gif"), "bmp": (IMAGE, "bmp"),
}
_DEFAULT_FORMAT = {AUDIO: "mp3", VIDEO: "mp4", IMAGE: "jpeg"}


def check_url(url: Any) -> str:
    """A usable URL string or 10002."""
    if not isinstance(url, str) or len(url) > 2048 or not _URL.fullmatch(url):
        raise KreadoError("10002")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise KreadoError("10002") from None
    if not parts.hostname:
        raise KreadoError("10002")
    return url


async def judge(emulator: Any, url: str, kind: str) -> Media:
    """What downloading `url` would find; raises the download-failed code of `kind`."""
    record = emulator.file_from_url(url) if "/files/" in url else None
    if record is not None:
        if record.expires_at is not None and emulator.clock.now() >= record.expires_at:
            raise KreadoError(DOWNLOAD_FAILED[kind])
        recipe = record.recipe
        if recipe is not None:
            return _from_recipe(recipe)
        info = await asyncio.get_running_loop().run_in_executor(None, probe, emulator.blobs.path(record.sha256))
        if info is None:
            return Media("unknown", record.size, None, None, None)
        return Media(info.format, info.size, info.duration, info.width, info.height)
    backend = emulator.backend
    known = backend.state.media.get(url)
    if known is not None:
        if known.get("missing"):
            raise KreadoError(DOWNLOAD_FAILED[kind])
        return Media(str(known.get("format", "unknown")), known.get("size"), known.get("duration"),
                     known.get("width"), known.get("height"))
    if "/files/" in url and urlsplit(url).hostname in ("127.0.0.1", "localhost", "testserver"):
        raise KreadoError(DOWNLOAD_FAILED[kind])  # one of ours that does not exist (any more)
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ext_kind, fmt = _EXTENSIONS.get(ext, (kind if not ext else "other", _DEFAULT_FORMAT[kind] if not ext else ext))
    if ext_kind != kind:
        return Media(fmt, None, None, None, None)  # not that kind of file: the caller refuses it
    defaults = backend.state.settings.media_defaults[kind]
    return Media(fmt, defaults.get("size"), defaults.get("duration"), defaults.get("width"), defaults.get("height"))


def _from_recipe(recipe: dict[str, Any]) -> Media:
    kind = recipe.get("kind")
    if kind == "speech":
        return Media(str(recipe.get("format", "mp3")), None, speech_duration(speech_text(recipe)), None, None)
    if kind == "video":
        return Media(str(recipe.get("format", "mp4")), None, float(recipe["duration"]),
                     int(recipe.get("width", 640)), int(recipe.get("height", 360)))
    if kind == "image":
        return Media(str(recipe.get("format", "png")), None, None, int(recipe["width"]), int(recipe["height"]))
    return Media("unknown", None, None, None, None)


# -- the documented limits ------------------------------------------------------------------------
AUDIO_FORMATS = ("mp3", "wav", "m4a")
VIDEO_FORMATS = ("mp4", "mov")
PHOTO_FORMATS = ("jpeg", "png", "webp")


def check_audio(media: Media, limits: dict[str, Any]) -> None:
    if media.format not in AUDIO_FORMATS:
        raise KreadoError("10008")
    d = media.duration
    if d is None or not limits["audio_min_seconds"] <= whole_seconds(d) <= limits["audio_max_seconds"]:
        raise KreadoError("10004")


def check_video(media: Media, limits: dict[str, Any], max_bytes: int, max_seconds: float | None = None,
                inclusive_min: bool = False) -> None:
    if media.format not in VIDEO_FORMATS:
        raise KreadoError("10008")
    if media.size is not None and media.size > max_bytes:
        raise KreadoError("10007")
    d = media.duration
    low = limits["video_min_seconds"]
    if d is None or d < low or (d == low and not inclusive_min):
        raise KreadoError("10008")
    if max_seconds is not None and d > max_seconds:
        raise KreadoError("10008")


def check_clone_resolution(media: Media, limits: dict[str, Any]) -> None:
    w, h = media.width, media.height
    if w is None or h is None:
        return
    if min(w, h) < limits["clone_min_px"] or max(w, h) > limits["clone_max_px"]:
        raise KreadoError("10008")


def check_photo(media: Media, limits: dict[str, Any]) -> None:
    if media.format not in PHOTO_FORMATS:
        raise KreadoError("10008")
    if media.size is not None and media.size > limits["photo_max_bytes"]:
        raise KreadoError("10007")
    lo, hi = limits["photo_min_px"], limits["photo_max_px"]
    for side in (media.width, media.height):
        if side is not None and not lo <= side <= hi:
            raise KreadoError("10008")
