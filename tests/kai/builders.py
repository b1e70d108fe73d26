"""Test documents built in code (no committed binaries): images with metadata, PDFs, Office files."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any
from xml.sax.saxutils import escape

from emulators.media.image import make_image

SECRET = "Max Mustermann"


# -- JPEG ---------------------------------------------------------------------------------------------
def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def tiff_exif_block(artist: str = SECRET) -> bytes:
    """A little-endian TIFF header with IFD0 {Make, Artist}: the body of an EXIF payload."""
    make = b"SecretCam\x00"
    art = artist.encode() + b"\x00"
    entries = 2
    data_off = 8 + 2 + 12 * entries + 4
    ifd = struct.pack("<H", entries)
    ifd += struct.pack("<HHII", 271, 2, len(make), data_off)
    ifd += struct.pack("<HHII", 315, 2, len(art), data_off + len(make))
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + make + art


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + SECRET.encode()
       + b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>")


def jpeg_with_metadata() -> bytes:
    plain = make_image(32, 24, fmt="jpeg")
    extra = (_segment(0xE1, b"Exif\x00\x00" + tiff_exif_block())
             + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
             + _segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"fake-icc-" + SECRET.encode())
             + _segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + SECRET.encode())
             + _segment(0xFE, b"Comment by " + SECRET.encode()))
    # after SOI + APP0 (JFIF, 18 bytes)
    return plain[:20] + extra + plain[20:]


# -- PNG ----------------------------------------------------------------------------------------------
def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_with_metadata() -> bytes:
    plain = make_image(16, 16, fmt="png")
    ihdr_end = 8 + 12 + 13
    extra = (png_chunk(b"tEXt", b"Author\x00" + SECRET.encode())
             + png_chunk(b"tIME", struct.pack(">HBBBBB", 2024, 5, 6, 7, 8, 9))
             + png_chunk(b"eXIf", tiff_exif_block())
             + png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)
             + png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(SECRET.encode())))
    return plain[:ihdr_end] + extra + plain[ihdr_end:]


# -- WebP ---------------------------------------------------------------------------------------------
def _riff_chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def webp_with_metadata() -> bytes:
    plain = make_image(16, 16, fmt="webp")
    assert plain[12:16] == b"VP8 "
    vp8 = plain[12:]
    flags = 0x08 | 0x04  # EXIF, XMP
    vp8x = _riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + (15).to_bytes(3, "little") + (15).to_bytes(3, "little"))
    body = b"WEBP" + vp8x + vp8 + _riff_chunk(b"EXIF", tiff_exif_block()) + _riff_chunk(b"XMP ", XMP)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- TIFF ---------------------------------------------------------------------------------------------
def tiff_with_metadata(width: int = 4, height: int = 2) -> bytes:
    """An uncompressed 8-bit grayscale little-endian TIFF with Make, Software, Artist, DateTime."""
    pixels = bytes(range(0, 256, 256 // (width * height)))[: width * height]
    strings = {271: b"SecretCam\x00", 305: b"SecretSoft 1.0\x00", 315: SECRET.encode() + b"\x00",
               306: b"2024:05:06 07:08:09\x00"}
    tags = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
            (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, height), (279, 4, 1, len(pixels))]
    tags += [(tag, 2, len(v), 0) for tag, v in strings.items()]
    tags.sort()
    ifd_off = 8
    data_off = ifd_off + 2 + 12 * len(tags) + 4
    blob = b""
    entries = b""
    pix_off = None
    for tag, typ, count, value in tags:
        if typ == 2:
            off = data_off + len(blob)
            blob += strings[tag]
            entries += struct.pack("<HHII", tag, typ, count, off)
        elif tag == 273:
            entries += struct.pack("<HHII", tag, typ, count, 0xDEADBEEF)
        elif typ == 3:
            entries += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            entries += struct.pack("<HHII", tag, typ, count, value)
    pix_off = data_off + len(blob)
    entries = entries.replace(struct.pack("<I", 0xDEADBEEF), struct.pack("<I", pix_off))
    return b"II*\x00" + struct.pack("<I", ifd_off) + struct.pack("<H", len(tags)) + entries + b"\0\0\0\0" + blob + pixels


# -- PDF ----------------------------------------------------------------------------------------------
def pdf(pages: list[str], author: str | None = SECRET, xmp: bool = True) -> bytes:
    """A text PDF (Helvetica, one line per page) with an Info dict and an XMP stream."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(300, 200)
        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                                 NameObject("/BaseFont"): NameObject("/Helvetica")})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): writer._add_object(font)})})
        lines = []
        for i, line in enumerate(text.split("\n")):
            safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            lines.append(f"BT /F1 10 Tf 10 {180 - 14 * i} Td ({safe}) Tj ET")
        content = DecodedStreamObject()
        content.set_data("\n".join(lines).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(content)
    if author:
        writer.add_metadata({"/Author": author, "/Title": "Secret report", "/Creator": "SecretSoft"})
    if xmp:
        stream = DecodedStreamObject()
        stream.set_data(XMP)
        stream[NameObject("/Type")] = NameObject("/Metadata")
        stream[NameObject("/Subtype")] = NameObject("/XML")
        writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- Office Open XML -------------------------------------------------------------------------------------
_CORE = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
         'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
         f'<dc:creator>{SECRET}</dc:creator><cp:lastModifiedBy>{SECRET}</cp:lastModifiedBy>'
         '<dcterms:created xsi:type="dcterms:W3CDTF">2024-01-02T03:04:05Z</dcterms:created>'
         '</cp:coreProperties>')
