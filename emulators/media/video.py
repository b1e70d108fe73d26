"""Deterministic real video files (mp4/mov H.264, webm VP8), optionally with audio.

Frames are yuv420p planes assembled from bytes multiplication (no numpy): a seed-
coloured background with a bright bar sweeping left to right.  Encoders run at
their fastest settings; the content is trivial so files stay small.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av

from .audio import (
    _MUX_OPTIONS,
    _frames,
    _setup_audio_stream,
    _write_faststart,
    bytes_cache,
    synthesize_pcm,
    tone_pcm,
)
from .image import make_image

__all__ = ["VIDEO_FORMATS", "make_thumbnail", "make_video"]

VIDEO_FORMATS = ("mp4", "mov", "webm")
_AUDIO_RATE = 48000
_MAX_SIDE = 4096


def _colors(seed: str) -> tuple[int, int, int, int]:
    """(background Y, U, V, bar Y) for seed; the bar always contrasts with the background."""
    h = hashlib.sha256(("video:" + seed).encode("utf-8", "surrogatepass")).digest()
    y = 40 + h[0] % 120
    return y, 64 + h[1] % 128, 64 + h[2] % 128, 235 if y < 128 else 16


def _plane_bytes(plane: Any, width: int, rows: int, fill: int, bar: tuple[int, int, int] | None) -> bytes:
    """A plane's buffer (stride-padded) of `fill` with an optional vertical bar (x0, x1, value)."""
    if bar:
        x0, x1, value = bar
        row = bytes([fill]) * x0 + bytes([value]) * (x1 - x0) + bytes([fill]) * (width - x1)
    else:
        row = bytes([fill]) * width
    return (row + bytes(plane.line_size - width)) * rows


def _video_frames(n: int, width: int, height: int, seed: str) -> Iterator[av.VideoFrame]:
    y, u, v, bar_y = _colors(seed)
    bar_w = max(2, width // 16) & ~1
    travel = max(1, width - bar_w)
    for i in range(n):
        x0 = (i * travel // max(1, n - 1)) & ~1 if n > 1 else travel // 2 & ~1
        frame = av.VideoFrame(width, height, "yuv420p")
        py, pu, pv = frame.planes
        py.update(_plane_bytes(py, width, height, y, (x0, x0 + bar_w, bar_y)))
        pu.update(_plane_bytes(pu, width // 2, height // 2, u, None))
        pv.update(_plane_bytes(pv, width // 2, height // 2, v, None))
        frame.pts = i
        yield frame


def _setup_video(out: Any, fmt: str, width: int, height: int, fps: int) -> Any:
    if fmt == "webm":
        stream = out.add_stream("libvpx", rate=fps)
        # realtime + max cpu-used: the fastest libvpx mode
        stream.codec_context.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        stream.bit_rate = 500_000
    else:
        stream = out.add_stream("libx264", rate=fps)
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "28"}
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = Fraction(1, fps)
    stream.codec_context.time_base = Fraction(1, fps)
    return stream


@bytes_cache(max_entries=64, max_bytes=128 << 20)
def make_video(duration: float, width: int = 640, height: int = 360, *, fmt: str = "mp4", fps: int = 5,
               with_audio: bool = False, seed: str = "", speech: str = "", voice: str = "") -> bytes:
    """A real video: 'mp4' / 'mov' (H.264 ultrafast, yuv420p, moov first) or 'webm'
    (VP8 realtime).  round(duration * fps) frames (>= 1), so the probed duration is
    within half a frame of `duration`; odd width/height are rounded up to even.
    with_audio adds a 440 Hz mono tone of exactly `duration` (48 kHz; AAC in
    mp4/mov, Opus in webm); `speech` instead adds that text as the synthesizer speaks it
    (voice `voice`), cut or padded with silence to `duration` (a lip-sync result carries the
    speech it was made from).  Deterministic; cached (LRU, bounded by count and size).
    """
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f"unknown video format {fmt!r}; expected one of {VIDEO_FORMATS}")
    if not (math.isfinite(duration) and duration > 0) or fps <= 0:
        raise ValueError("duration and fps must be positive")
    width, height = width + (width & 1), height + (height & 1)
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"video size must be 1..{_MAX_SIDE} per side")
    n_frames = max(1, round(duration * fps))
    if speech:
        with_audio = True
        size = 2 * round(duration * _AUDIO_RATE)
        pcm = synthesize_pcm(speech, sample_rate=_AUDIO_RATE, voice_seed=voice)[:size]
        pcm += b"\x00" * (size - len(pcm))
    else:
        pcm = tone_pcm(duration, 440, _AUDIO_RATE) if with_audio else b""

    def write(target: Any, options: dict[str, str]) -> None:
        with av.open(target, "w", format=fmt, options={**_MUX_OPTIONS, **options}) as out:
            vstream = _setup_video(out, fmt, width, height, fps)
            astream = None
            if with_audio:
                astream = out.add_stream("libopus" if fmt == "webm" else "aac", rate=_AUDIO_RATE)
                _setup_audio_stream(astream, _AUDIO_RATE, None, 64000, {})
            # Interleave: feed audio up to each video frame's end time, so the
            # muxer never has to buffer a whole track.
            audio_frames = _frames(pcm, _AUDIO_RATE, 0, _AUDIO_RATE // fps or 1) if astream else iter(())
            pending = next(audio_frames, None)
            for i, frame in enumerate(_video_frames(n_frames, width, height, seed)):
                out.mux(vstream.encode(frame))
                while astream and pending is not None and pending.pts < (i + 1) * _AUDIO_RATE // fps:
                    out.mux(astream.encode(pending))
                    pending = next(audio_frames, None)
            out.mux(vstream.encode(None))
            if astream:
                while pending is not None:
                    out.mux(astream.encode(pending))
                    pending = next(audio_frames, None)
                out.mux(astream.encode(None))

    if fmt in ("mp4", "mov"):
        return _write_faststart(write)
    buf = io.BytesIO()
    write(buf, {})
    return buf.getvalue()


def make_thumbnail(width: int, height: int, *, fmt: str = "jpeg", seed: str = "") -> bytes:
    """A still poster image for a video (same generator as image.make_image)."""
    return make_image(width, height, fmt=fmt, seed=seed)
