"""Content-based format detection from magic bytes (pure stdlib, no I/O).

Emulators judge uploads by what the bytes are, never by filename or the client's
Content-Type, so this only ever looks at the first few dozen bytes of a file.
"""

from __future__ import annotations

import struct

__all__ = ["HEAD_SIZE", "MIME_TYPES", "mime_type", "sniff"]

#: How many leading bytes sniff() needs; callers reading from disk read this much.
HEAD_SIZE = 64

MIME_TYPES: dict[str, str] = {
    # audio
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",  # Opus is always shipped in Ogg here (RFC 7845)
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "pcm": "audio/pcm",
    # video
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    # images
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "avif": "image/avif",
    "heic": "image/heic",
    # documents
    "pdf": "application/pdf",
    "zip": "application/zip",
}

# ISO BMFF major brands that are still images, not movies.
_IMAGE_BRANDS = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"mif1": "heic"}
# Legacy QuickTime files may start with a non-ftyp atom.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# BITMAPINFOHEADER variants (core, v1..v5), to tell a BMP from text starting with "BM".
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}


def mime_type(fmt: str | None, default: str = "application/octet-stream") -> str:
    return MIME_TYPES.get(fmt or "", default)


def sniff(head: bytes) -> str | None:
    """Return the format id of `head` (a file's leading bytes) or None.

    Ids: 'mp3' 'wav' 'webm' 'mkv' 'ogg' 'flac' 'm4a' 'mp4' 'mov' 'avi' 'aac' 'png' 'jpeg'
    'webp' 'gif' 'bmp' 'pdf' 'zip', plus 'avif'/'heic' (ISO BMFF still images, so
    they are not mistaken for mp4).  Only the first HEAD_SIZE bytes matter.
    """
    h = bytes(head[:HEAD_SIZE])
    if len(h) < 4:
        return None
    if h.startswith(b"ID3") and len(h) >= 10 and h[3] < 0xFF:
        return "mp3"  # ID3v2 tag; it is in practice only ever put in front of MP3
    if h[:4] in (b"RIFF", b"RF64") and len(h) >= 12:
        return {b"WAVE": "wav", b"WEBP": "webp", b"AVI ": "avi"}.get(h[8:12])
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if _ebml_doctype(h) == b"webm" else "mkv"
    if h.startswith(b"OggS"):
        return "ogg"
    if h.startswith(b"fLaC"):
        return "flac"
    if len(h) >= 12 and h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "m4a"
        if brand == b"qt  ":
            return "mov"
        return _IMAGE_BRANDS.get(brand, "mp4")
    if len(h) >= 8 and h[4:8] in _QT_ATOMS and struct.unpack(">I", h[:4])[0] >= 8:
        return "mov"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if h.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if h.startswith(b"%PDF-"):
        return "pdf"
    if h[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if h.startswith(b"BM") and len(h) >= 18 and h[6:10] == b"\0\0\0\0":
        if struct.unpack("<I", h[14:18])[0] in _BMP_DIB_SIZES:
            return "bmp"
    if h[0] == 0xFF:
        if h[1] & 0xF6 == 0xF0:  # 12-bit sync + layer 00 => ADTS
            return "aac" if (h[2] >> 2) & 0x0F < 13 else None  # valid sampling index
        if _is_mpeg_audio_frame(h):
            return "mp3"
    return None


def _is_mpeg_audio_frame(h: bytes) -> bool:
    """An MPEG-1/2/2.5 audio frame header: 11-bit sync, no reserved field values."""
    b1, b2 = h[1], h[2]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate, rate = b2 >> 4, (b2 >> 2) & 3
    return b1 & 0xE0 == 0xE0 and version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _vint(buf: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """Decode an EBML variable-length integer at pos -> (value, next_pos)."""
    first = buf[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(buf):
        raise ValueError("bad EBML vint")
    value = first if keep_marker else first & ((0x80 >> (length - 1)) - 1)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, pos + length


def _ebml_doctype(h: bytes) -> bytes | None:
    """The DocType string ('webm' / 'matroska') from the EBML header in h, if present."""
    try:
        _, pos = _vint(h, 4, keep_marker=False)  # EBML header size; walk its children
        while pos < len(h):
            elem_id, pos = _vint(h, pos, keep_marker=True)
            size, pos = _vint(h, pos, keep_marker=False)
            if elem_id == 0x4282:
                return h[pos : pos + size].rstrip(b"\0")
            pos += size
    except (ValueError, IndexError):
        pass
    return b"webm" if b"\x42\x82\x84webm" in h else None  # fallback: plain byte search