_APP = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        '<Application>Microsoft Office Word</Application><Company>Secret Company</Company></Properties>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{main}"/>'
         '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
         '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'
         '</Relationships>')
_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/></Types>')


def _zip(parts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 10)), text)
    return out.getvalue()


def docx(paragraphs: list[str]) -> bytes:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    return _zip({"[Content_Types].xml": _TYPES, "_rels/.rels": _RELS.format(main="word/document.xml"),
                 "word/document.xml": f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>',
                 "docProps/core.xml": _CORE, "docProps/app.xml": _APP})


def xlsx(rows: list[list[str]]) -> bytes:
    s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings: list[str] = []
    xml_rows = []
    for r, row in enumerate(rows, 1):
        cells = []
        for value in row:
            strings.append(value)
            cells.append(f'<c t="s"><v>{len(strings) - 1}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    sst = "".join(f"<si><t>{escape(v)}</t></si>" for v in strings)
    return _zip({"[Content_Types].xml": _TYPES, "_rels/.rels": _RELS.format(main="xl/workbook.xml"),
                 "xl/workbook.xml": f'<workbook xmlns="{s}"><sheets><sheet name="S" sheetId="1"/></sheets></workbook>',
                 "xl/sharedStrings.xml": f'<sst xmlns="{s}">{sst}</sst>',
                 "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{s}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>',
                 "docProps/core.xml": _CORE, "docProps/app.xml": _APP})


def pptx(slides: list[str]) -> bytes:
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    parts = {"[Content_Types].xml": _TYPES, "_rels/.rels": _RELS.format(main="ppt/presentation.xml"),
             "ppt/presentation.xml": '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
             "docProps/core.xml": _CORE, "docProps/app.xml": _APP}
    for i, text in enumerate(slides, 1):
        parts[f"ppt/slides/slide{i}.xml"] = (f'<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
                                             f'xmlns:a="{a}"><a:p><a:r><a:t>{escape(text)}</a:t></a:r></a:p></p:sld>')
    return _zip(parts)


# -- AVI ------------------------------------------------------------------------------------------------
def avi(with_audio: bool = True, seconds: float = 2.0) -> bytes:
    """An AVI (MJPEG video, optionally PCM audio) written with PyAV."""
    import array
    import math
    from fractions import Fraction

    import av

    buf = io.BytesIO()
    frames = int(seconds * 5)
    with av.open(buf, "w", format="avi") as out:
        video = out.add_stream("mjpeg", rate=5)
        video.width, video.height, video.pix_fmt = 64, 48, "yuvj420p"
        audio = out.add_stream("pcm_s16le", rate=16000) if with_audio else None
        if audio is not None:
            audio.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame(64, 48, "yuvj420p")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        if audio is not None:
            n = int(16000 * seconds)
            pcm = array.array("h", [int(8000 * math.sin(i / 10)) for i in range(n)]).tobytes()
            chunk = av.AudioFrame(format="s16", layout="mono", samples=n)
            chunk.planes[0].update(pcm)
            chunk.sample_rate, chunk.pts, chunk.time_base = 16000, 0, Fraction(1, 16000)
            for packet in [*audio.encode(chunk), *audio.encode(None)]:
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return buf.getvalue()


# -- Compound File Binary (legacy XLS) -----------------------------------------------------------------
def property_set(fmtid: bytes, props: dict[int, str]) -> bytes:
    """A property set stream with VT_LPSTR (code page 1252) string properties."""
    body = b""
    entries = []
    offset = 8 + 8 * (len(props) + 1)
    values = [(1, struct.pack("<HHh", 2, 0, 1252) + b"\x00\x00")]  # code page (VT_I2)
    values += [(pid, struct.pack("<HHI", 30, 0, len(v) + 1) + v.encode("cp1252") + b"\x00") for pid, v in props.items()]
    for pid, raw in values:
        raw += bytes(-len(raw) % 4)
        entries.append(struct.pack("<II", pid, offset + len(body)))
        body += raw
    section = struct.pack("<II", offset + len(body), len(values)) + b"".join(entries) + body
    header = struct.pack("<HHI16sI16sI", 0xFFFE, 0, 0x00020006, bytes(16), 1, fmtid, 48)
    return header + section


SUMMARY_FMTID = bytes.fromhex("e0859ff2f94f6810ab9108002b27b3d9")
DOCSUMMARY_FMTID = bytes.fromhex("02d5cdd59c2e1b10939708002b2cf9ae")


def xls(workbook: bytes | None = None) -> bytes:
    """A legacy Excel file: a 'Workbook' stream (regular sectors when >= 4096 bytes) and the two
    summary property sets (in the mini stream) with Author/Company metadata and entry times."""
    workbook = workbook or (b"\x09\x08\x10\x00" + bytes(range(256)) * 20)
    return cfb({
        "Workbook": workbook,
        "\x05SummaryInformation": property_set(SUMMARY_FMTID, {2: "Budget", 4: SECRET, 8: SECRET, 18: "Microsoft Excel"}),
        "\x05DocumentSummaryInformation": property_set(DOCSUMMARY_FMTID, {15: "Secret Company"}),
    })


def cfb(streams: dict[str, bytes]) -> bytes:
    """A Compound File Binary v3 (512-byte sectors; streams under 4096 bytes in the mini stream)."""
    sec = 512
    end, free, fatsect = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    small = {n: d for n, d in streams.items() if len(d) < 4096}
    mini_data, mini_start, minifat = b"", {}, []
    for name, data in small.items():
        n = -(-len(data) // 64)
        mini_start[name] = len(minifat)
        minifat += [len(minifat) + i + 1 for i in range(n - 1)] + [end]
        mini_data += data + bytes(n * 64 - len(data))
    names = ["Root Entry", *streams]
    dir_sectors = -(-len(names) // 4)
    minifat_sectors = -(-len(minifat) * 4 // sec)
    mini_sectors = -(-len(mini_data) // sec)
    big = {n: d for n, d in streams.items() if n not in small}
    big_sectors = {n: -(-len(d) // sec) for n, d in big.items()}
    layout = [("fat", 1), ("dir", dir_sectors), ("minifat", minifat_sectors), ("mini", mini_sectors),
              *[(n, c) for n, c in big_sectors.items()]]
    starts, fat, pos = {}, [], 0
    for name, count in layout:
        starts[name] = pos
        if name == "fat":
            fat.append(fatsect)
        else:
            fat += [pos + i + 1 for i in range(count - 1)] + [end]
        pos += count
    assert len(fat) <= 128
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, start: int, size: int, child: int = free, right: int = free) -> bytes:
        raw = name.encode("utf-16-le") + b"\x00\x00"
        when = struct.pack("<Q", 133_000_000_000_000_000)  # a FILETIME in 2022
        return (raw + bytes(64 - len(raw)) + struct.pack("<HBB", len(raw), kind, 1)
                + struct.pack("<III", free, right, child) + bytes(16) + bytes(4) + when + when
                + struct.pack("<IQ", start, size))

    ordered = sorted(streams, key=lambda n: (len(n), n.upper()))
    index = {n: i + 1 for i, n in enumerate(streams)}
    dirs = entry("Root Entry", 5, starts["mini"] if mini_data else end, len(mini_data), child=index[ordered[0]])
    for name, data in streams.items():
        k = ordered.index(name)
        right = index[ordered[k + 1]] if k + 1 < len(ordered) else free
        start = mini_start[name] if name in small else starts[name]
        dirs += entry(name, 2, start, len(data), right=right)
    dirs += bytes(dir_sectors * sec - len(dirs))
    header = (MAGIC_CFB + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
              + struct.pack("<IIIIIIIII", 0, 1, starts["dir"], 0, 4096,
                            starts["minifat"] if minifat else end, minifat_sectors, end, 0)
              + struct.pack("<I", starts["fat"]) + struct.pack("<I", free) * 108)
    body = struct.pack("<128I", *fat) + dirs
    minifat_raw = struct.pack(f"<{len(minifat)}I", *minifat)
    body += minifat_raw + struct.pack("<I", free) * ((minifat_sectors * sec - len(minifat_raw)) // 4)
    body += mini_data + bytes(mini_sectors * sec - len(mini_data))
    for name, data in big.items():
        body += data + bytes(big_sectors[name] * sec - len(data))
    return header + body


MAGIC_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# -- BIFF8 workbook and PowerPoint streams ----------------------------------------------------------------
def _rec(rtype: int, body: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(body)) + body


def biff_workbook(rows: list[list[str | float]], split_in: str | None = None) -> bytes:
    """BOF, SST (+ CONTINUE: `split_in` is cut in the middle of its characters, in UTF-16 after
    the cut), one worksheet of LABELSST/NUMBER cells, EOF."""
    strings = [v for row in rows for v in row if isinstance(v, str)]
    unique = list(dict.fromkeys(strings))
    sst_parts = [struct.pack("<II", len(strings), len(unique))]
    continue_body = b""
    for s in unique:
        if s == split_in:
            half = len(s) // 2
            sst_parts.append(struct.pack("<HB", len(s), 0) + s[:half].encode("latin-1"))
            continue_body = b"\x01" + s[half:].encode("utf-16-le")  # flags byte: high-byte chars
        elif continue_body:
            continue_body += struct.pack("<HB", len(s), 1) + s.encode("utf-16-le")
        else:
            sst_parts.append(struct.pack("<HB", len(s), 1) + s.encode("utf-16-le"))
    stream = _rec(0x0809, struct.pack("<HH", 0x0600, 0x0005) + bytes(12))
    stream += _rec(0x00FC, b"".join(sst_parts))
    if continue_body:
        stream += _rec(0x003C, continue_body)
    stream += _rec(0x000A, b"")
    stream += _rec(0x0809, struct.pack("<HH", 0x0600, 0x0010) + bytes(12))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str):
                stream += _rec(0x00FD, struct.pack("<HHHI", r, c, 15, unique.index(value)))
            else:
                stream += _rec(0x0203, struct.pack("<HHHd", r, c, 15, float(value)))
    return stream + _rec(0x000A, b"")


def ppt(slides: list[str]) -> bytes:
    """A legacy PowerPoint file: a document container with one slide container per text."""
    def container(rtype: int, body: bytes) -> bytes:
        return struct.pack("<HHI", 0x000F, rtype, len(body)) + body

    def atom(rtype: int, body: bytes) -> bytes:
        return struct.pack("<HHI", 0x0000, rtype, len(body)) + body

    inner = b""
    for i, text in enumerate(slides):
        text_atom = atom(0x0FA8, text.encode("latin-1")) if i % 2 else atom(0x0FA0, text.encode("utf-16-le"))
        inner += container(0x03EE, atom(0x03EF, bytes(24)) + text_atom)
    document = container(0x03E8, atom(0x03E9, bytes(40)) + inner)
    return cfb({"PowerPoint Document": document, "Current User": b"\x00" * 20,
                "\x05SummaryInformation": property_set(SUMMARY_FMTID, {4: SECRET})})


# -- images of text (what OCR reads) -------------------------------------------------------------------
def text_picture(lines: list[str], width: int = 900, size: int = 28) -> Any:
    """A white page with black text in Pillow's bundled font (ASCII: its glyph set)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    picture = Image.new("RGB", (width, 40 + len(lines) * (size * 2)), "white")
    draw = ImageDraw.Draw(picture)
    for i, line in enumerate(lines):
        draw.text((20, 20 + i * size * 2), line, fill="black", font=font)
    return picture


def text_image(lines: list[str], fmt: str = "png", pages: list[list[str]] | None = None) -> bytes:
    """PNG, JPEG, TIFF (several pages with `pages`) or an image-only PDF (a scan) of the lines."""
    pictures = [text_picture(lines)] + [text_picture(p) for p in pages or []]
    out = io.BytesIO()
    pil_format = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "pdf": "PDF"}[fmt]
    if len(pictures) > 1:
        pictures[0].save(out, pil_format, save_all=True, append_images=pictures[1:])
    else:
        pictures[0].save(out, pil_format)
    return out.getvalue()


def pdf_with_scan(text_page: str, scanned: list[str]) -> bytes:
    """Page 1 has a text layer, page 2 is only an image of text."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.append(io.BytesIO(pdf([text_page], author=None, xmp=False)))
    writer.append(io.BytesIO(text_image(scanned, "pdf")))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- audio re-encoded the way clients do it -----------------------------------------------------------
def reencode(data: bytes, container: str, codec: str, rate: int, layout: str = "mono",
             bit_rate: int | None = None, gain: float = 1.0) -> bytes:
    """Decodes `data` and encodes it again (another container, codec, rate, channel layout,
    bit rate, volume), as ffmpeg/pydub would for a client."""
    import av
    import numpy as np

    with av.open(io.BytesIO(data)) as source:
        stream = next(s for s in source.streams if s.type == "audio")
        source_rate = stream.codec_context.sample_rate
        mono = av.AudioResampler(format="flt", layout="mono", rate=source_rate)
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for frame in source.decode(stream)
                              for f in mono.resample(frame)])
    pcm = (np.clip(pcm * gain, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = source_rate
    out = io.BytesIO()
    with av.open(out, "w", format=container) as target:
        stream = target.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()
