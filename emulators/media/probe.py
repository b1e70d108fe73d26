"""Measure an uploaded media file (format, duration, size) by its content, via PyAV.

probe() is the gatekeeper for uploads, so it must never raise or hang on hostile
input: the format comes from sniff() (magic bytes), FFmpeg is forced to that demuxer
(no open-ended format probing), and the first frame must actually decode.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from .sniff import HEAD_SIZE, sniff

__all__ = ["IMAGE_FORMATS", "MediaInfo", "probe"]

# sniff id -> FFmpeg demuxer
_DEMUXERS = {
    "mp3": "mp3",
    "wav": "wav",
    "webm": "matroska",
    "mkv": "matroska",
    "ogg": "ogg",
    "flac": "flac",
    "m4a": "mov",
    "mp4": "mov",
    "mov": "mov",
    "avi": "avi",
    "aac": "aac",
    "png": "png_pipe",
    "jpeg": "jpeg_pipe",
    "webp": "webp_pipe",
    "gif": "gif",
    "bmp": "bmp_pipe",
}
IMAGE_FORMATS = frozenset({"png", "jpeg", "webp", "gif", "bmp"})
# Raw bitstreams without a container index: FFmpeg may only *estimate* their duration
# from the bit rate, so it is cross-checked against packet timestamps.
_RAW_AUDIO = frozenset({"mp3", "aac"})
_RAW_SLACK = 0.15  # s; more than encoder delay + padding (~3 frames) means the header is not the truth
_MAX_DECODE_PACKETS = 64  # a real file yields a frame long before this
# Decoder guard against "pixel bombs" (a few bytes of header claiming 8000x29000 px make
# FFmpeg allocate and churn for seconds).  Room for 108 MP phone photos, nothing more.
_MAX_PIXELS = 120_000_000
_DECODER_LIMITS = {"max_pixels": str(_MAX_PIXELS)}


@dataclass(frozen=True, slots=True)
class MediaInfo:
    format: str  # the sniff() id
    size: int  # bytes
    duration: float | None  # seconds; None for still images
    width: int | None
    height: int | None
    has_audio: bool
    has_video: bool  # attached pictures (cover art) do not count


def probe(source: bytes | bytearray | memoryview | str | os.PathLike[str]) -> MediaInfo | None:
    """MediaInfo for a media file given as bytes or a path; None if it isn't one.

    Never raises for bad input (garbage, truncated, text, missing file).
    """
    target: io.BytesIO | str | bytes
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            size, head, target = len(data), data[:HEAD_SIZE], io.BytesIO(data)
        else:
            path = os.fspath(source)
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
                head = fh.read(HEAD_SIZE)
            target = path
    except (OSError, TypeError, ValueError):
        return None
    fmt = sniff(head)
    if fmt not in _DEMUXERS:
        return None
    try:
        # Paths are opened here, not by FFmpeg: av.open(str) would honour protocol
        # prefixes such as "http:" or "concat:" in the name.
        with target if isinstance(target, io.BytesIO) else open(target, "rb") as fh:
            # options reach the decoders run by find_stream_info; _walk sets them again
            # on the stream's own decoder, which PyAV opens lazily
            with av.open(fh, "r", format=_DEMUXERS[fmt], options=_DECODER_LIMITS) as container:
                return _inspect(container, fmt, size)
    except Exception:  # noqa: BLE001 - FFmpeg/PyAV raise many types on hostile input; "not media" is the answer
        return None


def _inspect(container: Any, fmt: str, size: int) -> MediaInfo | None:
    attached = av.stream.Disposition.attached_pic
    videos = [s for s in container.streams.video if not s.disposition & attached]
    audios = list(container.streams.audio)
    if fmt in IMAGE_FORMATS:
        if not container.streams.video:
            return None
        frame, _ = _walk(container, container.streams.video[0], scan=False)
        return None if frame is None else MediaInfo(fmt, size, None, *_display_size(frame), False, False)
    primary = videos[0] if videos else audios[0] if audios else None
    if primary is None:
        return None
    claimed = container.duration / av.time_base if container.duration and container.duration > 0 else None
    frame, scanned = _walk(container, primary, scan=claimed is None or fmt in _RAW_AUDIO)
    if frame is None:
        return None
    duration = claimed if claimed is not None else scanned
    if fmt in _RAW_AUDIO and scanned is not None:
        # FFmpeg's figure for raw MP3/ADTS is either exact (Xing/LAME header: gapless,
        # excludes encoder delay/padding) or a bit-rate guess (VBR, truncated file).
        # The packet scan is always roughly right, so it arbitrates between the two.
        if claimed is None or abs(claimed - scanned) > _RAW_SLACK:
            duration = scanned
    width, height = _display_size(frame) if videos else (None, None)
    return MediaInfo(fmt, size, duration, width, height, bool(audios), bool(videos))


def _display_size(frame: Any) -> tuple[int, int]:
    """Width/height as shown: phone videos are often stored landscape plus a 90 degree
    display-matrix rotation (EXIF orientation for JPEGs is exported the same way)."""
    try:
        rotation = int(frame.rotation or 0)
    except Exception:  # noqa: BLE001 - malformed side data: fall back to the coded size
        rotation = 0
    return (frame.height, frame.width) if round(rotation / 90) % 2 else (frame.width, frame.height)


def _walk(container: Any, primary: Any, scan: bool) -> tuple[Any | None, float | None]:
    """One demux pass: (first decoded frame of primary, duration from packet timestamps).

    Decoding the first frame proves the payload is real.  With scan=True the pass
    reads every stream to the end and measures (latest packet end - earliest start);
    a packet without a duration (live WebM from MediaRecorder has none) is assumed to
    last as long as the gap before it.
    """
    primary.codec_context.options = dict(_DECODER_LIMITS)
    frame = None
    first: Fraction | None = None
    end: Fraction | None = None
    last_pts: dict[int, Fraction] = {}
    gap: dict[int, Fraction] = {}
    decoded = 0
    for packet in container.demux() if scan else container.demux(primary):
        if frame is None and packet.stream.index == primary.index:
            decoded += 1
            if decoded > _MAX_DECODE_PACKETS:
                return None, None
            frame = next(iter(packet.decode()), None)
        if not scan:
            if frame is not None:
                break
            continue
        if packet.pts is None or packet.time_base is None or not packet.size:
            continue
        idx, start = packet.stream.index, packet.pts * packet.time_base
        if idx in last_pts and start > last_pts[idx]:
            gap[idx] = start - last_pts[idx]
        last_pts[idx] = start
        length = packet.duration * packet.time_base if packet.duration else gap.get(idx, Fraction(0))
        first = start if first is None else min(first, start)
        end = start + length if end is None else max(end, start + length)
    if frame is None:
        return None, None
    return frame, (float(end - first) if first is not None and end is not None else None)
