"""Metadata removal, at the byte level for images (exact: pixel data is never re-encoded),
with pypdf for PDF and zipfile for Office Open XML.

    JPEG  drops APP1 (EXIF, XMP), APP2 (ICC, MPF), APP3-APP13 (IPTC/Photoshop in APP13), APP15,
          COM; keeps APP0 (JFIF) and APP14 (Adobe colour transform).
    PNG   drops tEXt/zTXt/iTXt (text, XMP), tIME, eXIf, iCCP; chunk CRCs are checked.
    WebP  drops EXIF, XMP and ICCP chunks and clears their VP8X flags.
    TIFF  drops descriptive tags (Make, Model, Software, DateTime, Artist, Copyright, ...) and
          the EXIF/GPS/XMP/IPTC/ICC tags of every IFD; their bytes are zeroed.
    PDF   drops the document information dictionary and the XMP metadata stream.
    DOCX/XLSX/PPTX  empty docProps/core.xml, app.xml and custom.xml; zip entry times are reset.
    XLS/DOC/PPT (compound files)  empty SummaryInformation / DocumentSummaryInformation property
          sets in place, directory entry times zeroed (ole.py).
    TXT/CSV/JSON/BMP carry no metadata: returned unchanged.

Anything that does not parse raises StripFailed (400 metadata_stripping_failed).
"""
from __future__ import annotations

import io
import logging
import struct
import zipfile
import zlib
from xml.etree import ElementTree

# broken uploads are expected here; pypdf would log every one of them
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


MAX_UNZIPPED = 512 * 1024 * 1024  # all parts of an Office file together


class StripFailed(ValueError):
    pass


def strip(data: bytes, kind: str) -> tuple[bytes, str, list[str]]:
    """(cleaned bytes, strip method, names of what was removed)."""
    try:
        if kind == "jpeg":
            return _jpeg(data)
        if kind == "png":
            return _png(data)
        if kind == "webp":
            return _webp(data)
        if kind == "tiff":
            return _tiff(data)
        if kind == "pdf":
            return _pdf(data)
        if kind in ("docx", "xlsx", "pptx"):
            return _office(data)
        if kind == "ole":
            from emulators.providers.kai.ole import strip_ole

            cleaned, fields = strip_ole(data)
            return cleaned, "ole_properties", fields
        if kind in ("txt", "csv", "json", "bmp"):
            return data, "none", []
    except StripFailed:
        raise
    except (struct.error, IndexError, ValueError, KeyError, zipfile.BadZipFile, ElementTree.ParseError,
            OSError, EOFError, NotImplementedError, zlib.error):  # zipfile: unknown methods/versions
        raise StripFailed(kind) from None
    raise StripFailed(kind)


def _add(fields: list[str], name: str) -> None:
    if name not in fields:
        fields.append(name)


# -- JPEG ---------------------------------------------------------------------------------------------
def _jpeg(data: bytes) -> tuple[bytes, str, list[str]]:
    if data[:2] != b"\xff\xd8":
        raise StripFailed("jpeg")
    out = bytearray(b"\xff\xd8")
    fields: list[str] = []
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise StripFailed("jpeg")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[pos:pos + 2]
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise StripFailed("jpeg")
        payload = data[pos + 4:end]
        drop = None
        if marker == 0xE1:
            drop = "EXIF" if payload.startswith(b"Exif\x00") else "XMP" if b"ns.adobe.com/xap" in payload[:64] \
                or payload.startswith(b"http://ns.adobe.com/xmp/extension/") else "APP1"
        elif marker == 0xE2:
            drop = "ICC" if payload.startswith(b"ICC_PROFILE\x00") else "MPF" if payload.startswith(b"MPF\x00") else "APP2"
        elif marker == 0xED:
            drop = "IPTC"
        elif marker == 0xFE:
            drop = "COMMENT"
        elif 0xE3 <= marker <= 0xEF and marker != 0xEE:
            drop = f"APP{marker - 0xE0}"
        elif marker == 0xE0 and not payload.startswith(b"JFIF\x00"):
            drop = "APP0"
        if drop:
            _add(fields, drop)
        else:
            out += data[pos:end]
        pos = end
        if marker == 0xDA:  # start of scan: the rest is image data
            rest = data[pos:]
            if b"\xff\xd9" not in rest:
                raise StripFailed("jpeg")
            out += rest
            return bytes(out), "imagemagick", fields
        if marker == 0xD9:
            raise StripFailed("jpeg")


