"""Deterministic still images (png/jpeg/webp) of an exact size, without numpy.

Pictures are built row-wise from bytes multiplication (C speed): a seed-coloured
vertical gradient with a contrasting stripe, so different seeds look different.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib
from fractions import Fraction

import av

__all__ = ["IMAGE_OUTPUT_FORMATS", "make_image", "rgb_rows"]

IMAGE_OUTPUT_FORMATS = ("png", "jpeg", "webp")
_MAX_SIDE = 4096  # an RGB frame of 4096x4096 is already 48 MiB
# JFIF APP0 (v1.01, no density units, 1:1): FFmpeg's mjpeg writes only a COM segment,
# and some strict sniffers want the JFIF marker right after SOI.
_JFIF_APP0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def _palette(seed: str) -> tuple[bytes, bytes]:
    h = hashlib.sha256(("image:" + seed).encode("utf-8", "surrogatepass")).digest()
    return h[0:3], bytes(255 - b for b in h[0:3])  # base colour and its complement


def rgb_rows(width: int, height: int, seed: str = "") -> list[bytes]:
    """Rows of packed RGB24 pixels (width*3 bytes each) for the seed's picture."""
    base, accent = _palette(seed)
    x0, x1 = width * 2 // 5, max(width * 3 // 5, width * 2 // 5 + 1)  # the middle-fifth stripe
    stripe = accent * (x1 - x0)
    rows = []
    for y in range(height):
        k = 0.35 + 0.65 * y / max(1, height - 1)  # darker at the top
        color = bytes(int(c * k) for c in base)
        rows.append(color * x0 + stripe + color * (width - x1))
    return rows


def _png(width: int, height: int, seed: str) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    raw = b"".join(b"\x00" + row for row in rgb_rows(width, height, seed))  # filter type 0 per row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def rgb_frame(width: int, height: int, seed: str = "") -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    pad = bytes(plane.line_size - 3 * width)  # FFmpeg pads rows to an aligned stride
    plane.update(b"".join(row + pad for row in rgb_rows(width, height, seed)))
    return frame


def _encode_still(codec: str, pix_fmt: str, width: int, height: int, seed: str) -> bytes:
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, Fraction(1, 25)
    frame = rgb_frame(width, height, seed).reformat(format=pix_fmt)
    return b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))


@functools.lru_cache(maxsize=128)
def make_image(width: int, height: int, *, fmt: str = "png", seed: str = "") -> bytes:
    """A real width x height image: 'png' (stdlib zlib), 'jpeg' (FFmpeg mjpeg + JFIF
    APP0 inserted after SOI), 'webp' (libwebp, lossy VP8 in RIFF).  Deterministic; cached."""
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"image size must be 1..{_MAX_SIDE} per side, got {width}x{height}")
    if fmt == "png":
        return _png(width, height, seed)
    if fmt in ("jpeg", "jpg"):
        data = _encode_still("mjpeg", "yuvj420p", width, height, seed)
        return data[:2] + _JFIF_APP0 + data[2:]
    if fmt == "webp":
        return _encode_still("libwebp", "yuv420p", width, height, seed)
    raise ValueError(f"unknown image format {fmt!r}; expected one of {IMAGE_OUTPUT_FORMATS}")
