"""Text extraction for documents/anonymize: TXT, CSV, JSON, DOCX, PPTX, XLSX and text PDFs.

Formats are recognised by content (magic bytes, the parts inside an Office zip); plain text
must decode as UTF-8 (a BOM is allowed) or UTF-16 with a BOM. Legacy XLS and PPT are read from
their compound file streams (ole.py). Images and PDFs without a text layer would need OCR,
which the emulator does not do: they raise NoText (the API's 400 text_extraction_failed), as do
legacy Word files.
"""
from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

from emulators.media.sniff import sniff

# broken uploads are expected here; pypdf would log every one of them
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
MAX_XML_PART = 64 * 1024 * 1024  # refuse zip bombs


class Unsupported(ValueError):
    """Not one of the accepted formats (400 invalid_request)."""


class NoText(ValueError):
    """An accepted format without extractable text (400 text_extraction_failed)."""


@dataclass
class Extracted:
    text: str
    method: str  # metadata.extraction_method
    page_count: int
    kind: str  # pdf, docx, pptx, xlsx, txt, csv, json, png, jpeg, tiff, doc


def kind_of(data: bytes, filename: str | None) -> str | None:
    """The document kind by content (the filename only tells CSV/JSON/TXT apart)."""
    head = data[:64]
    fmt = sniff(head) if len(head) >= 4 else None
    if fmt == "pdf":
        return "pdf"
    if fmt in ("png", "jpeg", "webp", "bmp"):
        return fmt
    if head[:4] in TIFF_MAGIC:
        return "tiff"
    if head[:8] == OLE_MAGIC:
        return "ole"  # legacy .doc/.xls/.ppt
    if fmt == "zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "ppt/presentation.xml" in names:
            return "pptx"
        return None
    if fmt is not None:
        return None  # audio, video, gif, ...
    text = decode_text(data)
    if text is None:
        return None
    name = (filename or "").lower()
    stripped = text.lstrip()
    if name.endswith(".json") or (stripped[:1] in ("{", "[") and is_json(text)):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    return "txt"


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def decode_text(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:4096]):
        return None
    return text


def extract(data: bytes, kind: str) -> Extracted:
    if kind in ("txt", "csv", "json"):
        text = decode_text(data) or ""
        if kind == "json":
            try:
                text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
            except ValueError:
                raise NoText("The JSON file could not be parsed.") from None
        return _nonempty(Extracted(text, "text", 1, kind))
    if kind == "pdf":
        return _nonempty(_pdf(data))
    if kind in ("docx", "pptx", "xlsx"):
        return _nonempty(_office(data, kind))
    if kind == "ole":
        return _nonempty(_legacy_office(data))
    raise NoText("No text could be extracted: the document has no text layer and OCR is not available.")


def _nonempty(doc: Extracted) -> Extracted:
    if not doc.text.strip():
        raise NoText("No text could be extracted from the document.")
    return doc


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise NoText("The PDF is encrypted.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except NoText:
        raise
    except Exception:  # noqa: BLE001 - broken PDFs raise anything
        raise NoText("The PDF could not be parsed.") from None
    return Extracted("\n\n".join(p.strip() for p in pages if p.strip()), "pdf_parser", len(pages), "pdf")


def _read_part(z: zipfile.ZipFile, name: str) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_XML_PART:
        raise NoText("The document is too large to parse.")
    return z.read(name)


def _office(data: bytes, kind: str) -> Extracted:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if kind == "docx":
                root = ElementTree.fromstring(_read_part(z, "word/document.xml"))
                paras = ["".join(t.text or "" for t in p.iter(f"{_W}t")) for p in root.iter(f"{_W}p")]
                pages = 1 + sum(1 for br in root.iter(f"{_W}br") if br.get(f"{_W}type") == "page")
                return Extracted("\n".join(paras).strip(), "docx_parser", pages, kind)
            if kind == "pptx":
                slides = sorted((n for n in z.namelist() if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                                key=lambda n: int(re.findall(r"\d+", n)[-1]))
                texts = []
                for name in slides:
                    root = ElementTree.fromstring(_read_part(z, name))
                    texts.append("\n".join("".join(t.text or "" for t in p.iter(f"{_A}t"))
                                           for p in root.iter(f"{_A}p")).strip())
                return Extracted("\n\n".join(t for t in texts if t), "pptx_parser", len(slides), kind)
            shared: list[str] = []
            if "xl/sharedStrings.xml" in z.namelist():
                root = ElementTree.fromstring(_read_part(z, "xl/sharedStrings.xml"))
                shared = ["".join(t.text or "" for t in si.iter(f"{_S}t")) for si in root.iter(f"{_S}si")]
            sheets = sorted(n for n in z.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
            rows_out = []
            for name in sheets:
                root = ElementTree.fromstring(_read_part(z, name))
                for row in root.iter(f"{_S}row"):
                    cells = []
                    for c in row.iter(f"{_S}c"):
                        v = c.find(f"{_S}v")
                        if c.get("t") == "s" and v is not None and (v.text or "").isdigit():
                            idx = int(v.text or 0)
                            cells.append(shared[idx] if idx < len(shared) else "")
                        elif c.get("t") == "inlineStr":
                            cells.append("".join(t.text or "" for t in c.iter(f"{_S}t")))
                        elif v is not None and v.text:
                            cells.append(v.text)
                    if cells:
                        rows_out.append("\t".join(cells))
            return Extracted("\n".join(rows_out), "xlsx_parser", len(sheets), kind)
    except NoText:
        raise
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, ValueError, OSError, RuntimeError):
        raise NoText("The document could not be parsed.") from None


def _legacy_office(data: bytes) -> Extracted:
    """XLS (BIFF8 shared strings, labels, numbers) and PPT (text atoms); DOC is not read."""
    from emulators.providers.kai import ole

    try:
        streams = ole.read_streams(data)
        if "Workbook" in streams or "Book" in streams:
            text, sheets = ole.xls_text(streams.get("Workbook") or streams["Book"])
            return Extracted(text, "xls_parser", sheets, "xls")
        if "PowerPoint Document" in streams:
            text, slides = ole.ppt_text(streams["PowerPoint Document"])
            return Extracted(text, "ppt_parser", slides, "ppt")
    except (ole.OleError, ValueError, IndexError, KeyError):
        raise NoText("The document could not be parsed.") from None
    raise NoText("No text could be extracted from this legacy Office document.")