# -- PNG ----------------------------------------------------------------------------------------------
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_DROP = {b"tEXt": "Text", b"zTXt": "Text", b"tIME": "Time", b"eXIf": "EXIF", b"iCCP": "ICC"}


def _png(data: bytes) -> tuple[bytes, str, list[str]]:
    if not data.startswith(_PNG_SIG):
        raise StripFailed("png")
    out = bytearray(_PNG_SIG)
    fields: list[str] = []
    pos = 8
    seen_ihdr = False
    while pos < len(data):
        if pos + 12 > len(data):
            raise StripFailed("png")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise StripFailed("png")
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(ctype + body) != struct.unpack(">I", data[end - 4:end])[0]:
            raise StripFailed("png")
        if not seen_ihdr and ctype != b"IHDR":
            raise StripFailed("png")
        seen_ihdr = True
        if ctype == b"iTXt":
            _add(fields, "XMP" if body.startswith(b"XML:com.adobe.xmp\x00") else "Text")
        elif ctype in _PNG_DROP:
            _add(fields, _PNG_DROP[ctype])
        else:
            out += data[pos:end]
        pos = end
        if ctype == b"IEND":
            return bytes(out), "imagemagick", fields
    raise StripFailed("png")


# -- WebP ---------------------------------------------------------------------------------------------
_WEBP_DROP = {b"EXIF": ("EXIF", 0x08), b"XMP ": ("XMP", 0x04), b"ICCP": ("ICC", 0x20)}


def _webp(data: bytes) -> tuple[bytes, str, list[str]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise StripFailed("webp")
    size = struct.unpack("<I", data[4:8])[0]
    end_all = min(len(data), 8 + size)
    chunks: list[bytearray] = []
    fields: list[str] = []
    clear = 0
    pos = 12
    while pos + 8 <= end_all:
        fourcc, length = struct.unpack("<4sI", data[pos:pos + 8])
        end = pos + 8 + length + (length & 1)
        if pos + 8 + length > end_all:
            raise StripFailed("webp")
        if fourcc in _WEBP_DROP:
            name, flag = _WEBP_DROP[fourcc]
            _add(fields, name)
            clear |= flag
        else:
            chunks.append(bytearray(data[pos:end]))
        pos = end
    if not chunks or not any(c[:4] in (b"VP8 ", b"VP8L", b"VP8X") for c in chunks):
        raise StripFailed("webp")
    for chunk in chunks:
        if chunk[:4] == b"VP8X":
            chunk[8] &= ~clear & 0xFF
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body, "imagemagick", fields


# -- TIFF ---------------------------------------------------------------------------------------------
_TIFF_TAGS = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software", 306: "DateTime",
              315: "Artist", 316: "HostComputer", 33432: "Copyright", 700: "XMP", 33723: "IPTC",
              34377: "Photoshop", 34665: "EXIF", 34853: "GPS", 34675: "ICC", 37510: "UserComment",
              40091: "XPTitle", 40092: "XPComment", 40093: "XPAuthor", 40094: "XPKeywords",
              40095: "XPSubject"}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _tiff(data: bytes) -> tuple[bytes, str, list[str]]:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        raise StripFailed("tiff")
    buf = bytearray(data)
    fields: list[str] = []
    offset = struct.unpack(order + "I", data[4:8])[0]
    seen: set[int] = set()
    while offset:
        if offset in seen or offset + 2 > len(buf) or len(seen) > 1000:
            raise StripFailed("tiff")
        seen.add(offset)
        count = struct.unpack(order + "H", buf[offset:offset + 2])[0]
        table_end = offset + 2 + 12 * count
        if table_end + 4 > len(buf):
            raise StripFailed("tiff")
        kept, dropped = [], []
        for i in range(count):
            entry = bytes(buf[offset + 2 + 12 * i:offset + 14 + 12 * i])
            (kept, dropped)[struct.unpack(order + "H", entry[:2])[0] in _TIFF_TAGS].append(entry)
        next_ifd = bytes(buf[table_end:table_end + 4])
        for entry in dropped:
            tag, typ, n = struct.unpack(order + "HHI", entry[:8])
            _add(fields, _TIFF_TAGS[tag])
            nbytes = _TYPE_SIZES.get(typ, 1) * n
            if tag in (34665, 34853):  # sub-IFD: zero its table and out-of-line values
                _zero_ifd(buf, order, struct.unpack(order + "I", entry[8:12])[0])
            elif nbytes > 4:
                start = struct.unpack(order + "I", entry[8:12])[0]
                if start + nbytes <= len(buf):
                    buf[start:start + nbytes] = bytes(nbytes)
        table = struct.pack(order + "H", len(kept)) + b"".join(kept) + next_ifd
        buf[offset:table_end + 4] = table + bytes(table_end + 4 - offset - len(table))
        offset = struct.unpack(order + "I", next_ifd)[0]
    return bytes(buf), "imagemagick", fields


def _zero_ifd(buf: bytearray, order: str, offset: int) -> None:
    if offset + 2 > len(buf):
        return
    count = struct.unpack(order + "H", buf[offset:offset + 2])[0]
    end = offset + 2 + 12 * count + 4
    if end > len(buf):
        return
    for i in range(count):
        entry = buf[offset + 2 + 12 * i:offset + 14 + 12 * i]
        _, typ, n = struct.unpack(order + "HHI", entry[:8])
        nbytes = _TYPE_SIZES.get(typ, 1) * n
        if nbytes > 4:
            start = struct.unpack(order + "I", entry[8:12])[0]
            if start + nbytes <= len(buf):
                buf[start:start + nbytes] = bytes(nbytes)
    buf[offset:end] = bytes(end - offset)


# -- PDF ----------------------------------------------------------------------------------------------
def _pdf(data: bytes) -> tuple[bytes, str, list[str]]:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise StripFailed("pdf")
        fields: list[str] = []
        info = reader.trailer.get("/Info")
        if info is not None:
            info = info.get_object()
            for key in info.keys():
                _add(fields, str(key).lstrip("/"))
        if "/Metadata" in reader.trailer["/Root"]:
            _add(fields, "XMP")
        # Only what the pages reach is copied: the old Info dict and XMP stream are left behind.
        writer = PdfWriter()
        writer.append(reader)
        writer.metadata = None
        for page in writer.pages:
            for key in ("/Metadata", "/PieceInfo"):
                if NameObject(key) in page:
                    del page[NameObject(key)]
                    _add(fields, "XMP" if key == "/Metadata" else "PieceInfo")
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue(), "pdf_rewrite", fields
    except StripFailed:
        raise
    except Exception:  # noqa: BLE001 - broken PDFs raise anything
        raise StripFailed("pdf") from None


# -- Office Open XML ------------------------------------------------------------------------------------
_EMPTY_PARTS = {
    "docProps/core.xml": (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                          b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
                          b'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
                          b'xmlns:dcterms="http://purl.org/dc/terms/" '
                          b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'),
    "docProps/app.xml": (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                         b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                         b'extended-properties" xmlns:vt="http://schemas.openxmlformats.org/'
                         b'officeDocument/2006/docPropsVTypes"/>'),
    "docProps/custom.xml": (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                            b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                            b'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/'
                            b'officeDocument/2006/docPropsVTypes"/>'),
}


def _office(data: bytes) -> tuple[bytes, str, list[str]]:
    fields: list[str] = []
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        if sum(info.file_size for info in src.infolist()) > MAX_UNZIPPED:
            raise StripFailed("office")  # a zip bomb (zipfile never inflates past a declared size)
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename in _EMPTY_PARTS:
                root = ElementTree.fromstring(content)
                for child in root:
                    if (child.text or "").strip() or len(child):
                        name = child.get("name") if child.get("name") else child.tag.rsplit("}", 1)[-1]
                        _add(fields, name)
                content = _EMPTY_PARTS[info.filename]
            clean = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            clean.compress_type = info.compress_type
            clean.external_attr = info.external_attr
            dst.writestr(clean, content)
    return out.getvalue(), "office_docprops", fields
